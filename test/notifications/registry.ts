import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig } from '../../src/config/load.ts';
import { createRegistry, type Registry } from '../../src/registry.ts';
import type { DriverParams } from '../../src/storage/driver.ts';

type Hooks = { after: (fn: () => Promise<void> | void) => void };

export interface NotifyingRegistry {
  readonly url: string;
  readonly root: string;
  readonly registry: Registry;
}

export interface NotifyOptions {
  /** notifications.endpoints as in config.yml. */
  readonly endpoints: readonly Record<string, unknown>[];
  /** notifications.events. */
  readonly events?: Record<string, unknown>;
  /** quayside.notifications. */
  readonly queue?: Record<string, unknown>;
  /** Serve an existing root (a restart). */
  readonly root?: string;
  readonly auth?: Record<string, unknown>;
  readonly driverParams?: DriverParams;
}

/** A real Quayside on port 0 with notifications configured, the real pool, a temp root. */
export async function startNotifyingRegistry(t: Hooks, options: NotifyOptions): Promise<NotifyingRegistry> {
  const root = options.root ?? (await mkdtemp(join(tmpdir(), 'quayside-notify-')));
  // node:test runs after() hooks in the order they were added: the root goes once the registry has closed (its last cursor writes).
  const closers: (() => Promise<void>)[] = [];
  t.after(async () => {
    for (const close of closers) await close();
    if (!options.root) await rm(root, { recursive: true, force: true });
  });
  const config = buildConfig({
    log: { level: process.env['QUAYSIDE_TEST_LOG'] ?? 'silent' },
    http: { addr: '127.0.0.1:0' },
    storage: { filesystem: { rootdirectory: root }, delete: { enabled: true } },
    notifications: { endpoints: options.endpoints, ...(options.events ? { events: options.events } : {}) },
    quayside: { notifications: { instanceid: 'test-instance', ...options.queue } },
    ...(options.auth ? { auth: options.auth } : {}),
  });
  const registry = await createRegistry(config, { workers: 1, ...(options.driverParams ? { driverParams: options.driverParams } : {}) });
  closers.push(() => registry.close(1000));
  return { url: registry.url, root, registry };
}

/** One endpoint entry with short retry settings, so a test waits little for a recovered receiver. */
export function endpoint(name: string, url: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, url, timeout: '5s', threshold: 3, backoff: '100ms', ...extra };
}
