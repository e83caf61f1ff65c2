import { paths } from '../storage/paths.ts';
import { PathNotFoundError, type StorageDriver } from '../storage/driver.ts';

/**
 * SHA-256 checkpoints of an upload, keyed by the offset they describe
 * (`_uploads/<id>/hashstates/sha256/<offset>`, distribution's layout and format). A checkpoint at
 * offset N is written only after bytes [0, N) are durable, so the newest one is the upload's
 * acknowledged size.
 */
export async function listCheckpointOffsets(driver: StorageDriver, repo: string, id: string): Promise<number[]> {
  const names = await driver.list(paths.uploadHashStates(repo, id));
  return names
    .filter((n) => /^(0|[1-9][0-9]{0,15})$/.test(n))
    .map(Number)
    .sort((a, b) => a - b);
}

export async function readCheckpointAt(driver: StorageDriver, repo: string, id: string, offset: number): Promise<Uint8Array | undefined> {
  try {
    return await driver.getContent(paths.uploadHashState(repo, id, offset));
  } catch (err) {
    if (err instanceof PathNotFoundError) return undefined;
    throw err;
  }
}

export interface LatestCheckpoint {
  readonly offset: number;
  readonly checkpoint: Uint8Array | null;
}

/** The newest checkpoint, or offset 0 when the upload has none yet. */
export async function latestCheckpoint(driver: StorageDriver, repo: string, id: string): Promise<LatestCheckpoint> {
  const offsets = await listCheckpointOffsets(driver, repo, id);
  const offset = offsets.at(-1);
  if (offset === undefined) return { offset: 0, checkpoint: null };
  return { offset, checkpoint: (await readCheckpointAt(driver, repo, id, offset)) ?? null };
}

/** Writes the checkpoint durably, then drops the older ones (the newest is the only one read). */
export async function writeCheckpoint(driver: StorageDriver, repo: string, id: string, offset: number, checkpoint: Uint8Array): Promise<void> {
  await driver.putContent(paths.uploadHashState(repo, id, offset), checkpoint);
  for (const older of await listCheckpointOffsets(driver, repo, id)) {
    if (older < offset) await driver.delete(paths.uploadHashState(repo, id, older));
  }
}
