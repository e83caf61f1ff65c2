import type { Digest } from '../digest/digest.ts';
import { RegistryError } from '../errors/registry-error.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { paths } from '../storage/paths.ts';
import type { PipelineDeps } from './pipeline.ts';
import { cancelUpload, loadUpload, type UploadRef } from './session.ts';

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
  const { offset, checkpoint } = await loadUpload(deps.driver, ref.repo, ref.id);
  const dataPath = paths.uploadData(ref.repo, ref.id);
  await trimToCheckpoint(deps, dataPath, offset);

  const actualHex = await finalHex(deps, ref, expected.algorithm, offset, checkpoint);
  if (actualHex !== expected.hex) {
    throw new RegistryError('DIGEST_INVALID', { expected: expected.value, actual: `${expected.algorithm}:${actualHex}` });
  }
  await deps.blobs.adopt(expected, dataPath);
  await deps.blobs.link(ref.repo, expected);
  await cancelUpload(deps.driver, ref);
  return { size: offset };
}

/** Bytes past the last checkpoint were never acknowledged (a crash mid-PATCH): cut them off. */
async function trimToCheckpoint(deps: PipelineDeps, dataPath: string, offset: number): Promise<void> {
  const data = await deps.driver.stat(dataPath);
  if (data?.size === offset) return;
  if (data && data.size < offset) throw new Error(`upload data (${data.size} bytes) shorter than its checkpoint (${offset})`);
  await deps.driver.writeAt(dataPath, offset, new Uint8Array(0));
  await deps.driver.sync(dataPath);
}

async function finalHex(deps: PipelineDeps, ref: UploadRef, algorithm: Digest['algorithm'], offset: number, checkpoint: Uint8Array | null): Promise<string> {
  if (algorithm === 'sha256' && checkpoint) {
    const hasher = await deps.engine.resume(checkpoint);
    if (hasher && hasher.length === offset) return hasher.digestHex();
  }
  // No usable checkpoint (another engine's, a damaged one) or another algorithm: hash the data.
  return (await deps.pool.hashUpload({ repo: ref.repo, id: ref.id, size: offset, algorithm })).hex;
}
