import type { Readable } from 'node:stream';
import type { Digest } from '../digest/digest.ts';
import type { UploadRef } from './session.ts';

/**
 * The upload path behind the handlers, one per kind of storage (issue 10): the filesystem's
 * (a data file written at offsets by the chunk workers, checkpoints beside it, uploads/filesystem-
 * uploads.ts) and S3's (one multipart upload and one state object advanced by compare-and-swap,
 * uploads/s3-uploads.ts). Handlers call these under the upload's in-process lock
 * (upload-lock.ts); across replicas, S3's compare-and-swap is what keeps two writers apart.
 *
 * Every method throws RegistryErrors: BLOB_UPLOAD_UNKNOWN (code-3) for an upload that is not
 * there, RANGE_NOT_SATISFIABLE (416, end-5) for bytes that do not start at its offset or lost a
 * race to another writer, DIGEST_INVALID (code-4) for a wrong digest.
 */
export interface UploadBackend {
  /** Starts an upload (end-4a). */
  create(repo: string): Promise<UploadRef>;
  /** Acknowledged bytes (end-13): what a GET of the upload reports. */
  offset(repo: string, id: string): Promise<number>;
  /**
   * Appends a body (end-5). `expectedStart` is the Content-Range start; without it (docker's
   * streamed PATCH) the body appends. Resolves, durable, with the new offset; when the client goes
   * away mid-body the bytes that arrived are kept.
   */
  append(ref: UploadRef, expectedStart: number | undefined, body: Readable, declaredLength?: number): Promise<number>;
  /** Finishes the upload as `digest` (end-6) and links the blob into the repository. */
  commit(ref: UploadRef, digest: Digest): Promise<{ size: number }>;
  /** Cancels an upload that exists (DELETE); BLOB_UPLOAD_UNKNOWN when it does not. */
  cancel(ref: UploadRef): Promise<void>;
  /** Removes whatever is left of an upload, existing or not (purge of stale uploads). */
  discard(ref: UploadRef): Promise<void>;
}
