import { paths } from '../storage/paths.ts';
import { getContentIfExists, type PosixDriver } from '../storage/driver.ts';

/**
 * SHA-256 checkpoints of an upload, keyed by the offset they describe
 * (`_uploads/<id>/hashstates/sha256/<offset>`, distribution's layout and format).
 *
 * The upload's data file is the truth about its size; a checkpoint is a shortcut to the hash of
 * a prefix of it. A checkpoint at offset N is written only after bytes [0, N) were made durable,
 * so it never describes bytes a crash could take back. The checkpoint file itself is not synced:
 * if a crash loses it, the next reader takes an older one, or none, and hashes the gap from the
 * data (distribution's "mind the gap", blobwriter_resumable.go).
 */
export async function listCheckpointOffsets(driver: PosixDriver, repo: string, id: string): Promise<number[]> {
  const names = await driver.list(paths.uploadHashStates(repo, id));
  return names
    .filter((n) => /^(0|[1-9][0-9]{0,15})$/.test(n))
    .map(Number)
    .sort((a, b) => a - b);
}

export async function readCheckpointAt(driver: PosixDriver, repo: string, id: string, offset: number): Promise<Uint8Array | undefined> {
  return getContentIfExists(driver, paths.uploadHashState(repo, id, offset));
}

export interface Checkpoint {
  readonly offset: number;
  readonly bytes: Uint8Array;
}

/** Stored checkpoints at or below `size`, newest first: callers try each until one loads. */
export async function checkpointsAtOrBelow(driver: PosixDriver, repo: string, id: string, size: number): Promise<Checkpoint[]> {
  const offsets = (await listCheckpointOffsets(driver, repo, id)).filter((o) => o <= size && o > 0).reverse();
  const found: Checkpoint[] = [];
  for (const offset of offsets) {
    const bytes = await readCheckpointAt(driver, repo, id, offset);
    if (bytes) found.push({ offset, bytes });
  }
  return found;
}

/**
 * Stores the checkpoint for `offset` (the data below it is already durable) and drops the
 * older ones. Not synced: see above.
 */
export async function writeCheckpoint(driver: PosixDriver, repo: string, id: string, offset: number, checkpoint: Uint8Array): Promise<void> {
  await driver.putContent(paths.uploadHashState(repo, id, offset), checkpoint, { durable: false });
  for (const older of await listCheckpointOffsets(driver, repo, id)) {
    if (older < offset) await driver.delete(paths.uploadHashState(repo, id, older));
  }
}
