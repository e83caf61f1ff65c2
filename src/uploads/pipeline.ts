import type { Readable } from 'node:stream';
import type { Sha256Engine } from '../digest/engine.ts';
import { RegistryError } from '../errors/registry-error.ts';
import { appendFailureError } from '../errors/to-registry-error.ts';
import type { PosixDriver } from '../storage/driver.ts';
import type { ChunkPool } from '../workers/pool.ts';
import type { AppendChunkResult } from '../workers/tasks.ts';
import type { BatchBuffers } from './batch-buffers.ts';
import { BatchReader } from './batch-reader.ts';
import { loadUpload, type UploadRef } from './session.ts';
import { restoreInterruptedData } from './interrupted-commit.ts';
import type { UploadLocks } from './upload-lock.ts';

export interface PipelineOptions {
  /** Bytes per worker task. One batch fills while one is written: memory per upload is 2×. */
  readonly batchSize: number;
  /** Largest size an upload may reach; 0 = no limit (quayside.limits.uploadsize). */
  readonly maxUploadSize?: number;
  /** A long PATCH (docker streams a whole layer in one) is made durable every this many bytes. */
  readonly checkpointEvery: number;
}

export const defaultPipelineOptions: PipelineOptions = { batchSize: 4 * 1024 * 1024, checkpointEvery: 256 * 1024 * 1024 };

/** What streaming a body into batches needs, whatever the storage. */
export interface BodyStreamDeps {
  readonly buffers: BatchBuffers;
  readonly options: PipelineOptions;
}

export interface PipelineDeps extends BodyStreamDeps {
  readonly driver: PosixDriver;
  readonly engine: Sha256Engine;
  readonly pool: ChunkPool;
  readonly locks: UploadLocks;
}

/**
 * Where one batch goes: written and hashed from `checkpoint` (null: the sink restores one), and
 * made durable when `persist`. Resolves when the sink is done reading `bytes` (a view on a shared
 * batch buffer, reused afterwards: a sink that keeps bytes copies them). Expected failures come
 * back tagged (a worker's answer) or thrown as RegistryErrors (a sink on this thread).
 */
export type BatchSink = (batch: { readonly offset: number; readonly bytes: Uint8Array; readonly checkpoint: Uint8Array | null; readonly persist: boolean }) => Promise<AppendChunkResult>;

const EMPTY = new Uint8Array(0);

/**
 * Appends a request body to an upload. Call under the upload's lock (UploadLocks.run): the range
 * check and the append must not interleave with another request on the same upload.
 *
 * `expectedStart` is the Content-Range start (end-5); a chunk that does not begin at the upload's
 * size is 416 and changes nothing. Without it (docker's streamed PATCH) the body appends.
 *
 * Batches go to the pool one at a time, each carrying the checkpoint the previous one returned;
 * while a worker writes batch k the socket fills batch k+1. The PATCH ends durable (data synced,
 * checkpoint stored), so the 202 only promises bytes that survive a crash. When the client goes
 * away mid-body, the bytes that did arrive are kept and made durable: it can ask GET for the
 * range and continue from there (end-13).
 */
export async function appendBody(
  deps: PipelineDeps,
  ref: UploadRef,
  expectedStart: number | undefined,
  body: Readable,
  /** The body's Content-Length when known: the batch that completes it is made durable itself. */
  declaredLength?: number,
): Promise<number> {
  const status = await loadUpload(deps.driver, ref.repo, ref.id);
  if (status.committing) await restoreInterruptedData(deps.driver, deps.engine, status);
  checkStart(ref, status.offset, expectedStart);
  const { repo, id } = ref;
  return streamBody(deps, ref, status.offset, null, body, declaredLength, (batch) => deps.pool.appendChunk({ repo, id, ...batch }));
}

/** A chunk that does not begin at the upload's size is 416 and changes nothing (end-5). */
export function checkStart(ref: UploadRef, offset: number, expectedStart: number | undefined): void {
  if (expectedStart !== undefined && expectedStart !== offset) {
    throw new RegistryError('RANGE_NOT_SATISFIABLE', { uuid: ref.id, expectedStart: offset, receivedStart: expectedStart });
  }
}

/**
 * Streams `body` into batches for `sink`, starting at `offset` with `checkpoint` (the hash state
 * there, when the caller has it), under limits.uploadsize. Resolves with the new offset once the
 * last batch is durable; on a failure, keeps what arrived (see appendBody) and rethrows.
 */
