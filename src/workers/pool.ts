import { availableParallelism } from 'node:os';
import type { Piscina } from 'piscina';
import type { DriverParams } from '../storage/driver.ts';
import { TASK, type AppendChunkResult, type AppendChunkTask, type HashChunkTask, type HashUploadResult, type HashUploadTask, type WorkerConfig } from './tasks.ts';

/**
 * The one worker pool. Entry resolution lives here only: from a build we run the compiled
 * chunk-worker.js; from source (tsx) the .mjs shim that registers tsx first (STYLE §6.2).
 */
const entry = import.meta.url.endsWith('.ts') ? new URL('./dev-entry.mjs', import.meta.url) : new URL('./chunk-worker.js', import.meta.url);

export interface ChunkPool {
  /**
   * Starts the worker threads now, if they are not running yet, without waiting for them: the
   * registry calls it when an upload begins (POST end-4a), so a push's first chunk does not wait
   * for the threads to load. Any task starts them too.
   */
  start(): void;
  /** Whether the threads have been started (by start() or a first task). */
  readonly started: boolean;
  appendChunk(task: AppendChunkTask): Promise<AppendChunkResult>;
  hashChunk(task: HashChunkTask): Promise<AppendChunkResult>;
  hashUpload(task: HashUploadTask): Promise<HashUploadResult>;
  /** piscina's own counters, read when metrics are scraped (src/metrics): nothing is added per task. */
  stats(): PoolStats;
  close(): Promise<void>;
}

/** piscina's summary of a timing histogram: mean, min, max, p50, p99... in ms. */
export type PiscinaHistogramSummary = Piscina['histogram']['runTime'];

/** Times in ms, since the pool started (piscina's recordTiming histograms, never reset). */
export interface PoolStats {
  readonly queueSize: number;
  readonly completed: number;
  readonly threads: number;
  readonly utilization: number;
  readonly runTime: PiscinaHistogramSummary;
  readonly waitTime: PiscinaHistogramSummary;
}

/**
 * A task spends part of its time awaiting the disk; letting each worker interleave a few tasks
 * (of different uploads: one upload never has two in flight) keeps the hashing cores busy.
 */
const TASKS_PER_WORKER = 4;

/**
 * Worker threads when the config leaves it to us (`quayside.workers: 0`). One event loop parses
 * every upload body, at about 0.9 CPU-seconds per GiB here; one worker with the native engine
 * hashes about 1.4 GiB/s, faster than that loop can feed it. A second worker is only kept for
 * hashes a commit needs (sha512, re-hashing after an engine change) beside a busy one, and only
 * where a core is left for it: on 2 cores, 8 × 2 GiB pushes with two native workers ran 10–20 %
 * slower at 20–35 % more CPU per GiB and 20 MiB more RSS than with one (bench/RESULTS.md).
 * hash-wasm hashes about 0.2 GiB/s per thread, so it takes every core (4 × 1 GiB: 240 MiB/s
 * with two workers on 2 cores, 177 with one).
 */
export function defaultWorkerCount(engine: string, cores = availableParallelism()): number {
  if (engine === 'native') return Math.min(2, Math.max(1, cores - 1));
  return Math.max(1, cores);
}

const NO_TIMES: PiscinaHistogramSummary = { average: 0, mean: 0, stddev: 0, min: 0, max: 0, p0_001: 0, p0_01: 0, p0_1: 0, p1: 0, p2_5: 0, p10: 0, p25: 0, p50: 0, p75: 0, p90: 0, p97_5: 0, p99: 0, p99_9: 0, p99_99: 0, p99_999: 0 };

/** What a pool reports before it has started: no threads, nothing run. */
const NOT_STARTED: PoolStats = { queueSize: 0, completed: 0, threads: 0, utilization: 0, runTime: NO_TIMES, waitTime: NO_TIMES };

/**
 * The pool starts at its first use, not with the registry (issue 12, "Start and footprint"): each
 * idle worker is a V8 isolate with its own heap, and loading piscina and the worker entry is part
 * of the start-up time. A registry that only serves pulls never starts it. Once started, the
 * threads stay (minThreads): a push's chunks never wait for a worker to load again.
 *
 * `onError` hears what piscina emits as 'error' outside any task (a worker that fails while it
 * has no task; piscina replaces it): an EventEmitter's 'error' with no listener would throw and
 * end the process.
 */
export function createChunkPool(driver: DriverParams, engine: string, threads = defaultWorkerCount(engine), onError: (err: Error) => void = () => undefined): ChunkPool {
  const workerData: WorkerConfig = { driver, engine };
  let starting: Promise<Piscina> | undefined;
  let pool: Piscina | undefined;
  let closing: Promise<void> | undefined;
  /** Every task accepted and not yet settled: close() lets each finish before the threads go. */
  const inFlight = new Set<Promise<unknown>>();
  const started = (): Promise<Piscina> =>
    (starting ??= startPiscina(workerData, threads).then((p) => {
      p.on('error', onError);
      return (pool = p);
    }));
  const run = (task: unknown, name: string): Promise<unknown> => {
    if (closing !== undefined) return Promise.reject(new Error('the chunk pool is closed'));
    const result = started().then((p) => p.run(task, { name }));
    inFlight.add(result);
    const settled = (): void => void inFlight.delete(result);
    result.then(settled, settled);
    return result;
  };
  const close = async (): Promise<void> => {
    // The tasks first, then the threads. piscina's close() would wait for them, but only up to its
    // closeTimeout (30 s), then reject what is still running; and it races that wait against an
    // unref'd 30 s timer that keeps the whole closed pool reachable until it fires, however soon
    // the flush ends (piscina 5.3 dist/index.js WorkerPool.close). With nothing left to run,
    // destroy() only terminates the threads and awaits their exit: no timer, no 'error'.
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    const opened = await starting?.catch(() => undefined);
    // Dropped before the threads go: a caller still holding the registry must not hold the pool.
    starting = undefined;
    pool = undefined;
    await opened?.destroy();
    opened?.off('error', onError);
  };
  return {
    start: () => {
      if (closing === undefined) started().catch(() => undefined);
    },
    get started() {
      return starting !== undefined;
    },
    // The bytes sit in a SharedArrayBuffer: the worker reads them in place.
    appendChunk: (task) => run(task, TASK.appendChunk) as Promise<AppendChunkResult>,
    hashChunk: (task) => run(task, TASK.hashChunk) as Promise<AppendChunkResult>,
    hashUpload: (task) => run(task, TASK.hashUpload) as Promise<HashUploadResult>,
    stats: () => (pool === undefined ? NOT_STARTED : { queueSize: pool.queueSize, completed: pool.completed, threads: pool.threads.length, utilization: pool.utilization, runTime: pool.histogram.runTime, waitTime: pool.histogram.waitTime }),
    close: () => (closing ??= close()),
  };
}

/** piscina itself is loaded here, at the first start: `serve` does not load it until a push. */
async function startPiscina(workerData: WorkerConfig, threads: number): Promise<Piscina> {
  const { Piscina } = await import('piscina');
  return new Piscina({
    filename: entry.href,
    minThreads: Math.max(1, threads),
    maxThreads: Math.max(1, threads),
    concurrentTasksPerWorker: TASKS_PER_WORKER,
    // Our tasks await the disk, several at a time. With 'sync' atomics an idle worker blocks in
    // Atomics.wait, and the I/O callbacks of a task still in flight wait for the next task to
    // wake it (piscina README, `atomics`). Plain messages keep each worker's event loop running.
    atomics: 'disabled',
    idleTimeout: 60_000,
    workerData,
  });
}
