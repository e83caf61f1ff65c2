import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import type { Config } from './config/schema.ts';
import { parseAddr } from './config/load.ts';
import { describeStorage, driverParamsOf } from './config/driver-params.ts';
import { createHttpServer } from './http/server.ts';
import type { Services } from './services.ts';
import { createLogger, type Logger } from './log.ts';
import { createRouter } from './routing/router.ts';
import { BlobStore } from './storage/blob-store.ts';
import type { DriverParams } from './storage/driver.ts';
import { Catalog } from './storage/catalog.ts';
import { LINK_TTL_MS } from './storage/link-cache.ts';
import { openDriver, StorageOpenError, type OpenedDriver } from './storage/factory.ts';
import { ManifestStore } from './storage/manifest-store.ts';
import { defaultPipelineOptions, type PipelineOptions } from './uploads/pipeline.ts';
import type { UploadBackend } from './uploads/backend.ts';
import { FilesystemUploads } from './uploads/filesystem-uploads.ts';
import type { ChunkPool } from './workers/pool.ts';
import type { Sha256Engine } from './digest/engine.ts';
import { lockWaitsWithin, UploadLocks } from './uploads/upload-lock.ts';
import { BatchBuffers } from './uploads/batch-buffers.ts';
import { createChunkPool } from './workers/pool.ts';
import { selectEngine } from './digest/select-engine.ts';
import { schedulePurging } from './uploads/purge.ts';
import { createAuthenticator } from './auth/create.ts';
import { UploadGate } from './uploads/upload-gate.ts';
import { recoverAsideBlobs } from './gc/aside.ts';
import type { Notifications, NotificationStats } from './notifications/notifications.ts';
import type { StorageDriver } from './storage/driver.ts';
import type { RegistryMetrics } from './metrics/metrics.ts';
import { Readiness } from './metrics/probes.ts';
import { StorageDriverCheck } from './metrics/health.ts';
import type { PullThroughCache } from './proxy/pull-through.ts';
import { RunCounts } from './metrics/runs.ts';
import type { GcOptions, GcReport } from './gc/garbage-collect.ts';

/** Batch buffers out at once before uploads wait to fill their next (uploads/batch-buffers.ts): 32 MiB at 4 MiB batches. */
const BATCH_BUFFERS = 8;

export interface Registry {
  /** http://host:port of the listening server. */
  readonly url: string;
  readonly port: number;
  /** Webhook figures (per endpoint pending and failures, queue size, dropped) when notifications are on. */
  readonly notifications?: NotificationStats;
  /** http://host:port of the debug server (http.debug.addr), when configured. */
  readonly debugUrl?: string;
  /** The metrics (http.debug.prometheus.enabled), e.g. for the lead to wire notifications: metrics.watchNotifications(...). */
  readonly metrics?: RegistryMetrics;
  /** Stop accepting, let in-flight requests finish (up to `graceMs`), close the pool. */
  close(graceMs?: number): Promise<void>;
  /** gc/garbage-collect.ts on this registry's storage while it serves, counted in this registry's metrics only. */
  garbageCollect(options: GcOptions): Promise<GcReport>;
}

export interface RegistryOptions {
  readonly logger?: Logger;
  readonly workers?: number;
  readonly pipeline?: Partial<PipelineOptions>;
  /** Storage instead of the config's (tests, embedding). */
  readonly driverParams?: DriverParams;
  /** Called with the services before the server listens: the library API attaches its events there (src/library/hooks.ts). */
  readonly hooks?: (services: Services) => void;
}

