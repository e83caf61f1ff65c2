import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig, readConfigTree, type Tree } from './config/load.ts';
import { describeStorage, driverParamsOf } from './config/driver-params.ts';
import type { LogLevel } from './config/schema.ts';
import type { GcReport } from './gc/garbage-collect.ts';
import { attachEvents, type RegistryEventMap } from './library/hooks.ts';
import { createRegistry as startRegistry } from './registry.ts';

/**
 * Quayside as a library (issue 12): `import { createRegistry } from 'quayside'`. One call starts a
 * whole registry in this process (its own storage, worker pool, server, timers) and close() frees
 * all of it; several registries in one process share nothing. The internal composition root is
 * registry.ts; this is the stable, documented surface over it (README "Library API").
 */
export type { BlobEvent, ManifestEvent, RegistryEventMap, RequestEvent } from './library/hooks.ts';
export type { LogLevel } from './config/schema.ts';
export type { GcReport } from './gc/garbage-collect.ts';
export { ConfigError } from './config/load.ts';

/** `quayside garbage-collect`'s flags, for Registry.garbageCollect. */
export interface GarbageCollectOptions {
  /** Report only (--dry-run). Default false. */
  readonly dryRun?: boolean;
  /** Also manifests no tag, index or kept subject reaches (--delete-untagged). Default false. */
  readonly deleteUntagged?: boolean;
  /** Anything written more recently stays (--grace), in ms. Default 1 h, as the command's. */
  readonly graceMs?: number;
}

/** distribution's s3 driver keys (storage.s3 in config.yml); region and bucket are required. */
export interface S3StorageOptions {
  readonly region: string;
  readonly bucket: string;
  readonly regionendpoint?: string;
  readonly forcepathstyle?: boolean;
  readonly accesskey?: string;
  readonly secretkey?: string;
  readonly rootdirectory?: string;
  readonly chunksize?: number;
  readonly secure?: boolean;
  readonly skipverify?: boolean;
}

/**
 * Where the registry keeps its content:
 * - `'inmemory'` (the default): distribution's inmemory driver, nothing on disk, freed on close();
 * - `'tempdir'`: the filesystem driver on a fresh directory under os.tmpdir(), removed on close();
 * - `{ filesystem: { rootdirectory } }`: a directory of yours, kept;
 * - `{ s3: {...} }`: an S3 bucket (or Ceph RGW, MinIO), kept.
 */
export type StorageOption = 'inmemory' | 'tempdir' | { readonly filesystem: { readonly rootdirectory: string } } | { readonly s3: S3StorageOptions };

export interface RegistryOptions {
  /** Default 'inmemory'; over `config`'s storage driver when given (its delete/maintenance settings stay). */
  readonly storage?: StorageOption;
  /**
   * A config.yml path, or the same tree as an object: every key of `quayside serve`'s config
   * (src/config/schema.ts). The options here override it.
   */
  readonly config?: string | Readonly<Record<string, unknown>>;
  /** Default 127.0.0.1, unless the config sets http.addr. */
  readonly host?: string;
  /** Default 0 (the system picks; read `port` or `url`), unless the config sets http.addr. */
  readonly port?: number;
  /** HTTP Basic against an htpasswd file of bcrypt entries (auth.htpasswd). */
  readonly auth?: { readonly htpasswd: { readonly path: string; readonly realm?: string } };
  /** DELETE of blobs, manifests and tags (storage.delete.enabled); off by default, as in distribution. */
  readonly delete?: boolean;
  /** Default 'silent' (the config's log.level when it sets one): pino JSON lines on stdout otherwise. */
  readonly logLevel?: LogLevel;
  /** Chunk worker threads; default 1, enough for tests (quayside.workers when the config sets it). */
  readonly workers?: number;
  /**
   * REGISTRY_* overrides to apply, as `quayside serve` applies process.env. Default none: an
   * embedded registry is configured by its caller, not by whatever the host process's environment holds.
   */
  readonly env?: NodeJS.ProcessEnv;
}

