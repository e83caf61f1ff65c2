import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FilesystemDriver } from '../../src/storage/filesystem/driver.ts';
import { driverSuite } from './driver-suite.ts';

driverSuite('filesystem', async (t) => {
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
