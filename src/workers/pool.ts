import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { DriverParams } from '../storage/driver.ts';
import { TASK, type AppendChunkResult, type AppendChunkTask, type HashUploadResult, type HashUploadTask, type WorkerConfig } from './tasks.ts';

/**
 * The one worker pool. Entry resolution lives here only: from a build we run the compiled
 * chunk-worker.js; from source (tsx) the .mjs shim that registers tsx first (STYLE §6.2).
 */
const entry = import.meta.url.endsWith('.ts') ? new URL('./dev-entry.mjs', import.meta.url) : new URL('./chunk-worker.js', import.meta.url);

export interface ChunkPool {
  appendChunk(task: AppendChunkTask): Promise<AppendChunkResult>;
  hashUpload(task: HashUploadTask): Promise<HashUploadResult>;
  close(): Promise<void>;
}

/**
 * A task spends part of its time awaiting the disk; letting each worker interleave a few tasks
 * (of different uploads: one upload never has two in flight) keeps the hashing cores busy.
 */
const TASKS_PER_WORKER = 4;

export function createChunkPool(driver: DriverParams, engine: string, threads = availableParallelism()): ChunkPool {
  const workerData: WorkerConfig = { driver, engine };
  const pool = new Piscina({
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
  return {
    // The bytes sit in a SharedArrayBuffer: the worker reads them in place.
    appendChunk: (task) => pool.run(task, { name: TASK.appendChunk }) as Promise<AppendChunkResult>,
    hashUpload: (task) => pool.run(task, { name: TASK.hashUpload }) as Promise<HashUploadResult>,
    close: () => pool.close(),
  };
}
