import { createHash, randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Digest } from '../digest/digest.ts';
import type { Sha256Engine } from '../digest/engine.ts';
import { RegistryError } from '../errors/registry-error.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import type { InMemoryDriver } from '../storage/inmemory/driver.ts';
import { paths } from '../storage/paths.ts';
import type { ChunkPool } from '../workers/pool.ts';
import type { UploadBackend } from './backend.ts';
import { checkStart, streamBody, type BatchSink, type BodyStreamDeps } from './pipeline.ts';
import { checkUploadId, type UploadRef } from './session.ts';

export interface InMemoryUploadDeps extends BodyStreamDeps {
  readonly driver: InMemoryDriver;
  readonly engine: Sha256Engine;
  readonly pool: ChunkPool;
  readonly blobs: BlobStore;
}

/** An upload's acknowledged state: the bytes a GET reports (end-13) and the hash checkpoint at their end. */
interface Session {
  readonly chunks: Buffer[];
  size: number;
  checkpoint: Uint8Array | null;
}

/**
 * Uploads on the inmemory driver, modelled on S3's (uploads/s3-uploads.ts): the chunk workers
 * cannot see this thread's memory, so the bytes stay here while a worker hashes each batch
 * (hashChunk) and hands back the checkpoint, which the session carries. A batch becomes part of
 * the upload when its `persist` batch is hashed: that is the acknowledgement, as the CAS of the
 * state object is on S3, so a request cut short keeps exactly the bytes it was answered for.
 *
 * `startedat` is also written through the driver, so the purge of stale uploads (purge.ts) finds
 * and dates these uploads as it does everyone else's. The commit stores the blob with one
 * concatenation and no further copy (InMemoryDriver.putOwned).
 */
export class InMemoryUploads implements UploadBackend {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly deps: InMemoryUploadDeps) {
    // The registry's close() clears the driver: the uploads' bytes go with the files.
    deps.driver.onClear(() => this.sessions.clear());
  }

  async create(repo: string): Promise<UploadRef> {
    const id = randomUUID();
    await this.deps.driver.putContent(paths.uploadStartedAt(repo, id), new Date().toISOString());
    this.sessions.set(keyOf({ repo, id }), { chunks: [], size: 0, checkpoint: null });
    return { repo, id };
  }

  async offset(repo: string, id: string): Promise<number> {
    return this.session({ repo, id }).size;
  }

  async append(ref: UploadRef, expectedStart: number | undefined, body: Readable, declaredLength?: number): Promise<number> {
    const session = this.session(ref);
    checkStart(ref, session.size, expectedStart);
    return streamBody(this.deps, ref, session.size, session.checkpoint, body, declaredLength, this.sinkFor(ref, session));
  }

  /** Each batch: a worker hashes it while this thread copies it out of the shared batch buffer; a `persist` batch acknowledges what came before it. */
  private sinkFor(ref: UploadRef, session: Session): BatchSink {
    const pending: Buffer[] = [];
    return async ({ offset, bytes, checkpoint, persist }) => {
      const hashing = this.deps.pool.hashChunk({ offset, bytes, checkpoint });
      // A copy: the batch buffer is reused once this sink resolves.
      if (bytes.length > 0) pending.push(Buffer.from(bytes));
      const hashed = await hashing;
      if (!hashed.ok || !persist) return hashed;
      // Cancelled (DELETE, purge) while this body streamed: nothing to add the bytes to.
      if (this.sessions.get(keyOf(ref)) !== session) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', { uuid: ref.id });
      session.chunks.push(...pending.splice(0));
      session.size = hashed.offset;
      session.checkpoint = hashed.checkpoint;
      return hashed;
    };
  }

  async commit(ref: UploadRef, digest: Digest): Promise<{ size: number }> {
    const session = this.session(ref);
    const actualHex = await this.hexOf(session, digest.algorithm);
    // A wrong digest leaves the upload as it was (code-4), as on the other drivers.
    if (actualHex !== digest.hex) throw new RegistryError('DIGEST_INVALID', { expected: digest.value, actual: `${digest.algorithm}:${actualHex}` });
    if ((await this.deps.blobs.statGlobal(digest)) === undefined) {
      this.deps.driver.putOwned(paths.blobData(digest), session.chunks.length === 1 ? (session.chunks[0] as Buffer) : Buffer.concat(session.chunks, session.size));
    }
    await this.deps.blobs.link(ref.repo, digest);
    await this.discard(ref);
    return { size: session.size };
  }

  /** sha256 from the checkpoint the session carries (no re-read); sha512, which has none, over the bytes. */
  private async hexOf(session: Session, algorithm: Digest['algorithm']): Promise<string> {
    if (algorithm === 'sha512') {
      const hash = createHash('sha512');
      for (const chunk of session.chunks) hash.update(chunk);
      return hash.digest('hex');
    }
    const hasher = session.checkpoint === null ? await this.deps.engine.fresh() : await this.deps.engine.resume(session.checkpoint);
    if (hasher === undefined || hasher.length !== session.size) throw new Error(`inmemory upload at ${session.size} bytes has no usable checkpoint`);
    return hasher.digestHex();
  }

  async cancel(ref: UploadRef): Promise<void> {
    this.session(ref);
    await this.discard(ref);
  }

  async discard(ref: UploadRef): Promise<void> {
    this.sessions.delete(keyOf(ref));
    await this.deps.driver.delete(paths.uploadDir(ref.repo, ref.id));
  }

  private session(ref: UploadRef): Session {
    checkUploadId(ref.id);
    const session = this.sessions.get(keyOf(ref));
    if (session === undefined) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', { uuid: ref.id });
    return session;
  }
}

function keyOf(ref: UploadRef): string {
  return `${ref.repo}\u0000${ref.id}`;
}