export interface Registry extends EventEmitter<RegistryEventMap> {
  /** http://host:port (https with http.tls). */
  readonly url: string;
  readonly port: number;
  /** host:port, as an image reference starts (`${registry.host}/library/app:1`). */
  readonly host: string;
  /** The storage in a few words: "inmemory", "filesystem /tmp/quayside-...", "s3 bucket=...". */
  readonly storage: string;
  /** The storage root on disk ('tempdir' and filesystem storage); undefined otherwise. */
  readonly rootdirectory: string | undefined;
  /** http://host:port of the debug server (/metrics, /debug/health) when the config sets http.debug.addr. */
  readonly debugUrl: string | undefined;
  /**
   * Stops accepting, lets in-flight requests finish (up to `graceMs`, default 10 s), then frees
   * everything: sockets, worker threads, timers, in-memory content, a 'tempdir' root. Idempotent:
   * every call returns the same promise.
   */
  close(graceMs?: number): Promise<void>;
  /**
   * `quayside garbage-collect` on this registry's storage, while it serves (safe during pushes:
   * README "garbage-collect"). The way to collect an inmemory registry, which no other process sees.
   */
  garbageCollect(options?: GarbageCollectOptions): Promise<GcReport>;
}

/**
 * Starts a registry and resolves once it listens. Events (request, blob, manifest; see
 * RegistryEventMap) cost nothing until something listens to them.
 */
export async function createRegistry(options: RegistryOptions = {}): Promise<Registry> {
  const tree = typeof options.config === 'string' ? await readConfigTree(options.config) : structuredClone(options.config ?? {}) as Tree;
  const tempRoot = options.storage === 'tempdir' ? await mkdtemp(join(tmpdir(), 'quayside-')) : undefined;
  const removeTempRoot = async (): Promise<void> => {
    if (tempRoot !== undefined) await rm(tempRoot, { recursive: true, force: true });
  };
  try {
    const config = buildConfig(withOptions(tree, options, tempRoot), options.env ?? {});
    const emitter = new EventEmitter<RegistryEventMap>();
    const inner = await startRegistry(config, {
      workers: options.workers ?? (config.quayside.workers || 1),
      hooks: (services) => attachEvents(services, emitter),
    });
    const driver = driverParamsOf(config);
    const url = new URL(inner.url);
    let closing: Promise<void> | undefined;
    return Object.assign(emitter, {
      url: inner.url,
      port: inner.port,
      host: url.host,
      storage: describeStorage(driver),
      rootdirectory: driver.filesystem?.rootdirectory,
      debugUrl: inner.debugUrl,
      // The registry's own run: counted in its metrics (registry_gc_runs_total), no other registry's.
      garbageCollect: (gc: GarbageCollectOptions = {}): Promise<GcReport> =>
        inner.garbageCollect({ dryRun: gc.dryRun ?? false, deleteUntagged: gc.deleteUntagged ?? false, graceMs: gc.graceMs ?? 3_600_000 }),
      close: (graceMs?: number): Promise<void> =>
        (closing ??= inner.close(graceMs).finally(async () => {
          emitter.removeAllListeners();
          await removeTempRoot();
        })),
    });
  } catch (err) {
    await removeTempRoot();
    throw err;
  }
}

/** The config tree with the options written into it, as if config.yml said so. */
function withOptions(tree: Tree, options: RegistryOptions, tempRoot: string | undefined): Tree {
  const section = (parent: Tree, key: string): Tree => {
    const current = parent[key];
    if (typeof current === 'object' && current !== null && !Array.isArray(current)) return current as Tree;
    // `storage: filesystem` (a scalar naming the driver) becomes a section that says it.
    const fresh: Tree = typeof current === 'string' ? { [current]: {} } : {};
    parent[key] = fresh;
    return fresh;
  };
  const storage = section(tree, 'storage');
  const driver = storageOption(options.storage, tempRoot);
  const hasDriver = ['filesystem', 's3', 'inmemory'].some((name) => name in storage);
  if (driver !== undefined || !hasDriver) {
    for (const name of ['filesystem', 's3', 'inmemory']) delete storage[name];
    Object.assign(storage, driver ?? { inmemory: {} });
  }
  if (options.delete !== undefined) section(storage, 'delete')['enabled'] = options.delete;
  const http = section(tree, 'http');
  if (options.host !== undefined || options.port !== undefined || http['addr'] === undefined) {
    const host = options.host ?? '127.0.0.1';
    http['addr'] = `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${options.port ?? 0}`;
  }
  const log = section(tree, 'log');
  if (options.logLevel !== undefined || log['level'] === undefined) log['level'] = options.logLevel ?? 'silent';
  if (options.auth !== undefined) tree['auth'] = { htpasswd: { ...options.auth.htpasswd } };
  return tree;
}

function storageOption(storage: StorageOption | undefined, tempRoot: string | undefined): Tree | undefined {
  if (storage === undefined) return undefined;
  if (storage === 'inmemory') return { inmemory: {} };
  if (storage === 'tempdir') return { filesystem: { rootdirectory: tempRoot } };
  return structuredClone(storage) as Tree;
}
