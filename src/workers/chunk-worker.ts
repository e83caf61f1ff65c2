import { createHash } from 'node:crypto';
import { workerData } from 'piscina';
import { engineByName } from '../digest/select-engine.ts';
import { createDriver } from '../storage/factory.ts';
import { paths } from '../storage/paths.ts';
import type { PosixDriver } from '../storage/driver.ts';
import { storageFailureOf } from '../errors/to-registry-error.ts';
import { writeCheckpoint } from '../uploads/checkpoints.ts';
import { hashStored, restoreHasher } from '../uploads/restore-hash.ts';
import type { AppendChunkResult, AppendChunkTask, HashChunkTask, HashUploadResult, HashUploadTask, WorkerConfig } from './tasks.ts';

/**
 * A chunk worker: stateless. Every task names the upload, the offset and the checkpoint it
 * starts from, so any worker (or a restarted process, or another replica) can take any
 * upload's next chunk.
 */
const config = workerData as WorkerConfig;
/** Only the filesystem's tasks touch storage; over S3 or inmemory a worker only hashes (hashChunk). */
const fsDriver: PosixDriver | undefined = config.driver.filesystem === undefined ? undefined : createDriver(config.driver);
const engine = await engineByName(config.engine);

function filesystem(): PosixDriver {
  if (fsDriver === undefined) throw new Error('this task needs the filesystem driver; the pool was built for s3');
  return fsDriver;
}

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
  const driver = filesystem();
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
  const driver = filesystem();
  if (task.algorithm === 'sha256') {
    return { hex: (await restoreHasher(engine, driver, task, task.size, null)).digestHex() };
  }
  const hash = createHash(task.algorithm);
  await hashStored(driver, task, hash, 0, task.size);
  return { hex: hash.digest('hex') };
}

/**
 * One batch hashed on from the checkpoint it carries (the S3 upload path). A checkpoint that does
 * not load, or describes another length, is the caller's bug, not the client's: thrown.
 */
export async function hashChunk(task: HashChunkTask): Promise<AppendChunkResult> {
  const hasher = task.offset === 0 ? await engine.fresh() : task.checkpoint === null ? undefined : await engine.resume(task.checkpoint);
  if (hasher === undefined || hasher.length !== task.offset) throw new Error(`hashChunk: no usable checkpoint at offset ${task.offset}`);
  hasher.update(task.bytes);
  return { ok: true, offset: task.offset + task.bytes.length, checkpoint: hasher.save() };
}
