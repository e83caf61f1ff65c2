import { collectDefaultMetrics, Counter, Gauge, Registry, Summary, type MetricObjectWithValues, type MetricValueWithName } from 'prom-client';
import type { CacheCounts } from '../storage/link-cache.ts';
import type { PiscinaHistogramSummary, PoolStats } from '../workers/pool.ts';
import { RequestMetrics } from './http-metrics.ts';
import { InstrumentedDriver, type StorageActionLabels } from './instrumented-driver.ts';
import { NOTIFICATION_METRICS, type NotificationSource } from './notifications.ts';
import type { RunCounts } from './runs.ts';
import { metricType, SeriesHistogram } from './series-histogram.ts';
import type { StorageDriver } from '../storage/driver.ts';

/**
 * Every metric Quayside exposes, in one prom-client Registry of its own (never the global one:
 * tests and embedders run several registries in a process). Names are under `registry_`, as
 * distribution's (metrics/prometheus.go NamespacePrefix), and distribution's own where it has the
 * same metric. Only the request and storage histograms do work per event (http-metrics.ts,
 * instrumented-driver.ts); everything else is read from counters the code keeps anyway, when
 * /metrics is scraped (prom-client `collect`). This object exists only when
 * `http.debug.prometheus.enabled`: with metrics off nothing here is built.
 */
export interface MetricSources {
  /** The storage driver's name (`filesystem`, `s3`), the `driver` label. */
  readonly driverName: string;
  /** The SHA-256 engine in use (`native`, `hash-wasm`). */
  readonly hashEngine: () => string;
  readonly pool: () => PoolStats;
  readonly uploadsInFlight: () => number;
  /** Lookups of each cache by name (storage/blob-store.ts, manifest-store.ts). */
  readonly caches: () => Readonly<Record<string, CacheCounts>>;
  /** This registry's garbage collection and purge runs (never another registry's in the same process). */
  readonly runs: RunCounts;
}

/** Storage actions: distribution's timer buckets (go-metrics defaultDurationBuckets) with finer ones for local disks. */
const STORAGE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60];

/**
 * The process's own metrics, once per process however many registries it runs (the library API):
 * prom-client's collectors never stop (a GC PerformanceObserver, an event-loop delay monitor), so
 * one set per registry kept every closed registry's metrics alive and observed each GC once per
 * registry ever started. They describe the process, not a registry, so every scrape shares them.
 */
let processRegistry: Registry | undefined;

