import type { Sha256Engine, Sha256Hasher } from '../digest/engine.ts';
import type { PosixDriver } from '../storage/driver.ts';
import { paths } from '../storage/paths.ts';
import { checkpointsAtOrBelow } from './checkpoints.ts';
import type { UploadRef } from './session.ts';

/**
 * The SHA-256 state of an upload's first `offset` bytes, by the cheapest path that is correct:
 * the checkpoint the caller carries, else the newest stored one that loads (any engine's, or
 * docker-registry's), plus the gap after it hashed from the data; else the whole prefix.
 */
export async function restoreHasher(engine: Sha256Engine, driver: PosixDriver, ref: UploadRef, offset: number, carried: Uint8Array | null): Promise<Sha256Hasher> {
  if (offset === 0) return engine.fresh();
  if (carried) {
    const hasher = await engine.resume(carried);
    if (hasher && hasher.length === offset) return hasher;
  }
  for (const checkpoint of await checkpointsAtOrBelow(driver, ref.repo, ref.id, offset)) {
    const hasher = await engine.resume(checkpoint.bytes);
    // A checkpoint must describe exactly the offset it is filed under, or it is not trusted.
    if (!hasher || hasher.length !== checkpoint.offset) continue;
    await hashStored(driver, ref, hasher, checkpoint.offset, offset);
    return hasher;
  }
  // The slowest path (distribution blobwriter.go): hash everything stored.
  const hasher = await engine.fresh();
  await hashStored(driver, ref, hasher, 0, offset);
  return hasher;
}

/** Feeds stored upload bytes [from, to) to `hasher`. */
export async function hashStored(driver: PosixDriver, ref: UploadRef, hasher: { update(bytes: Uint8Array): unknown }, from: number, to: number): Promise<void> {
  if (to <= from) return;
  for await (const chunk of await driver.reader(paths.uploadData(ref.repo, ref.id), from, to - 1)) hasher.update(chunk as Buffer);
}
