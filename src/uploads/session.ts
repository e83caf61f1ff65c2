import { randomUUID } from 'node:crypto';
import { RegistryError } from '../errors/registry-error.ts';
import { paths } from '../storage/paths.ts';
import { getContentIfExists, type PosixDriver } from '../storage/driver.ts';
import { listCheckpointOffsets } from './checkpoints.ts';

/**
 * An upload session lives in storage only (`_uploads/<id>/`), so any worker, a restarted
 * process, or another replica can take it up. Ids are UUIDs, as distribution makes them.
 */
export interface UploadRef {
  readonly repo: string;
  readonly id: string;
}

export interface UploadStatus extends UploadRef {
  /** Bytes received: the size of the data file (distribution's fileWriter.Size()). */
  readonly offset: number;
  readonly startedAt: Date;
  /**
   * The data file is gone while the upload is not: a commit moved it into the blob store and the
   * process died before it removed the upload. `offset` is then the size the commit recorded, and
   * a retried PUT finishes the commit (uploads/commit.ts, interrupted-commit.ts).
   */
  readonly committing: boolean;
  /** The digest an interrupted commit recorded; absent when it predates the record (its last checkpoint says). */
  readonly committedAs?: string;
}

/** What a commit records before it moves the data: which blob the upload is becoming. */
export interface CommitRecord {
  readonly digest: string;
  readonly size: number;
}

/** Upload ids we hand out are UUIDs; we accept distribution's too. Anything else is unknown. */
const UPLOAD_ID = /^[a-zA-Z0-9][a-zA-Z0-9_-]{0,127}$/;

/** An id outside that grammar names no upload of ours: BLOB_UPLOAD_UNKNOWN (code-3), before any storage call. */
export function checkUploadId(id: string): void {
  if (!UPLOAD_ID.test(id)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', { uuid: id.slice(0, 200) });
}

export async function createUpload(driver: PosixDriver, repo: string): Promise<UploadRef> {
  const id = randomUUID();
  // RFC 3339, as distribution writes it; docker-registry reads this file to resume our upload.
  await driver.putContent(paths.uploadStartedAt(repo, id), new Date().toISOString());
  return { repo, id };
}

/** The upload's durable state; BLOB_UPLOAD_UNKNOWN (code-3) when there is no such upload. */
export async function loadUpload(driver: PosixDriver, repo: string, id: string): Promise<UploadStatus> {
  checkUploadId(id);
  const [started, data] = await Promise.all([driver.stat(paths.uploadStartedAt(repo, id)), driver.stat(paths.uploadData(repo, id))]);
  if (!started) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', { uuid: id });
  if (data) return { repo, id, offset: data.size, startedAt: started.modifiedAt, committing: false };
  const record = await readCommitRecord(driver, { repo, id });
  if (record) return { repo, id, offset: record.size, startedAt: started.modifiedAt, committing: true, committedAs: record.digest };
  // Commits by versions before the record: the last checkpoint names the bytes that moved.
  const checkpointed = (await listCheckpointOffsets(driver, repo, id)).at(-1) ?? 0;
  return { repo, id, offset: checkpointed, startedAt: started.modifiedAt, committing: checkpointed > 0 };
}

export async function writeCommitRecord(driver: PosixDriver, ref: UploadRef, record: CommitRecord): Promise<void> {
  await driver.putContent(paths.uploadCommitting(ref.repo, ref.id), JSON.stringify(record));
}

async function readCommitRecord(driver: PosixDriver, ref: UploadRef): Promise<CommitRecord | undefined> {
  const bytes = await getContentIfExists(driver, paths.uploadCommitting(ref.repo, ref.id));
  if (bytes === undefined) return undefined;
  const text = bytes.toString('utf8');
  try {
    const parsed = JSON.parse(text) as Partial<CommitRecord>;
    if (typeof parsed.digest === 'string' && typeof parsed.size === 'number' && Number.isSafeInteger(parsed.size)) return { digest: parsed.digest, size: parsed.size };
  } catch {
    // Not ours, or damaged by hand: treated as absent (the checkpoints are the fallback).
  }
  return undefined;
}

/**
 * Removes an upload. `startedat` goes first: it is what makes an upload exist, so a process killed
 * halfway through leaves an unknown upload, never one that looks new and empty (found by the kill
 * test: a retried PUT then hashed an empty file).
 */
export async function cancelUpload(driver: PosixDriver, ref: UploadRef): Promise<void> {
  await driver.delete(paths.uploadStartedAt(ref.repo, ref.id));
  await driver.delete(paths.uploadDir(ref.repo, ref.id));
}