function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export class RegistryMetrics {
  readonly registry = new Registry();
  readonly requests: RequestMetrics;
  readonly #storage: SeriesHistogram<StorageActionLabels>;
  #notifications: NotificationSource | undefined;

  constructor(sources: MetricSources) {
    const registry = this.registry;
    this.requests = new RequestMetrics(registry);
    this.#storage = new SeriesHistogram('registry_storage_action_seconds', 'The number of seconds that the storage action takes', ['driver', 'action'], STORAGE_BUCKETS);
    registry.registerMetric(this.#storage);
    const register = { registers: [registry] };

    new Gauge({
      ...register,
      name: 'registry_hash_engine_info',
      help: 'The SHA-256 engine uploads are hashed with (1 for the engine in use).',
      labelNames: ['engine'],
      collect() {
        this.reset();
        this.set({ engine: sources.hashEngine() }, 1);
      },
    });
    new Gauge({
      ...register,
      name: 'registry_uploads_in_flight',
      help: 'Requests writing upload bytes now (PATCH, PUT with a body); quayside.limits.concurrentuploads caps them.',
      collect() {
        this.set(sources.uploadsInFlight());
      },
    });
    this.#workerMetrics(sources.pool);
    this.#cacheMetrics(sources.caches);
    this.#runMetrics(sources.runs);
    this.#notificationMetrics();
  }

  /** The driver the stores should use: `driver` with every action timed (instrumented-driver.ts). */
  instrument(driver: StorageDriver): StorageDriver {
    return new InstrumentedDriver(driver, this.#storage);
  }

  /** Where notification queue depth and failures come from, once notifications exist (see notifications.ts). */
  watchNotifications(source: NotificationSource): void {
    this.#notifications = source;
  }

  /** The exposition text and its content type, for GET /metrics. */
  async scrape(): Promise<{ body: string; contentType: string }> {
    // process_* and nodejs_* (CPU, memory, event loop lag, GC pauses), as distribution serves go_* and process_*.
    const [own, ofProcess] = await Promise.all([this.registry.metrics(), processMetrics().metrics()]);
    return { body: `${own}${ofProcess}`, contentType: this.registry.contentType };
  }

  #workerMetrics(pool: () => PoolStats): void {
    const register = { registers: [this.registry] };
    new Gauge({
      ...register,
      name: 'registry_worker_queue_depth',
      help: 'Chunk tasks (append, hash) waiting for a worker thread.',
      collect() {
        this.set(pool().queueSize);
      },
    });
    new Gauge({
      ...register,
      name: 'registry_worker_threads',
      help: 'Worker threads in the chunk pool.',
      collect() {
        this.set(pool().threads);
      },
    });
    new Gauge({
      ...register,
      name: 'registry_worker_utilization_ratio',
      help: "Share of the pool's capacity spent running tasks since it started (piscina's utilization).",
      collect() {
        this.set(pool().utilization);
      },
    });
    this.registry.registerMetric(new PoolTimeSummary('registry_worker_task_seconds', 'Time a chunk task ran on a worker thread, since start (piscina runTime).', () => {
      const stats = pool();
      return { summary: stats.runTime, count: stats.completed };
    }));
    this.registry.registerMetric(new PoolTimeSummary('registry_worker_task_wait_seconds', 'Time a chunk task waited in the queue for a worker, since start (piscina waitTime).', () => {
      const stats = pool();
      return { summary: stats.waitTime, count: stats.completed };
    }));
  }

  #cacheMetrics(caches: () => Readonly<Record<string, CacheCounts>>): void {
    const register = { registers: [this.registry] };
    // distribution has registry_storage_cache_hits_total (its blob descriptor cache); ours are named per cache.
    for (const [name, pick] of [
      ['registry_storage_cache_hits_total', (c: CacheCounts) => c.hits],
      ['registry_storage_cache_misses_total', (c: CacheCounts) => c.misses],
    ] as const) {
      new Counter({
        ...register,
        name,
        help: `Cache lookups that ${name.includes('hits') ? 'found' : 'did not find'} their entry, per cache (links, tags, manifests, small blobs).`,
        labelNames: ['cache'],
        collect() {
          this.reset();
          for (const [cache, counts] of Object.entries(caches())) this.inc({ cache }, pick(counts));
        },
      });
    }
  }

  #runMetrics({ gc, purge }: RunCounts): void {
    const register = { registers: [this.registry] };
    const counter = (name: string, help: string, read: () => number): void => {
      new Counter({
        ...register,
        name,
        help,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    };
    const byResult = (name: string, help: string, runs: { ok: number; failed: number }): void => {
      new Counter({
        ...register,
        name,
        help,
        labelNames: ['result'],
        collect() {
          this.reset();
          this.inc({ result: 'ok' }, runs.ok);
          this.inc({ result: 'failed' }, runs.failed);
        },
      });
    };
    byResult('registry_gc_runs_total', 'Garbage collections run in this process, by result (dry runs included).', gc);
    counter('registry_gc_deleted_blobs_total', 'Blobs garbage collection deleted in this process.', () => gc.blobsDeleted);
    counter('registry_gc_deleted_manifests_total', 'Manifests garbage collection deleted in this process (--delete-untagged).', () => gc.manifestsDeleted);
    byResult('registry_purge_runs_total', 'Runs of the stale upload purge (storage.maintenance.uploadpurging), by result.', purge);
    counter('registry_purge_uploads_total', 'Stale uploads the purge removed.', () => purge.uploadsPurged);
  }

  #notificationMetrics(): void {
    const register = { registers: [this.registry] };
    const source = (): ReadonlyMap<string, { pending(): number; failures(): number }> => this.#notifications?.() ?? new Map();
    new Gauge({
      ...register,
      name: NOTIFICATION_METRICS.pending,
      help: 'The gauge of pending events in queue',
      labelNames: ['endpoint'],
      collect() {
        this.reset();
        for (const [endpoint, stats] of source()) this.set({ endpoint }, stats.pending());
      },
    });
    new Counter({
      ...register,
      name: NOTIFICATION_METRICS.events,
      help: 'The number of total events',
      labelNames: ['type', 'endpoint'],
      collect() {
        this.reset();
        for (const [endpoint, stats] of source()) this.inc({ type: 'Failures', endpoint }, stats.failures());
      },
    });
  }
}

/** Quantiles reported, of piscina's summaries. */
const QUANTILES: readonly (readonly [number, keyof PiscinaHistogramSummary])[] = [
  [0.5, 'p50'],
  [0.9, 'p90'],
  [0.99, 'p99'],
];

/**
 * A Prometheus summary read from piscina's own timing histogram (recordTiming, on by default),
 * so the pool is not asked to do anything per task: quantiles, `_sum` (mean × count) and `_count`,
 * in seconds. piscina keeps them since the pool started.
 */
class PoolTimeSummary extends Summary<string> {
  readonly #name: string;
  readonly #help: string;

  constructor(
    name: string,
    help: string,
    private readonly read: () => { summary: PiscinaHistogramSummary; count: number },
  ) {
    super({ name, help, registers: [] });
    this.#name = name;
    this.#help = help;
  }

  override async get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    const { summary, count } = this.read();
    const ms = (value: number): number => (Number.isFinite(value) ? value / 1000 : 0);
    const values: MetricValueWithName<string>[] =
      count === 0 ? [] : QUANTILES.map(([quantile, key]) => ({ labels: { quantile }, value: ms(summary[key]), metricName: this.#name }));
    values.push({ labels: {}, value: count === 0 ? 0 : ms(summary.mean) * count, metricName: `${this.#name}_sum` });
    values.push({ labels: {}, value: count, metricName: `${this.#name}_count` });
    return { name: this.#name, help: this.#help, type: metricType('summary'), aggregator: 'sum', collect: () => undefined, values };
  }

  /** What prom-client's Registry renders (it prefers this to get()). */
  async getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    return this.get();
  }
}
