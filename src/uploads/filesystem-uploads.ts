import type { Readable } from 'node:stream';
import type { Digest } from '../digest/digest.ts';
import { RegistryError } from '../errors/registry-error.ts';
import type { UploadBackend } from './backend.ts';
import { commitUpload, type CommitDeps } from './commit.ts';
import { appendBody } from './pipeline.ts';
import { cancelUpload, createUpload, loadUpload, type UploadRef } from './session.ts';

/**
 * Uploads on the filesystem: a data file the chunk workers write at offsets and fdatasync,
 * checkpoints beside it, a commit by rename (session.ts, pipeline.ts, commit.ts).
 */
export class FilesystemUploads implements UploadBackend {
  constructor(private readonly deps: CommitDeps) {}

  create(repo: string): Promise<UploadRef> {
    // The worker threads start with the first upload, not with the registry (workers/pool.ts).
    this.deps.pool.start();
    return createUpload(this.deps.driver, repo);
  }

  async offset(repo: string, id: string): Promise<number> {
    return (await loadUpload(this.deps.driver, repo, id)).offset;
  }

  append(ref: UploadRef, expectedStart: number | undefined, body: Readable, declaredLength?: number): Promise<number> {
    return this.unlessCancelled(ref, () => appendBody(this.deps, ref, expectedStart, body, declaredLength));
  }

  commit(ref: UploadRef, digest: Digest): Promise<{ size: number }> {
    return this.unlessCancelled(ref, () => commitUpload(this.deps, ref, digest));
  }

  async cancel(ref: UploadRef): Promise<void> {
    await loadUpload(this.deps.driver, ref.repo, ref.id);
    await cancelUpload(this.deps.driver, ref);
  }

  discard(ref: UploadRef): Promise<void> {
    return cancelUpload(this.deps.driver, ref);
  }

  /**
   * A DELETE does not wait for the upload's lock (handlers/uploads.ts), so it can remove the
   * upload while a PATCH or PUT writes, syncs, hashes or moves its data. Whatever step then fails
   * (a file gone, a data file recreated empty by a write at offset 0, a worker's error that lost
   * its class crossing threads) means the upload was cancelled: found by looking for it again.
   * That is BLOB_UPLOAD_UNKNOWN (code-3), as for a request after the DELETE, never a 5xx or a
   * misleading 416; and what the request wrote back into the removed folder goes. An upload still
   * there: the error was the request's own.
   */
  private async unlessCancelled<T>(ref: UploadRef, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      try {
        await loadUpload(this.deps.driver, ref.repo, ref.id);
      } catch (lookup) {
        if (lookup instanceof RegistryError && lookup.errorName === 'BLOB_UPLOAD_UNKNOWN') {
          await cancelUpload(this.deps.driver, ref);
          throw new RegistryError('BLOB_UPLOAD_UNKNOWN', { uuid: ref.id, reason: 'the upload was cancelled while this request wrote to it' }, { cause: err });
        }
      }
      throw err;
    }
  }
}
