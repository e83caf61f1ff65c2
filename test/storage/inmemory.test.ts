import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InMemoryDriver } from '../../src/storage/inmemory/driver.ts';
import { driverSuite } from './driver-suite.ts';

driverSuite('inmemory', async () => new InMemoryDriver());

test('inmemory driver: two drivers share nothing; clear() drops every file', async () => {
  const one = new InMemoryDriver();
  const two = new InMemoryDriver();
  await one.putContent('/a/file', 'one');
  assert.equal(await two.stat('/a/file'), undefined);
  assert.equal(one.bytesStored(), 3);
  one.clear();
  assert.equal(await one.stat('/a/file'), undefined);
  assert.deepEqual(await one.list('/'), []);
  assert.equal(one.bytesStored(), 0);
});

test('inmemory driver: a folder goes when its last file does; putContent copies the caller\'s buffer', async () => {
  const driver = new InMemoryDriver();
  await driver.putContent('/x/y/z', 'z');
  await driver.putContent('/x/keep', 'k');
  await driver.delete('/x/y/z');
  assert.deepEqual(await driver.list('/x'), ['keep']);
  const bytes = Buffer.from('before');
  await driver.putContent('/copy', bytes);
  bytes.write('AFTER!');
  assert.equal((await driver.getContent('/copy')).toString(), 'before');
  await assert.rejects(driver.putContent('/x', 'a folder is there'), /is a folder/);
});
