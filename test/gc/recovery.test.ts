import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseDigest } from '../../src/digest/digest.ts';
import { garbageCollect, type GcOptions } from '../../src/gc/garbage-collect.ts';
import { createDriver } from '../../src/storage/factory.ts';
import { paths } from '../../src/storage/paths.ts';
import { pushBlob, pushImage, send } from '../helpers/oci-client.ts';
import { startRegistry } from '../helpers/registry.ts';

class SimulatedCrash extends Error {}

/** Everything on disk counts as old: the clock is set past the grace period. */
function options(extra: Partial<GcOptions> = {}): GcOptions {
  return { dryRun: false, deleteUntagged: false, graceMs: 1000, now: Date.now() + 60_000, settleMs: 0, ...extra };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/** A collection that dies right after moving its batch aside (the process killed mid-delete). */
async function crashMidDelete(root: string): Promise<readonly string[]> {
  let aside: readonly string[] = [];
  const crash = async (digests: readonly string[]): Promise<void> => {
    aside = digests;
    throw new SimulatedCrash();
  };
  await assert.rejects(garbageCollect(createDriver({ filesystem: { rootdirectory: root } }), options({ afterAside: crash })), SimulatedCrash);
  return aside;
}

test('garbage-collect: blobs a crashed run left aside are put back at the next registry start (journal)', async (t) => {
  const first = await startRegistry(t);
  const { root } = first;
  const orphan = await pushBlob(first.url, 'gc/crash', randomBytes(1000));
  assert.deepEqual(await crashMidDelete(root), [orphan]);
  assert.ok(await exists(join(root, paths.blobDataAside(parseDigest(orphan)))), 'left aside');
  assert.ok(await exists(join(root, paths.gcAsideJournal)), 'journal written before the move');
  await first.registry.close(1000);

  const second = await startRegistry(t, { root });
  assert.equal((await send(second.url, `/v2/gc/crash/blobs/${orphan}`, { method: 'HEAD' })).status, 200);
  assert.equal(await exists(join(root, paths.blobDataAside(parseDigest(orphan)))), false);
  assert.equal(await exists(join(root, paths.gcAsideJournal)), false);
});

test('garbage-collect: the next run puts back what a crashed run left aside, then judges it again', async (t) => {
  const { url, root } = await startRegistry(t);
  const image = await pushImage(url, 'gc/crash', 'v1', ['kept layer']);
  const orphan = await pushBlob(url, 'gc/crash', randomBytes(1000));
  await crashMidDelete(root);
  // A referenced layer aside with no journal: what a crash of a build before the journal left.
  const layer = (image.manifest['layers'] as { digest: string }[])[0]?.digest ?? '';
  await rename(join(root, paths.blobData(parseDigest(layer))), join(root, paths.blobDataAside(parseDigest(layer))));

  const report = await garbageCollect(createDriver({ filesystem: { rootdirectory: root } }), options());
  assert.equal(report.restoredAside, 2);
  assert.deepEqual(report.blobsDeleted, [orphan]); // put back, still garbage: deleted properly this time
  assert.ok(await exists(join(root, paths.blobData(parseDigest(layer)))));
  assert.equal(await exists(join(root, paths.blobDataAside(parseDigest(layer)))), false);
  assert.equal(await exists(join(root, paths.blobDataAside(parseDigest(orphan)))), false);
  assert.equal(await exists(join(root, paths.gcAsideJournal)), false);
  assert.equal((await send(url, `/v2/gc/crash/blobs/${layer}`, { method: 'HEAD' })).status, 200);
});
