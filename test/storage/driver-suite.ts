import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OffsetMismatchError, PathNotFoundError, type ObjectStore, type PosixDriver, type StorageDriver } from '../../src/storage/driver.ts';

type Cleanup = { after: (fn: () => Promise<void>) => void };

/** The bytes [start, end] of `path` through the driver's reader, as text. */
async function readText(driver: ObjectStore, path: string, start?: number, end?: number): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of await driver.reader(path, start, end)) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString();
}

/**
 * The one conformance suite every storage driver passes (distribution's testsuites habit):
 * objectStoreSuite for what every driver has (the ObjectStore seam), driverSuite for what the
 * registry needs of every driver (touch, which GC rests on), posixDriverSuite for the
 * filesystem's POSIX extras on top. `makeDriver` returns a driver over a fresh, empty root and
 * registers its own cleanup.
 */
export function driverSuite(name: string, makeDriver: (t: Cleanup) => Promise<StorageDriver>): void {
  objectStoreSuite(name, makeDriver);

  test(`${name} driver: touch moves modifiedAt forward; a missing path is false`, async (t) => {
    const driver = await makeDriver(t);
    await driver.putContent('/t/link', 'sha256:0');
    const before = (await driver.stat('/t/link'))?.modifiedAt.getTime() ?? Number.NaN;
    // Filesystem mtimes can be as coarse as the clock tick; poll until one has passed.
    const deadline = Date.now() + 5000;
    let after = before;
    while (after <= before && Date.now() < deadline) {
      assert.equal(await driver.touch('/t/link'), true);
      after = (await driver.stat('/t/link'))?.modifiedAt.getTime() ?? Number.NaN;
    }
    assert.ok(after > before, `modifiedAt ${after} after touch, ${before} before`);
    assert.equal(await driver.touch('/t/none'), false);
  });

}

/** The filesystem's extras: writeAt and sync, which its upload path uses. */
export function posixDriverSuite(name: string, makeDriver: (t: Cleanup) => Promise<PosixDriver>): void {
  driverSuite(name, makeDriver);

  test(`${name} driver: writeAt appends, cuts a longer file back to the offset, refuses a gap`, async (t) => {
    const driver = await makeDriver(t);
    await driver.writeAt('/u/data', 0, Buffer.from('hello'));
    await driver.writeAt('/u/data', 5, Buffer.from(' world'));
    assert.equal((await driver.getContent('/u/data')).toString(), 'hello world');
    await driver.writeAt('/u/data', 5, Buffer.from('!'));
    assert.equal((await driver.getContent('/u/data')).toString(), 'hello!');
    await assert.rejects(driver.writeAt('/u/data', 100, Buffer.from('x')), OffsetMismatchError);
    await assert.rejects(driver.writeAt('/u/absent', 3, Buffer.from('x')), OffsetMismatchError);
    await driver.sync('/u/data');
  });

  test(`${name} driver: concurrent writeAt on two files keeps each whole`, async (t) => {
    const driver = await makeDriver(t);
    const a = Buffer.alloc(256 * 1024, 'a');
    const b = Buffer.alloc(256 * 1024, 'b');
    await Promise.all([driver.writeAt('/w/a', 0, a), driver.writeAt('/w/b', 0, b)]);
    await Promise.all([driver.writeAt('/w/a', a.length, a), driver.writeAt('/w/b', b.length, b)]);
    assert.deepEqual(await driver.getContent('/w/a'), Buffer.concat([a, a]));
    assert.deepEqual(await driver.getContent('/w/b'), Buffer.concat([b, b]));
  });
}

/** What every driver passes, object stores included (issue 10). */
export function objectStoreSuite(name: string, makeDriver: (t: Cleanup) => Promise<ObjectStore>): void {
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

  test(`${name} driver: reader streams a byte range; missing → PathNotFoundError`, async (t) => {
    const driver = await makeDriver(t);
    await driver.putContent('/r', '0123456789');
    const read = (start?: number, end?: number): Promise<string> => readText(driver, '/r', start, end);
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

  test(`${name} driver: move onto an existing file replaces it; stat of a folder`, async (t) => {
    const driver = await makeDriver(t);
    await driver.putContent('/m/src', 'new');
    await driver.putContent('/m/dst', 'old, longer');
    await driver.move('/m/src', '/m/dst');
    assert.equal((await driver.getContent('/m/dst')).toString(), 'new');
    assert.equal(await driver.stat('/m/src'), undefined);
    assert.deepEqual(await driver.list('/m'), ['dst']);
    assert.equal((await driver.stat('/m'))?.isDirectory, true);
    assert.equal((await driver.stat('/m/dst'))?.isDirectory, false);
  });

  test(`${name} driver: a reader past the end is empty; a range is cut at the end`, async (t) => {
    const driver = await makeDriver(t);
    await driver.putContent('/p', '0123456789');
    const read = (start?: number, end?: number): Promise<string> => readText(driver, '/p', start, end);
    assert.equal(await read(10), '');
    assert.equal(await read(50), '');
    assert.equal(await read(8, 20), '89');
  });

  test(`${name} driver: "not found" is PathNotFoundError everywhere it is an error`, async (t) => {
    const driver = await makeDriver(t);
    await driver.putContent('/e/file', 'x');
    for (const attempt of [() => driver.getContent('/e/none'), () => driver.getContent('/e'), () => driver.reader('/e/none'), () => driver.move('/e/none', '/e/other')]) {
      await assert.rejects(attempt, (err: unknown) => err instanceof PathNotFoundError && err.path.startsWith('/e'));
    }
    // Absence is an answer, not an error, for these.
    assert.equal(await driver.stat('/e/none'), undefined);
    assert.deepEqual(await driver.list('/e/none'), []);
    await driver.delete('/e/none');
  });

  test(`${name} driver: concurrent putContent: each path ends whole, one writer's content wins`, async (t) => {
    const driver = await makeDriver(t);
    const contents = Array.from({ length: 8 }, (_, i) => Buffer.alloc(64 * 1024 + i, String.fromCharCode(97 + i)));
    await Promise.all(contents.map((c) => driver.putContent('/c/same', c)));
    const final = await driver.getContent('/c/same');
    assert.ok(contents.some((c) => c.equals(final)), "the file is one writer's content, whole");
    await Promise.all(contents.map((c, i) => driver.putContent(`/c/each/${i}`, c)));
    assert.deepEqual(await driver.list('/c/each'), contents.map((_, i) => String(i)));
    for (const [i, c] of contents.entries()) assert.deepEqual(await driver.getContent(`/c/each/${i}`), c);
    assert.deepEqual(await driver.list('/c'), ['each', 'same']);
  });
}