/** The composition root: wires driver, stores, worker pool, router and server, then listens. */
export async function createRegistry(config: Config, options: RegistryOptions = {}): Promise<Registry> {
  // libuv's pool size (UV_THREADPOOL_SIZE) is set by bin/quayside.cjs: here it would be too late.
  const log = options.logger ?? createLogger(config.log.level);
  const driverParams: DriverParams = options.driverParams ?? driverParamsOf(config);
  const opened = await openDriver(driverParams).catch((err: unknown) => {
    throw new StorageOpenError(`cannot open storage (${describeStorage(driverParams)}): ${(err as Error).message}`, { cause: err });
  });
  // Metrics exist only with http.debug.addr and prometheus.enabled: otherwise nothing on the request
  // path or the driver is instrumented (src/metrics). Sources are read at scrape time only.
  // Metrics, notifications, the pull-through cache and the debug server are loaded only when
  // configured: `serve` starts faster and smaller without their modules (prom-client alone is
  // ~170 KiB of code; bench/startup/start-footprint.ts).
  const debug = config.http.debug;
  // This registry's GC and purge runs: its own, never a neighbour's in the same process (issue 12).
  const runs = new RunCounts();
  const metrics = debug.addr !== undefined && debug.prometheus.enabled
    ? new (await import('./metrics/metrics.ts')).RegistryMetrics({
        driverName: opened.driver.name,
        hashEngine: () => engine.name,
        pool: () => pool.stats(),
        uploadsInFlight: () => services.uploadGate.inFlight,
        caches: () => ({ ...services.blobs.cacheCounts(), ...services.manifests.cacheCounts() }),
        runs,
      })
    : undefined;
  const driver = metrics ? metrics.instrument(opened.driver) : opened.driver;
  const readiness = new Readiness();
  // Blobs a garbage collection left aside when it died are invisible until put back (gc/aside.ts; O(1) when none).
  // A failure here (read-only storage, say) must not keep the registry from serving what it
  // has: the next garbage-collect run puts the blobs back as well.
  await recoverAsideBlobs(driver).then(
    (restored) => restored > 0 && log.warn({ restored }, 'put back blobs an interrupted garbage collection left aside'),
    (err: unknown) => log.error({ err }, 'could not put back blobs an interrupted garbage collection left aside; the next garbage-collect run will'),
  );
  const { engine, fallbackReason } = await selectEngine(config.quayside.hashengine);
  if (fallbackReason !== undefined) log.warn({ reason: fallbackReason }, 'native SHA-256 engine unavailable; using hash-wasm');
  const pool = createChunkPool(driverParams, engine.name, options.workers ?? (config.quayside.workers || undefined), (err) => log.error({ err }, 'chunk worker pool error'));
  const locks = new UploadLocks(lockWaitsWithin(config.quayside.limits.idletimeout));
  const pipeline = { ...defaultPipelineOptions, maxUploadSize: config.quayside.limits.uploadsize, ...options.pipeline };
  // Presigned redirects for blob GET/HEAD where the store gives URLs (s3), unless storage.redirect.disable.
  const blobs = new BlobStore(driver, opened.kind === 's3' && !config.storage.redirect.disable);
  const buffers = new BatchBuffers(pipeline.batchSize, BATCH_BUFFERS);
  const uploads = await uploadBackendFor(opened, { engine, pool, locks, blobs, buffers, options: pipeline });
  const catalog = new Catalog(driver, LINK_TTL_MS);
  // Before listening: undelivered events a previous run left are reloaded and go out first.
  const notifications = config.notifications.endpoints.length > 0 ? await (await import('./notifications/notifications.ts')).Notifications.start(config, driver, log) : undefined;
  // Read at each scrape only: delivery does nothing per event for metrics' sake.
  if (metrics && notifications) {
    const live = notifications;
    metrics.watchNotifications(() => new Map(live.endpoints.map((endpoint) => [endpoint.name, { pending: () => endpoint.pending, failures: () => endpoint.failures }])));
  }
  const services: Services = {
    config,
    driver,
    blobs,
    catalog,
    manifests: new ManifestStore(driver, blobs, { maxReferences: config.quayside.limits.manifestreferences }),
    auth: await createAuthenticator(config, log),
    uploadGate: new UploadGate(config.quayside.limits.concurrentuploads),
    uploads,
    uploadLocks: locks,
    ...(notifications ? { notifications } : {}),
    requestMetrics: metrics?.requests,
    readiness,
    ...(config.proxy ? { proxy: await startProxy(config.proxy, log, opened) } : {}),
  };
  options.hooks?.(services);
  const server = createHttpServer(createRouter(), services, log, config.http.tls, config.quayside.limits);
  const purging = config.storage.maintenance.uploadpurging;
  const stopPurging = purging.enabled && !config.storage.maintenance.readonly.enabled ? schedulePurging(driver, (ref) => uploads.discard(ref), purging, runs, log) : () => undefined;
  const healthChecks = startHealthChecks(config, driver, opened.driver.name, log);
  const debugServer = debug.addr === undefined ? undefined : await (await import('./metrics/debug-server.ts')).startDebugServer({ addr: debug.addr, metrics, metricsPath: debug.prometheus.path, checks: healthChecks, log }).catch(async (err: unknown) => {
    for (const check of healthChecks) check.stop();
    await pool.close();
    if (opened.kind === 's3') opened.driver.close();
    throw err;
  });
  const { host, port } = parseAddr(config.http.addr);
  server.listen(port, host);
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  log.info({ addr: `${shownHost}:${address.port}`, storage: describeStorage(driverParams), hashEngine: engine.name }, 'listening');

  let closing: Promise<void> | undefined;
  const close = async (graceMs = 10_000): Promise<void> => {
    // /readyz answers 503 from now on; /livez and the debug server answer until the end.
    readiness.shuttingDown();
    for (const check of healthChecks) check.stop();
    stopPurging();
    server.close();
    server.closeIdleConnections();
    const forced = setTimeout(() => server.closeAllConnections(), graceMs);
    await once(server, 'close').catch(() => undefined);
    clearTimeout(forced);
    await services.proxy?.close();
    await locks.idle();
    await notifications?.close();
    await pool.close();
    await debugServer?.close();
    if (opened.kind === 's3') opened.driver.close();
    // inmemory: the memory goes now, even while a caller still holds this registry object.
    if (opened.kind === 'inmemory') opened.driver.clear();
  };
  return {
    url: `${config.http.tls ? 'https' : 'http'}://${shownHost}:${address.port}`,
    port: address.port,
    ...(notifications ? { notifications } : {}),
    ...(debugServer ? { debugUrl: debugServer.url } : {}),
    ...(metrics ? { metrics } : {}),
    close: (graceMs) => (closing ??= close(graceMs)),
    garbageCollect: async (gc) => {
      if (closing !== undefined) throw new Error('garbageCollect: the registry is closed');
      // Loaded at the first run: a registry that is never collected does not load the GC.
      return runs.countGc((await import('./gc/garbage-collect.ts')).garbageCollect(driver, gc), gc.dryRun);
    },
  };
}

