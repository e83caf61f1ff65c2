import { RegistryError } from '../errors/registry-error.ts';
import { BatchReader } from '../http/request-body.ts';
import type { Sha256Engine } from '../digest/engine.ts';
import type { StorageDriver } from '../storage/driver.ts';
import type { ChunkPool } from '../workers/pool.ts';
import type { AppendChunkResult } from '../workers/tasks.ts';
import { loadUpload, type UploadRef } from './session.ts';
import type { UploadLocks } from './upload-lock.ts';

export interface PipelineOptions {
  /** Bytes per worker task. One batch fills while one is written: memory per upload is 2×. */
  readonly batchSize: number;
  /** A long PATCH (docker streams a whole layer in one) is made durable every this many bytes. */
  readonly checkpointEvery: number;
}

export const defaultPipelineOptions: PipelineOptions = { batchSize: 4 * 1024 * 1024, checkpointEvery: 256 * 1024 * 1024 };

export interface PipelineDeps {
  readonly driver: StorageDriver;
  readonly engine: Sha256Engine;
  readonly pool: ChunkPool;
  readonly locks: UploadLocks;
  readonly options: PipelineOptions;
}

const EMPTY = new Uint8Array(0);

/**
 * Appends a request body to an upload. Call under the upload's lock (UploadLocks.run): the range
 * check and the append must not interleave with another request on the same upload.
 *
 * `expectedStart` is the Content-Range start (end-5); a chunk that does not begin at the upload's
 * durable size is 416 and changes nothing. Without it (docker's streamed PATCH) the body appends.
 *
 * Batches go to the pool one at a time, each carrying the checkpoint the previous one returned;
 * while a worker writes batch k the socket fills batch k+1. The PATCH ends with a durable
 * checkpoint, so the 202 only promises bytes that survive a crash. When the client goes away
 * mid-body, the bytes that did arrive are kept and made durable: it can ask GET for the range
 * and continue from there (end-13).
 */
export async function appendBody(deps: PipelineDeps, ref: UploadRef, expectedStart: number | undefined, body: AsyncIterable<Buffer | Uint8Array>): Promise<number> {
  const status = await loadUpload(deps.driver, ref.repo, ref.id);
  if (expectedStart !== undefined && expectedStart !== status.offset) {
    throw new RegistryError('RANGE_NOT_SATISFIABLE', { expectedStart: status.offset, receivedStart: expectedStart });
  }
  let offset = status.offset;
  let checkpoint = status.checkpoint;
  let sinceDurable = 0;
  let inflight: Promise<AppendChunkResult> | undefined;

  const settle = async (): Promise<void> => {
    if (!inflight) return;
    const result = await inflight;
    inflight = undefined;
    // The data file is shorter than our offset: someone else changed this upload under us.
    if (!result.ok) throw new RegistryError('RANGE_NOT_SATISFIABLE', { expectedStart: result.size, receivedStart: offset });
    offset = result.offset;
    checkpoint = result.checkpoint;
  };
  const send = (bytes: Uint8Array, persist: boolean): void => {
    inflight = deps.pool.appendChunk({ repo: ref.repo, id: ref.id, offset, bytes, checkpoint, persist });
  };

  const reader = new BatchReader(body, deps.options.batchSize);
  try {
    for await (const batch of reader) {
      await settle();
      sinceDurable += batch.length;
      const persist = sinceDurable >= deps.options.checkpointEvery;
      if (persist) sinceDurable = 0;
      send(batch, persist);
    }
    await settle();
  } catch (err) {
    await keepWhatArrived(settle, send, reader);
    throw err;
  }
  send(EMPTY, true);
  await settle();
  return offset;
}

async function keepWhatArrived(settle: () => Promise<void>, send: (b: Uint8Array, persist: boolean) => void, reader: BatchReader): Promise<void> {
  try {
    await settle();
    send(reader.takeRemainder() ?? EMPTY, true);
    await settle();
  } catch {
    // The original error is the one worth reporting; the upload stays at its last checkpoint.
  }
}
