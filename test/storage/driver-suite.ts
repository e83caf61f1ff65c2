import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PathNotFoundError, type StorageDriver } from '../../src/storage/driver.ts';

/**
 * The one conformance suite every storage driver passes (distribution's testsuites habit).
 * `makeDriver` returns a driver over a fresh, empty root and registers its own cleanup.
 */
export function driverSuite(name: string, makeDriver: (t: { after: (fn: () => Promise<void>) => void }) => Promise<StorageDriver>): void {
  test(`${name} driver: putContent/getContent round trip, replace, and not-found`, async (t) => {
    const driver = await makeDriver(t);
    await driver.putContent('/a/b/c', 'one');
    assert.equal((await driver.getContent('/a/b/c')).toString(), 'one');
    await driver.putContent('/a/b/c', Buffer.from('two!'));
    assert.equal((await driver.getContent('/a/b/c')).toString(), 'two!');
    await assert.rejects(driver.getContent('/a/b/missing'), PathNotFoundError);
    await assert.rejects(driver.getContent('/a/b'), PathNotFoundError);
  });

  test(`${name} driver: stat and list (sorted, [] for a missing directory, no temp files)`, async (t) => {
    const driver = await makeDriver(t);
    await driver.putContent('/d/z', 'z');
    await driver.putContent('/d/a', 'aa');
    await driver.putContent('/d/m/x', 'x');
    assert.deepEqual(await driver.list('/d'), ['a', 'm', 'z']);
    assert.deepEqual(await driver.list('/nothing'), []);
    assert.equal((await driver.stat('/d/a'))?.size, 2);
    assert.equal((await driver.stat('/d/m'))?.isDirectory, true);
    assert.equal(await driver.stat('/d/none'), undefined);
  });

  test(`${name} driver: writeAt appends, cuts a longer file back to the offset, refuses a gap`, async (t) => {
    const driver = await makeDriver(t);
    await driver.writeAt('/u/data', 0, Buffer.from('hello'));
    await driver.writeAt('/u/data', 5, Buffer.from(' world'));
    assert.equal((await driver.getContent('/u/data')).toString(), 'hello world');
    await driver.writeAt('/u/data', 5, Buffer.from('!'));
    assert.equal((await driver.getContent('/u/data')).toString(), 'hello!');
    await assert.rejects(driver.writeAt('/u/data', 100, Buffer.from('x')));
    await driver.sync('/u/data');
  });

  test(`${name} driver: reader streams a byte range; missing → PathNotFoundError`, async (t) => {
    const driver = await makeDriver(t);
    await driver.putContent('/r', '0123456789');
    const read = async (start?: number, end?: number): Promise<string> => {
      const parts: Buffer[] = [];
      for await (const chunk of await driver.reader('/r', start, end)) parts.push(chunk as Buffer);
      return Buffer.concat(parts).toString();
    };
    assert.equal(await read(), '0123456789');
    assert.equal(await read(2, 4), '234');
    assert.equal(await read(7), '789');
    await assert.rejects(driver.reader('/missing'), PathNotFoundError);
  });

  test(`${name} driver: move creates parents and replaces; delete removes trees and ignores absent`, async (t) => {
    const driver = await makeDriver(t);
    await driver.putContent('/from', 'moved');
    await driver.move('/from', '/to/deep/file');
    assert.equal((await driver.getContent('/to/deep/file')).toString(), 'moved');
    assert.equal(await driver.stat('/from'), undefined);
    await assert.rejects(driver.move('/from', '/elsewhere'), PathNotFoundError);
    await driver.delete('/to');
    assert.equal(await driver.stat('/to/deep/file'), undefined);
    await driver.delete('/to');
  });
}