/** The pull-through cache (config `proxy`), loaded only when configured. */
async function startProxy(settings: NonNullable<Config['proxy']>, log: Logger, opened: OpenedDriver): Promise<PullThroughCache> {
  const { PullThroughCache } = await import('./proxy/pull-through.ts');
  return new PullThroughCache(settings, log, opened);
}

/** health.storagedriver: the periodic write and read-back of metrics/health.ts, started now. */
function startHealthChecks(config: Config, driver: StorageDriver, driverName: string, log: Logger): StorageDriverCheck[] {
  const settings = config.health.storagedriver;
  if (!settings.enabled) return [];
  const check = new StorageDriverCheck(driver, driverName, { interval: settings.interval, threshold: settings.threshold, readOnly: config.storage.maintenance.readonly.enabled }, log);
  check.start();
  return [check];
}

interface UploadParts {
  readonly engine: Sha256Engine;
  readonly pool: ChunkPool;
  readonly locks: UploadLocks;
  readonly blobs: BlobStore;
  readonly buffers: BatchBuffers;
  readonly options: PipelineOptions;
}

/** The upload path of the storage opened (uploads/backend.ts); S3's is loaded only when used. */
async function uploadBackendFor(opened: OpenedDriver, parts: UploadParts): Promise<UploadBackend> {
  if (opened.kind === 'filesystem') return new FilesystemUploads({ ...parts, driver: opened.driver });
  if (opened.kind === 'inmemory') {
    const { InMemoryUploads } = await import('./uploads/inmemory-uploads.ts');
    return new InMemoryUploads({ ...parts, driver: opened.driver });
  }
  const { S3Uploads } = await import('./uploads/s3-uploads.ts');
  return new S3Uploads({ ...parts, driver: opened.driver, ...(opened.driver.chunksize === undefined ? {} : { chunksize: opened.driver.chunksize }) });
}
