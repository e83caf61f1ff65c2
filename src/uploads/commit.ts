import type { Digest } from '../digest/digest.ts';
import { RegistryError } from '../errors/registry-error.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { paths } from '../storage/paths.ts';
import { readCheckpointAt } from './checkpoints.ts';
import { digestOfInterrupted } from './interrupted-commit.ts';
import type { PipelineDeps } from './pipeline.ts';
import { cancelUpload, loadUpload, writeCommitRecord, type UploadRef, type UploadStatus } from './session.ts';

export interface CommitDeps extends PipelineDeps {
  readonly blobs: BlobStore;
}

/**
 * Finishes an upload (end-6, PUT ?digest=): the digest comes from the saved checkpoint (no
 * re-read of the data), the bytes move into the blob store by rename, the blob is linked into
 * the repository, and the upload is dropped. Call under the upload's lock, after any last chunk.
 * A wrong digest is DIGEST_INVALID (code-4) and leaves the upload as it was.
 */
export async function commitUpload(deps: CommitDeps, ref: UploadRef, expected: Digest): Promise<{ size: number }> {
  // Under the lock: a PUT that waited behind another may find the upload already committed.
  const status = await loadUpload(deps.driver, ref.repo, ref.id);
  const { offset } = status;
  const dataPath = paths.uploadData(ref.repo, ref.id);
  if (status.committing) return finishInterruptedCommit(deps, status, expected);
  if (offset === 0) await deps.driver.writeAt(dataPath, 0, new Uint8Array(0)); // an empty blob: no PATCH ever came

  const actualHex = await finalHex(deps, ref, expected.algorithm, offset);
  if (actualHex !== expected.hex) {
    throw new RegistryError('DIGEST_INVALID', { expected: expected.value, actual: `${expected.algorithm}:${actualHex}` });
  }
  // Our PATCHes end synced; an upload another registry wrote may not be. Cheap when clean.
  await deps.driver.sync(dataPath);
  // Durable before the data moves: a process killed from here until the upload is removed leaves
  // an upload without data, and this record is what says which blob it became. A checkpoint
  // cannot always say it: bytes that arrived without their 202 (data ahead of the last
  // checkpoint) are committed too, and a sha512 upload has none (found by test/crash).
  await writeCommitRecord(deps.driver, ref, { digest: expected.value, size: offset });
  await deps.blobs.adopt(expected, dataPath);
  await deps.blobs.link(ref.repo, expected);
  await cancelUpload(deps.driver, ref);
  return { size: offset };
}

/**
 * The process died between moving the data into the blob store and dropping the upload
 * (interrupted-commit.ts). If the digest the commit recorded is the one asked for and the blob is
 * in place, the commit only lacks its last steps.
 */
async function finishInterruptedCommit(deps: CommitDeps, status: UploadStatus, expected: Digest): Promise<{ size: number }> {
  const { offset } = status;
  const actual = (await digestOfInterrupted(deps.driver, deps.engine, status))?.value;
  if (actual !== expected.value) throw new RegistryError('DIGEST_INVALID', { expected: expected.value, actual: actual ?? null, reason: 'the upload was committed as another digest' });
  if ((await deps.blobs.statGlobal(expected)) !== offset) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', { uuid: status.id, reason: 'an interrupted commit lost its data' });
  await deps.blobs.link(status.repo, expected);
  await cancelUpload(deps.driver, status);
  return { size: offset };
}

async function finalHex(deps: CommitDeps, ref: UploadRef, algorithm: Digest['algorithm'], offset: number): Promise<string> {
  if (algorithm === 'sha256') {
    const stored = offset === 0 ? undefined : await readCheckpointAt(deps.driver, ref.repo, ref.id, offset);
    const hasher = stored ? await deps.engine.resume(stored) : offset === 0 ? await deps.engine.fresh() : undefined;
    if (hasher && hasher.length === offset) return hasher.digestHex();
  }
  // No checkpoint at the end (a crash, another engine's, docker-registry's older one) or another
  // algorithm: a worker hashes from the nearest checkpoint, or from the start.
  return (await deps.pool.hashUpload({ repo: ref.repo, id: ref.id, size: offset, algorithm })).hex;
}
