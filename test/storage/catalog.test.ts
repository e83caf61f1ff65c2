import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Catalog } from '../../src/storage/catalog.ts';
import { FilesystemDriver } from '../../src/storage/filesystem/driver.ts';
import { paths } from '../../src/storage/paths.ts';
import type { StorageDriver } from '../../src/storage/driver.ts';

/** A repository as another process makes one: a file under its `_uploads`, written straight to storage. */
async function makeRepository(driver: StorageDriver, repo: string): Promise<void> {
  await driver.putContent(paths.uploadStartedAt(repo, 'u1'), new Date().toISOString());
}

async function setUp(t: { after: (fn: () => Promise<void>) => void }): Promise<{ driver: StorageDriver; clock: { now: number }; catalog: Catalog }> {
  const root = await mkdtemp(join(tmpdir(), 'quayside-catalog-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const driver = new FilesystemDriver(root);
  const clock = { now: 1_000_000 };
  return { driver, clock, catalog: new Catalog(driver, 1000, () => clock.now) };
}

test('catalog: one walk serves until the TTL; a repository made elsewhere shows after it', async (t) => {
  const { driver, clock, catalog } = await setUp(t);
  await makeRepository(driver, 'a');
  assert.deepEqual(await catalog.names(), ['a']);
  await makeRepository(driver, 'b/c');
  clock.now += 999;
  assert.deepEqual(await catalog.names(), ['a'], 'within the TTL the snapshot answers, storage is not walked');
  clock.now += 1;
  assert.deepEqual(await catalog.names(), ['a', 'b/c']);
});

test('catalog: a repository written through this process (noteWrite) shows at once; a known one keeps the snapshot', async (t) => {
  const { driver, clock, catalog } = await setUp(t);
  await makeRepository(driver, 'a');
  assert.deepEqual(await catalog.names(), ['a']);
  await makeRepository(driver, 'z');
  catalog.noteWrite('a');
  assert.deepEqual(await catalog.names(), ['a'], 'a write into a listed repository does not walk again');
  catalog.noteWrite('z');
  assert.deepEqual(await catalog.names(), ['a', 'z']);
  clock.now += 10;
  assert.deepEqual(await catalog.names(), ['a', 'z']);
});

test('catalog: concurrent callers share a walk; a write during a walk makes the next caller walk again', async (t) => {
  const { driver, catalog } = await setUp(t);
  await makeRepository(driver, 'a');
  const first = catalog.names();
  const second = catalog.names();
  assert.equal(first, second, 'one walk for both');
  // A repository is created while that walk may already have passed it.
  await makeRepository(driver, 'b');
  catalog.noteWrite('b');
  const third = catalog.names();
  assert.notEqual(third, first);
  await first;
  assert.deepEqual(await third, ['a', 'b']);
  // The raced walk was not kept: the next answer still has b.
  assert.deepEqual(await catalog.names(), ['a', 'b']);
});
