import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildConfig } from '../../src/config/load.ts';
import { createRegistry, type Registry } from '../../src/registry.ts';
import type { DriverParams } from '../../src/storage/driver.ts';
import { describe } from '../helpers/assertions.ts';
import { send } from '../helpers/oci-client.ts';

type Hooks = { after: (fn: () => Promise<void>) => void };

export interface MetricsRegistry {
  readonly url: string;
  /** The debug server's http://host:port (http.debug.addr 127.0.0.1:0). */
  readonly debugUrl: string;
  readonly root: string;
  readonly registry: Registry;
}

export interface MetricsStartOptions {
  /** http.debug.prometheus.enabled (default true). */
  readonly prometheus?: boolean;
  /** The `health:` section as in config.yml. */
  readonly health?: Record<string, unknown>;
  /** Extra `http.debug` keys (prometheus.path...). */
  readonly debug?: Record<string, unknown>;
  readonly driverParams?: DriverParams;
  readonly maintenance?: Record<string, unknown>;
}

/**
 * A real Quayside on port 0 with its debug server on another port 0, a temp root (or the
 * driver given) and the real worker pool; torn down when the test ends.
 */
export async function startMetricsRegistry(t: Hooks, options: MetricsStartOptions = {}): Promise<MetricsRegistry> {
  const root = await mkdtemp(join(tmpdir(), 'quayside-metrics-'));
  const removeRoot = (): Promise<void> => rm(root, { recursive: true, force: true });
  const prometheus = { enabled: options.prometheus ?? true, ...((options.debug?.['prometheus'] as Record<string, unknown> | undefined) ?? {}) };
  const config = buildConfig({
    log: { level: process.env['QUAYSIDE_TEST_LOG'] ?? 'silent' },
    http: { addr: '127.0.0.1:0', debug: { addr: '127.0.0.1:0', ...options.debug, prometheus } },
    storage: { filesystem: { rootdirectory: root }, delete: { enabled: true }, maintenance: options.maintenance ?? {} },
    ...(options.health ? { health: options.health } : {}),
  }, {});
  const registry = await createRegistry(config, { workers: 1, ...(options.driverParams ? { driverParams: options.driverParams } : {}) }).catch(async (err: unknown) => {
    await removeRoot();
    throw err;
  });
  // Closed before the root goes (after hooks run in order): a health check still writing would race the rm.
  t.after(async () => {
    await registry.close(1000);
    await removeRoot();
  });
  assert.ok(registry.debugUrl, 'the registry has a debug server');
  return { url: registry.url, debugUrl: registry.debugUrl, root, registry };
}

/** One scrape of /metrics: series by `name{label="v",...}` with labels sorted, as text and parsed. */
export interface Scrape {
  readonly text: string;
  /** The value of the series; undefined when absent. Labels are matched exactly. */
  value(name: string, labels?: Readonly<Record<string, string>>): number | undefined;
  /** Sum of every series of `name` whose labels include `labels`. */
  sum(name: string, labels?: Readonly<Record<string, string>>): number;
}

export async function scrape(debugUrl: string, path = '/metrics'): Promise<Scrape> {
  const reply = await send(debugUrl, path);
  assert.equal(reply.status, 200, describe(reply));
  assert.match(reply.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseExposition(reply.body.toString('utf8'));
}

export function parseExposition(text: string): Scrape {
  const series: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1] as string] = pair[2] as string;
    series.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  const includes = (have: Record<string, string>, want: Readonly<Record<string, string>>): boolean => Object.entries(want).every(([k, v]) => have[k] === v);
  return {
    text,
    value: (name, labels = {}) =>
      series.find((s) => s.name === name && Object.keys(s.labels).length === Object.keys(labels).length && includes(s.labels, labels))?.value,
    sum: (name, labels = {}) => series.filter((s) => s.name === name && includes(s.labels, labels)).reduce((total, s) => total + s.value, 0),
  };
}

/**
 * Polls `probe` until it returns a value `accept` takes, for up to `deadlineMs` (generous: the
 * machine is shared). Fails with the last value seen.
 */
export async function waitFor<T>(what: string, probe: () => Promise<T>, accept: (value: T) => boolean, deadlineMs = 30_000): Promise<T> {
  const until = Date.now() + deadlineMs;
  let last: T = await probe();
  while (!accept(last)) {
    if (Date.now() > until) assert.fail(`${what}: not reached within ${deadlineMs} ms; last: ${typeof last === 'string' ? last : JSON.stringify(last)}`);
    await sleep(50);
    last = await probe();
  }
  return last;
}
