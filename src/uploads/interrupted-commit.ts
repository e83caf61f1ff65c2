import { sha256Digest, tryParseDigest, type Digest } from '../digest/digest.ts';
import type { Sha256Engine } from '../digest/engine.ts';
import { RegistryError } from '../errors/registry-error.ts';
import type { PosixDriver } from '../storage/driver.ts';
import { paths } from '../storage/paths.ts';
import { readCheckpointAt } from './checkpoints.ts';
import type { UploadStatus } from './session.ts';

/**
 * A commit records which blob the upload becomes, moves the data into the blob store, links it,
 * then drops the upload. A process killed in between leaves an upload without data whose commit
 * record (from versions before the record: last checkpoint) says what that data hashed to
 * (session.ts `committing`). Both ways on are kept open:
 *   - PUT ?digest= again: the commit's last steps are done (commit.ts);
 *   - PATCH more bytes: the data comes back from the blob store first (this file).
 * Found by the kill test (test/crash): 11-25 of 50 kill points landed inside a commit.
 */
export async function digestOfInterrupted(driver: PosixDriver, engine: Sha256Engine, status: UploadStatus): Promise<Digest | undefined> {
  if (status.committedAs !== undefined) return tryParseDigest(status.committedAs);
  const checkpoint = await readCheckpointAt(driver, status.repo, status.id, status.offset);
  const hasher = checkpoint ? await engine.resume(checkpoint) : undefined;
  return hasher && hasher.length === status.offset ? sha256Digest(hasher.digestHex()) : undefined;
}

/**
 * Copies the committed blob back as the upload's data, so the upload can go on growing. The copy
 * is built beside the data file and renamed into place: a kill halfway leaves the upload as it
 * was (mid-commit), never a short data file that would make the upload look smaller than the
 * 202s acknowledged.
 */
export async function restoreInterruptedData(driver: PosixDriver, engine: Sha256Engine, status: UploadStatus): Promise<void> {
  const { offset } = status;
  const digest = await digestOfInterrupted(driver, engine, status);
  const blob = digest ? await driver.stat(paths.blobData(digest)) : undefined;
  if (!digest || blob?.size !== offset) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', { uuid: status.id, reason: 'an interrupted commit lost its data' });
  const target = paths.uploadData(status.repo, status.id);
  const copy = paths.uploadDataRestoring(status.repo, status.id);
  let at = 0;
  for await (const chunk of await driver.reader(paths.blobData(digest), 0, offset - 1)) {
    await driver.writeAt(copy, at, chunk as Buffer);
    at += (chunk as Buffer).length;
  }
  await driver.sync(copy);
  await driver.move(copy, target);
}