export async function streamBody(
  deps: BodyStreamDeps,
  ref: UploadRef,
  offset: number,
  checkpoint: Uint8Array | null,
  body: Readable,
  declaredLength: number | undefined,
  sink: BatchSink,
): Promise<number> {
  const end = declaredLength === undefined ? undefined : offset + declaredLength;
  const limit = deps.options.maxUploadSize ?? 0;
  // A declared body that cannot fit is refused before a byte is read; the connection closes so
  // the client does not stream the rest of it into a void.
  if (limit > 0 && end !== undefined && end > limit) throw tooLarge(limit, end);
  const batches = new BatchSender(deps, ref, offset, checkpoint, end, sink);
  const reader = new BatchReader(body, (at) => deps.buffers.acquireNext(at, () => batches.hasInflight()), offset);
  try {
    await reader.readAll((batch) => batches.send(batch));
    // A chunked body (no length) ends unannounced: one more, empty, task makes it durable.
    if (!batches.lastPersisted) await batches.send(EMPTY, true);
    await batches.settle();
  } catch (err) {
    const overLimit = err instanceof RegistryError && err.errorName === 'UPLOAD_TOO_LARGE';
    await batches.keep(overLimit ? undefined : reader.takeRemainder());
    throw err;
  } finally {
    // A batch read but never sent (refused as too large) goes back too.
    const unsent = reader.takeRemainder();
    if (unsent) deps.buffers.release(unsent);
  }
  return batches.offset;
}

function tooLarge(limit: number, size: number): RegistryError {
  return new RegistryError('UPLOAD_TOO_LARGE', { limit, size }, { headers: { connection: 'close' } });
}

/** Keeps one append task in flight per upload, threading offset and checkpoint through them. */
class BatchSender {
  offset: number;
  lastPersisted = false;
  private checkpoint: Uint8Array | null;
  private sinceDurable = 0;
  private inflight: { task: Promise<AppendChunkResult>; running: boolean } | undefined;

  constructor(
    private readonly deps: BodyStreamDeps,
    private readonly ref: UploadRef,
    offset: number,
    checkpoint: Uint8Array | null,
    private readonly end: number | undefined,
    private readonly sink: BatchSink,
  ) {
    this.offset = offset;
    this.checkpoint = checkpoint;
  }

  async send(bytes: Uint8Array, forcePersist = false): Promise<void> {
    await this.settle();
    const limit = this.deps.options.maxUploadSize ?? 0;
    if (limit > 0 && this.offset + bytes.length > limit) {
      this.deps.buffers.release(bytes);
      throw tooLarge(limit, this.offset + bytes.length);
    }
    this.sinceDurable += bytes.length;
    const completesBody = this.end !== undefined && this.offset + bytes.length >= this.end;
    const persist = forcePersist || completesBody || this.sinceDurable >= this.deps.options.checkpointEvery;
    this.lastPersisted = persist;
    if (persist) this.sinceDurable = 0;
    const inflight = { task: this.sink({ offset: this.offset, bytes, checkpoint: this.checkpoint, persist }), running: true };
    // The buffer goes back the moment the worker is done with it, not when this upload next
    // settles: the upload may itself be waiting for a buffer (batch-buffers.ts) before it can.
    const done = (): void => {
      inflight.running = false;
      if (bytes.length > 0) this.deps.buffers.release(bytes);
    };
    inflight.task.then(done, done);
    this.inflight = inflight;
  }

  /** Whether a batch of this upload is still with a worker. */
  hasInflight(): boolean {
    return this.inflight?.running === true;
  }

  async settle(): Promise<void> {
    const inflight = this.inflight;
    if (!inflight) return;
    this.inflight = undefined;
    const result = await inflight.task;
    if (!result.ok) throw appendFailureError(result, this.ref.id, this.offset);
    this.offset = result.offset;
    this.checkpoint = result.checkpoint;
  }

  /** After a failure (usually the client going away): write what arrived, durably, if we can. */
  async keep(remainder: Uint8Array | undefined): Promise<void> {
    try {
      await this.settle();
    } catch {
      if (remainder) this.deps.buffers.release(remainder);
      return;
    }
    try {
      await this.send(remainder ?? EMPTY, true);
      await this.settle();
    } catch {
      // The original error is the one worth reporting; the upload stays at its last durable size.
    }
  }
}
