import type { StorageFailure } from '../errors/to-registry-error.ts';
/**
 * Task names and message types shared by the main thread and the chunk workers (piscina's
 * src/types.ts habit). Tasks are plain data: a worker rebuilds everything else from them.
 * Expected failures come back as tagged results, because an Error crossing the thread
 * boundary loses its class and fields (STYLE §6.4).
 */
export interface AppendChunkTask {
  readonly repo: string;
  readonly id: string;
  /** Where these bytes start: the upload's size when the task was sent. */
  readonly offset: number;
  /** A view on a SharedArrayBuffer (uploads/batch-buffers.ts): read in place, never copied. */
  readonly bytes: Uint8Array;
  /** The checkpoint at `offset` when the caller has it; otherwise the worker restores one. */
  readonly checkpoint: Uint8Array | null;
  /** Make the data durable and store a checkpoint (end of a PATCH, or every checkpointEvery bytes). */
  readonly persist: boolean;
}

/** Expected failures come back as a StorageFailure tag (errors/to-registry-error.ts translates it). */
export type AppendChunkResult = { readonly ok: true; readonly offset: number; readonly checkpoint: Uint8Array } | ({ readonly ok: false } & StorageFailure);

/**
 * Hash one batch from a carried checkpoint, nothing stored (the S3 upload path: the event loop
 * sends the bytes to the object store while a worker hashes them, storage/s3/upload-writer.ts).
 */
export interface HashChunkTask {
  /** Where these bytes start; 0 starts a fresh hash. */
  readonly offset: number;
  readonly bytes: Uint8Array;
  /** The checkpoint at `offset`; required unless `offset` is 0. */
  readonly checkpoint: Uint8Array | null;
}

export interface HashUploadTask {
  readonly repo: string;
  readonly id: string;
  readonly size: number;
  readonly algorithm: 'sha256' | 'sha512';
}

export interface HashUploadResult {
  readonly hex: string;
}

export interface WorkerConfig {
  readonly driver: import('../storage/driver.ts').DriverParams;
  /** The engine the main thread chose (digest/select-engine.ts): every thread hashes alike. */
  readonly engine: string;
}

export const TASK = { appendChunk: 'appendChunk', hashChunk: 'hashChunk', hashUpload: 'hashUpload' } as const;
