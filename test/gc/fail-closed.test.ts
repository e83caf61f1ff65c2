import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseDigest } from '../../src/digest/digest.ts';
import { GcAbortedError, garbageCollect, type GcOptions } from '../../src/gc/garbage-collect.ts';
import { createDriver } from '../../src/storage/factory.ts';
import { paths } from '../../src/storage/paths.ts';
import { expectStatus } from '../helpers/assertions.ts';
import { pushBlob, pushImage, send } from '../helpers/oci-client.ts';
import { startRegistry } from '../helpers/registry.ts';

/** Everything on disk counts as old: the clock is set past the grace period. */
function options(extra: Partial<GcOptions> = {}): GcOptions {
  return { dryRun: false, deleteUntagged: true, graceMs: 1000, now: Date.now() + 60_000, settleMs: 0, ...extra };
}

/** How the manifest's bytes go bad: each is a way readManifest used to say "references nothing". */
const corruptions: { name: string; reason: RegExp; apply: (file: string, bytes: Buffer) => Promise<void> }[] = [
  { name: 'truncated file', reason: /not JSON/, apply: (file, bytes) => truncate(file, Math.floor(bytes.length / 2)) },
  // An I/O error (EIO, EMFILE) on read, made real: the data is a directory, so read() fails (EISDIR).
  { name: 'read fails (EISDIR)', reason: /cannot read/, apply: async (file) => { await rm(file); await mkdir(file); } },
  { name: 'missing bytes', reason: /cannot read/, apply: (file) => rm(file) },
  { name: 'a type we do not parse', reason: /not a manifest we can parse/, apply: (file) => writeFile(file, JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.example.unknown+json' })) },
  { name: 'schema 1 without fsLayers', reason: /fsLayers/, apply: (file) => writeFile(file, JSON.stringify({ schemaVersion: 1, name: 'gc/app', tag: 'v1' })) },
];

test('garbage-collect: a manifest it cannot read or parse stops the run, names its path, deletes nothing (issue 9)', async (t) => {
  const registry = await startRegistry(t);
  const { url, root } = registry;
  const driver = createDriver({ filesystem: { rootdirectory: root } });
  const image = await pushImage(url, 'gc/app', 'v1', ['layer one', 'layer two']);
  const untagged = await pushImage(url, 'gc/other', 'gone', ['untagged layer']);
  expectStatus(await send(url, '/v2/gc/other/manifests/gone', { method: 'DELETE' }), 202);
  const orphan = await pushBlob(url, 'gc/app', randomBytes(1000));
  const onDisk = (digest: string): string => join(root, paths.blobData(parseDigest(digest)));
  const layers = (image.manifest['layers'] as { digest: string }[]).map((l) => l.digest);
  const everything = [image.digest, ...layers, untagged.digest, orphan];
  const file = onDisk(image.digest);

  for (const corruption of corruptions) {
    await corruption.apply(file, image.bytes);
    await assert.rejects(garbageCollect(driver, options()), (err: unknown) => {
      assert.ok(err instanceof GcAbortedError, `${corruption.name}: ${String(err)}`);
      assert.equal(err.unreadable.length, 1, corruption.name);
      assert.equal(err.unreadable[0]?.path, paths.blobData(parseDigest(image.digest)), corruption.name);
      assert.equal(err.unreadable[0]?.revision, `gc/app@${image.digest}`, corruption.name);
      assert.match(err.unreadable[0]?.reason ?? '', corruption.reason, corruption.name);
      assert.match(err.message, new RegExp(`gc/app@${image.digest}`));
      return true;
    });
    // Nothing deleted: no blob, and not the untagged manifest of the other repository either.
    for (const digest of everything.filter((d) => d !== image.digest)) assert.ok((await readFile(onDisk(digest))).length > 0, `${corruption.name}: ${digest} kept`);
    assert.deepEqual(await driver.list(paths.revisionsOfAlgorithm('gc/other', 'sha256')), [parseDigest(untagged.digest).hex], corruption.name);
    await rm(file, { recursive: true, force: true });
    await writeFile(file, image.bytes);
  }

  // The same root, readable again, is collected: the orphan and the untagged image were garbage.
  const report = await garbageCollect(driver, options());
  assert.ok(report.blobsDeleted.includes(orphan));
  assert.deepEqual(report.manifestsDeleted, [`gc/other@${untagged.digest}`]);
  for (const digest of [image.digest, ...layers]) assert.ok((await readFile(onDisk(digest))).length > 0);
});
