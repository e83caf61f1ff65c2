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

export function createChunkPool(driver: DriverParams, engine: string, threads = availableParallelism()): ChunkPool {
  const workerData: WorkerConfig = { driver, engine };
  const pool = new Piscina({
    filename: entry.href,
    minThreads: Math.min(1, threads),
    maxThreads: Math.max(1, threads),
    idleTimeout: 60_000,
    workerData,
  });
  return {
    appendChunk: (task) => {
      // Move the bytes: they are an owned buffer (http/request-body.ts), never Node's shared pool.
      const transferList = task.bytes.byteLength > 0 ? [task.bytes.buffer as ArrayBuffer] : [];
      return pool.run(task, { name: TASK.appendChunk, transferList }) as Promise<AppendChunkResult>;
    },
    hashUpload: (task) => pool.run(task, { name: TASK.hashUpload }) as Promise<HashUploadResult>,
    close: () => pool.close(),
  };
}
