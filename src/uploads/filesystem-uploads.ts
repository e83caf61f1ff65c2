import type { Readable } from 'node:stream';
import type { Digest } from '../digest/digest.ts';
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
    return appendBody(this.deps, ref, expectedStart, body, declaredLength);
  }

  commit(ref: UploadRef, digest: Digest): Promise<{ size: number }> {
    return commitUpload(this.deps, ref, digest);
  }

  async cancel(ref: UploadRef): Promise<void> {
    await loadUpload(this.deps.driver, ref.repo, ref.id);
    await cancelUpload(this.deps.driver, ref);
  }

  discard(ref: UploadRef): Promise<void> {
    return cancelUpload(this.deps.driver, ref);
  }
}
