import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Digest } from '../digest/digest.ts';
import type { Sha256Engine } from '../digest/engine.ts';
import { RegistryError } from '../errors/registry-error.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { paths } from '../storage/paths.ts';
import type { S3Driver } from '../storage/s3/driver.ts';
import { UploadConflictError, UploadUnknownError } from '../storage/s3/upload-state.ts';
import { openUploadWriter, startUpload, type UploadWriter } from '../storage/s3/upload-writer.ts';
import type { ChunkPool } from '../workers/pool.ts';
import type { UploadBackend } from './backend.ts';
import { checkStart, streamBody, type BatchSink, type BodyStreamDeps } from './pipeline.ts';
import { checkUploadId, type UploadRef } from './session.ts';

export interface S3UploadDeps extends BodyStreamDeps {
  readonly driver: S3Driver;
  readonly engine: Sha256Engine;
  readonly pool: ChunkPool;
  readonly blobs: BlobStore;
  /** Multipart part size for new uploads (storage.s3.chunksize). */
  readonly chunksize?: number;
}

/**
 * Uploads on S3, continued by any replica (issue 10). Nothing lives in memory between requests:
 * each request opens the upload's writer from its state object (storage/s3/upload-writer.ts),
 * streams its body through it, and ends with one compare-and-swap of the state, which is the
 * acknowledgement. The bytes go to S3 from this thread while a worker hashes the same batch
 * (hashChunk); the hash checkpoint travels in the state, so the commit's digest needs no re-read.
 */
export class S3Uploads implements UploadBackend {
  constructor(private readonly deps: S3UploadDeps) {}

  async create(repo: string): Promise<UploadRef> {
    // The worker threads start with the first upload, not with the registry (workers/pool.ts).
    this.deps.pool.start();
    const id = randomUUID();
    // distribution's `startedat`, first: the purge of stale uploads reads it (ours and
    // docker-registry's), and keeps an upload it cannot date.
    await this.deps.driver.putContent(paths.uploadStartedAt(repo, id), new Date().toISOString());
    await startUpload(this.deps.driver, repo, id, this.deps.chunksize === undefined ? {} : { chunksize: this.deps.chunksize });
    return { repo, id };
  }

  async offset(repo: string, id: string): Promise<number> {
    return (await this.open({ repo, id })).offset;
  }

  async append(ref: UploadRef, expectedStart: number | undefined, body: Readable, declaredLength?: number): Promise<number> {
    const writer = await this.open(ref);
    checkStart(ref, writer.offset, expectedStart);
    const checkpoint = writer.checkpoint === null ? null : Buffer.from(writer.checkpoint, 'base64');
    if (writer.offset > 0 && checkpoint === null) throw new Error(`upload ${ref.id}: state at ${writer.offset} bytes without a checkpoint`);
    return streamBody(this.deps, ref, writer.offset, checkpoint, body, declaredLength, this.sinkFor(ref, writer));
  }

  /**
   * Each batch: a worker hashes it while this thread copies it into the writer (which uploads each
   * part that fills); a batch marked `persist` then flushes: the tail object and the CAS.
   */
  private sinkFor(ref: UploadRef, writer: UploadWriter): BatchSink {
    return async ({ offset, bytes, checkpoint, persist }) => {
      const hashing = this.deps.pool.hashChunk({ offset, bytes, checkpoint });
      const appending = writer.append(bytes).then(
        () => undefined,
        (err: unknown) => ({ err }),
      );
      // Both must be done with `bytes` before this resolves: the batch buffer is reused after.
      const [hashResult, appendFailure] = await Promise.allSettled([hashing, appending]);
      if (appendFailure.status === 'fulfilled' && appendFailure.value !== undefined) throw translate(appendFailure.value.err, ref);
      if (hashResult.status === 'rejected') throw hashResult.reason;
      const hashed = hashResult.value;
      if (!hashed.ok) return hashed;
      if (persist) {
        try {
          await writer.flush(Buffer.from(hashed.checkpoint).toString('base64'));
        } catch (err) {
          throw translate(err, ref);
        }
      }
      return hashed;
    };
  }

  async commit(ref: UploadRef, digest: Digest): Promise<{ size: number }> {
    const writer = await this.open(ref);
    if (digest.algorithm !== 'sha256') {
      throw new RegistryError('DIGEST_INVALID', { expected: digest.value, reason: 'uploads on s3 storage are verified by their SHA-256 state: use a sha256 digest' });
    }
    const actual = `sha256:${await this.hexOf(writer)}`;
    if (actual !== digest.value) throw new RegistryError('DIGEST_INVALID', { expected: digest.value, actual });
    try {
      const result = await writer.commit(paths.blobData(digest));
      await this.deps.blobs.link(ref.repo, digest);
      return { size: result.size };
    } catch (err) {
      throw translate(err, ref);
    }
  }

  /** The digest of the acknowledged bytes, from the checkpoint stored with them. */
  private async hexOf(writer: UploadWriter): Promise<string> {
    const checkpoint = writer.checkpoint === null ? undefined : Buffer.from(writer.checkpoint, 'base64');
    const hasher = writer.offset === 0 ? await this.deps.engine.fresh() : checkpoint === undefined ? undefined : await this.deps.engine.resume(checkpoint);
    if (hasher === undefined || hasher.length !== writer.offset) throw new Error(`upload at ${writer.offset} bytes has no usable checkpoint`);
    return hasher.digestHex();
  }

  async cancel(ref: UploadRef): Promise<void> {
    const writer = await this.open(ref);
    await writer.cancel();
  }

  async discard(ref: UploadRef): Promise<void> {
    try {
      await (await openUploadWriter(this.deps.driver, ref.repo, ref.id)).cancel();
    } catch (err) {
      if (!(err instanceof UploadUnknownError)) throw err;
      await this.deps.driver.delete(paths.uploadDir(ref.repo, ref.id));
    }
  }

  private async open(ref: UploadRef): Promise<UploadWriter> {
    checkUploadId(ref.id);
    try {
      return await openUploadWriter(this.deps.driver, ref.repo, ref.id);
    } catch (err) {
      throw translate(err, ref);
    }
  }
}

/** The writer's conflicts as the protocol's answers: another writer won (416), the upload is gone (404). */
function translate(err: unknown, ref: UploadRef): unknown {
  if (err instanceof UploadUnknownError) return new RegistryError('BLOB_UPLOAD_UNKNOWN', { uuid: ref.id });
  if (err instanceof UploadConflictError) {
    return new RegistryError('RANGE_NOT_SATISFIABLE', { uuid: ref.id, reason: err.reason === 'committing' ? 'the upload is being committed' : 'another request changed this upload; GET it for its range' });
  }
  return err;
}
