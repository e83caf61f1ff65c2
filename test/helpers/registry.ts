import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { buildConfig } from '../../src/config/load.ts';
import { createRegistry, type Registry, type RegistryOptions } from '../../src/registry.ts';

export interface TestRegistry {
  readonly url: string;
  /** Storage root (a fresh temp directory). */
  readonly root: string;
  readonly registry: Registry;
}

export interface StartOptions extends RegistryOptions {
  /** Serve an existing root instead of a fresh one (restart tests, side-by-side). */
  readonly root?: string;
  readonly deleteEnabled?: boolean;
  /** Extra `storage.maintenance` settings, as in config.yml (e.g. { readonly: { enabled: true } }). */
  readonly maintenance?: Record<string, unknown>;
  /** Top-level config sections as in config.yml (`auth`, `http.tls`...), merged over the test defaults. */
  readonly config?: { readonly auth?: Record<string, unknown>; readonly tls?: Record<string, unknown>; readonly limits?: Record<string, unknown>; readonly redirect?: { readonly disable: boolean }; readonly proxy?: Record<string, unknown> };
}

/** `QUAYSIDE_HASH_ENGINE=wasm npm test` runs every registry test on the portable engine. */
function pickEnv(name: string): NodeJS.ProcessEnv {
  const value = process.env[name];
  return value === undefined ? {} : { [name]: value };
}

/**
 * `QUAYSIDE_TEST_STORAGE=inmemory node scripts/run-tests.mjs test/api` runs the registry tests on
 * the inmemory driver (test/library/inmemory-matrix.test.ts runs test/api so). A test that names
 * its root or its driver keeps them; `root` is then an empty directory nothing is written to.
 */
function inMemoryMatrix(options: StartOptions): RegistryOptions {
  if (process.env['QUAYSIDE_TEST_STORAGE'] !== 'inmemory' || options.root !== undefined || options.driverParams !== undefined) return {};
  return { driverParams: { inmemory: {} } };
}

type Hooks = Pick<TestContext, 'after'> | { after: (fn: () => Promise<void>) => void };

/**
 * A real Quayside on 127.0.0.1:0 with a temp storage root and the real worker pool. Teardown is
 * registered on `t` the moment each resource exists (STYLE habit 9).
 */
export async function startRegistry(t: Hooks, options: StartOptions = {}): Promise<TestRegistry> {
  const root = options.root ?? (await mkdtemp(join(tmpdir(), 'quayside-test-')));
  if (!options.root) t.after(() => rm(root, { recursive: true, force: true }));
  const config = buildConfig({
    log: { level: process.env['QUAYSIDE_TEST_LOG'] ?? 'silent' },
    http: { addr: '127.0.0.1:0', ...(options.config?.tls ? { tls: options.config.tls } : {}) },
    ...(options.config?.auth ? { auth: options.config.auth } : {}),
    ...(options.config?.limits ? { quayside: { limits: options.config.limits } } : {}),
    ...(options.config?.proxy ? { proxy: options.config.proxy } : {}),
    storage: { filesystem: { rootdirectory: root }, delete: { enabled: options.deleteEnabled ?? true }, maintenance: options.maintenance ?? {}, ...(options.config?.redirect ? { redirect: options.config.redirect } : {}) },
  }, pickEnv('QUAYSIDE_HASH_ENGINE'));
  const registry = await createRegistry(config, { workers: 2, ...inMemoryMatrix(options), ...options });
  t.after(() => registry.close(1000));
  return { url: registry.url, root, registry };
}
