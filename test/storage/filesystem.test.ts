import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FilesystemDriver } from '../../src/storage/filesystem/driver.ts';
import { PathNotFoundError } from '../../src/storage/driver.ts';
import { posixDriverSuite } from './driver-suite.ts';
import { BatchBuffers } from '../../src/uploads/batch-buffers.ts';

posixDriverSuite('filesystem', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'quayside-fs-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  return new FilesystemDriver(root);
});

test('filesystem driver: a path that would leave the root is refused', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'quayside-fs-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const driver = new FilesystemDriver(root);
  await assert.rejects(driver.putContent('/../escape', 'x'), /escapes root/);
  await assert.rejects(driver.stat('/a/../../etc/passwd'), /escapes root/);
});

/** Writes `data` in batches of odd sizes through aligned batch views, as the upload pipeline does. */
async function writeInBatches(driver: FilesystemDriver, path: string, data: Buffer, cuts: readonly number[]): Promise<void> {
  const buffers = new BatchBuffers(512 * 1024, 4);
  let at = 0;
  for (const cut of [...cuts, data.length]) {
    const view = buffers.acquire(at).subarray(0, cut - at);
    view.set(data.subarray(at, cut));
    await driver.writeAt(path, at, view);
    buffers.release(view);
    at = cut;
  }
}

test('filesystem driver: O_DIRECT middles with page-cache heads and tails, at odd offsets, round-trip', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'quayside-fs-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const driver = new FilesystemDriver(root, { directIo: true });
  const data = randomBytes(1_000_003);
  // Cuts that leave every kind of misalignment: 1 byte, just under and over a block, a whole batch.
  await writeInBatches(driver, '/u/data', data, [1, 4095, 4097, 12_289, 200_000, 456_789, 712_001]);
  await driver.sync('/u/data');
  assert.ok((await readFile(join(root, 'u', 'data'))).equals(data));
});

test('filesystem driver: a filesystem that refuses O_DIRECT (tmpfs) falls back to buffered writes', { skip: !existsSync('/dev/shm') && 'no /dev/shm' }, async (t) => {
  const root = await mkdtemp(join('/dev/shm', 'quayside-fs-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const driver = new FilesystemDriver(root, { directIo: true });
  const data = randomBytes(300_001);
  await writeInBatches(driver, '/u/data', data, [5, 100_000]);
  assert.ok((await readFile(join(root, 'u', 'data'))).equals(data));
});

test('filesystem driver: large ranges read with O_DIRECT return exactly the bytes asked for, at odd edges', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'quayside-fs-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const driver = new FilesystemDriver(root, { directIo: true });
  const data = randomBytes(9 * 1024 * 1024 + 123);
  await driver.putContent('/blob', data);
  const read = async (start: number, end: number): Promise<Buffer> => {
    const parts: Buffer[] = [];
    for await (const chunk of await driver.reader('/blob', start, end)) parts.push(chunk as Buffer);
    return Buffer.concat(parts);
  };
  for (const [start, end] of [[0, data.length - 1], [1, data.length - 2], [4095, 4096 + 5 * 1024 * 1024], [4096, data.length - 1], [3, 4 * 1024 * 1024 + 2]] as const) {
    assert.ok((await read(start, end)).equals(data.subarray(start, end + 1)), `${start}-${end}`);
  }
  await assert.rejects(driver.reader('/missing', 0, 8 * 1024 * 1024), PathNotFoundError);
});
