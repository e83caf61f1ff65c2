import { createHash } from 'node:crypto';
import { workerData } from 'piscina';
import { engineByName } from '../digest/select-engine.ts';
import { createDriver } from '../storage/factory.ts';
import { paths } from '../storage/paths.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { storageFailureOf } from '../errors/to-registry-error.ts';
import { writeCheckpoint } from '../uploads/checkpoints.ts';
import { hashStored, restoreHasher } from '../uploads/restore-hash.ts';
import type { AppendChunkResult, AppendChunkTask, HashUploadResult, HashUploadTask, WorkerConfig } from './tasks.ts';

/**
 * A chunk worker: stateless. Every task names the upload, the offset and the checkpoint it
 * starts from, so any worker (or a restarted process, or another replica) can take any
 * upload's next chunk.
 */
const config = workerData as WorkerConfig;
const driver: StorageDriver = createDriver(config.driver);
const engine = await engineByName(config.engine);

export async function appendChunk(task: AppendChunkTask): Promise<AppendChunkResult> {
  try {
    return await append(task);
  } catch (err) {
    // The data file not where the caller thinks, the upload cancelled, the disk full: a tag.
    const failure = storageFailureOf(err);
    if (failure) return { ok: false, ...failure };
    throw err;
  }
}

async function append(task: AppendChunkTask): Promise<AppendChunkResult> {
  const dataPath = paths.uploadData(task.repo, task.id);
  if (task.checkpoint === null && task.offset > 0) {
    // The first batch of a request restores its hash from storage: check the size before reading.
    const size = (await driver.stat(dataPath))?.size ?? 0;
    if (size !== task.offset) return { ok: false, reason: 'offset-mismatch', size };
  }
  const hasher = await restoreHasher(engine, driver, task, task.offset, task.checkpoint);
  // The write runs on libuv's pool while this thread hashes: both only read the bytes.
  const writing = driver.writeAt(dataPath, task.offset, task.bytes);
  try {
    hasher.update(task.bytes);
  } finally {
    // A failed write (the data file not at task.offset, the disk full) is what this task reports.
    await writing;
  }
  const offset = task.offset + task.bytes.length;
  const checkpoint = hasher.save();
  if (task.persist) {
    // Data first, then the checkpoint that claims it (habit 6): a checkpoint never runs ahead.
    await driver.sync(dataPath);
    await writeCheckpoint(driver, task.repo, task.id, offset, checkpoint);
  }
  return { ok: true, offset, checkpoint };
}

/** The digest of an upload's bytes [0, size): from a checkpoint plus the gap, or (sha512) all of it. */
export async function hashUpload(task: HashUploadTask): Promise<HashUploadResult> {
  if (task.algorithm === 'sha256') {
    return { hex: (await restoreHasher(engine, driver, task, task.size, null)).digestHex() };
  }
  const hash = createHash(task.algorithm);
  await hashStored(driver, task, hash, 0, task.size);
  return { hex: hash.digest('hex') };
}
