import { createHash } from 'node:crypto';
import { workerData } from 'piscina';
import { engineByName } from '../digest/select-engine.ts';
import type { Sha256Hasher } from '../digest/engine.ts';
import { createDriver } from '../storage/factory.ts';
import { paths } from '../storage/paths.ts';
import type { StorageDriver } from '../storage/driver.ts';
import type { AppendChunkResult, AppendChunkTask, HashUploadResult, HashUploadTask, WorkerConfig } from './tasks.ts';
import { readCheckpointAt, writeCheckpoint } from '../uploads/checkpoints.ts';

/**
 * A chunk worker: stateless. Every task names the upload, the offset and the checkpoint it
 * starts from, so any worker (or a restarted process) can take any upload's next chunk.
 */
const config = workerData as WorkerConfig;
const driver: StorageDriver = createDriver(config.driver);
const engine = engineByName(config.engine);

export async function appendChunk(task: AppendChunkTask): Promise<AppendChunkResult> {
  const dataPath = paths.uploadData(task.repo, task.id);
  const size = task.offset === 0 ? 0 : ((await driver.stat(dataPath))?.size ?? 0);
  if (size < task.offset) return { ok: false, reason: 'offset-mismatch', size };

  const hasher = await hasherAt(task, dataPath);
  // Data first, then the checkpoint that claims it (habit 6): a checkpoint never runs ahead.
  await driver.writeAt(dataPath, task.offset, task.bytes);
  hasher.update(task.bytes);
  const offset = task.offset + task.bytes.length;
  const checkpoint = hasher.save();
  if (task.persist) {
    await driver.sync(dataPath);
    await writeCheckpoint(driver, task.repo, task.id, offset, checkpoint);
  }
  return { ok: true, offset, checkpoint };
}

/** The hash state at the task's offset: carried, stored, or (fallback) re-hashed from the data. */
async function hasherAt(task: AppendChunkTask, dataPath: string): Promise<Sha256Hasher> {
  if (task.offset === 0) return engine.fresh();
  const carried = task.checkpoint ? await engine.resume(task.checkpoint) : undefined;
  if (carried && carried.length === task.offset) return carried;
  const stored = await readCheckpointAt(driver, task.repo, task.id, task.offset);
  const resumed = stored ? await engine.resume(stored) : undefined;
  if (resumed && resumed.length === task.offset) return resumed;
  // Fall back to the slowest path (distribution blobwriter.go): hash what is stored.
  const hasher = await engine.fresh();
  for await (const chunk of await driver.reader(dataPath, 0, task.offset - 1)) hasher.update(chunk as Buffer);
  return hasher;
}

/** Hashes an upload's bytes [0, size) from storage: sha512 digests, or no usable checkpoint. */
export async function hashUpload(task: HashUploadTask): Promise<HashUploadResult> {
  const hash = createHash(task.algorithm);
  if (task.size > 0) {
    for await (const chunk of await driver.reader(paths.uploadData(task.repo, task.id), 0, task.size - 1)) hash.update(chunk as Buffer);
  }
  return { hex: hash.digest('hex') };
}
