import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { garbageCollect, type GcOptions } from '../../src/gc/garbage-collect.ts';
import { DropFenceReader, readDropFence, revisionKey, writeDropFence } from '../../src/storage/drop-fence.ts';
import { createDriver } from '../../src/storage/factory.ts';
import { expectError, expectStatus, type Reply } from '../helpers/assertions.ts';
import { OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, pushBlob, pushImage, pushManifest, send, sha256 } from '../helpers/oci-client.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';

/** Sets every file's and folder's times under `root` back by `ms`: content written long ago. */
async function ageEverything(root: string, ms: number): Promise<void> {
  const then = new Date(Date.now() - ms);
  for (const entry of await readdir(root, { recursive: true })) await utimes(join(root, entry), then, then);
}

/** Everything on disk counts as old: the clock is set past the grace period. */
function options(extra: Partial<GcOptions> = {}): GcOptions {
  return { dryRun: false, deleteUntagged: false, graceMs: 1000, now: Date.now() + 60_000, ...extra };
}

function driverOf(registry: TestRegistry): ReturnType<typeof createDriver> {
  return createDriver({ filesystem: { rootdirectory: registry.root } });
}

async function blobStatus(url: string, repo: string, digest: string): Promise<number> {
  return (await send(url, `/v2/${repo}/blobs/${digest}`, { method: 'HEAD' })).status;
}

/**
 * The registry sees another process's delete once its link cache lets go (storage/blob-store.ts,
 * 1 s): poll for the state rather than sleep for it, with a bound a busy machine stays inside.
 */
async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`still not so after 10 s: ${what}`);
}

/** An OCI 1.1 referrer (a signature artifact) of `subject`, pushed by digest: 201. Returns it. */
async function pushSignature(url: string, repo: string, subject: { mediaType: string; digest: string; size: number }): Promise<Record<string, unknown>> {
  const configBytes = Buffer.from('{}');
  const emptyConfig = await pushBlob(url, repo, configBytes);
  const signature = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: 'application/vnd.example.signature',
    config: { mediaType: OCI_CONFIG, digest: emptyConfig, size: configBytes.length },
    layers: [],
    subject,
  };
  expectStatus(await pushManifest(url, repo, sha256(JSON.stringify(signature)), signature, OCI_MANIFEST), 201);
  return signature;
}

test('garbage-collect: unreferenced blobs go, everything a manifest references stays; dry run changes nothing', async (t) => {
  const registry = await startRegistry(t);
  const { url } = registry;
  const image = await pushImage(url, 'gc/app', 'v1', ['layer one', 'layer two']);
  const orphan = await pushBlob(url, 'gc/app', randomBytes(5000));

  const dry = await garbageCollect(driverOf(registry), options({ dryRun: true }));
  assert.deepEqual(dry.blobsDeleted, [orphan]);
  assert.equal(await blobStatus(url, 'gc/app', orphan), 200);

  const report = await garbageCollect(driverOf(registry), options());
  assert.deepEqual(report.blobsDeleted, [orphan]);
  assert.equal(report.bytesFreed, 5000);
  assert.equal(report.manifestsMarked, 1);
  // The linked-but-deleted blob is now unknown; the image pulls whole.
  await eventually('the orphan is unknown', async () => (await blobStatus(url, 'gc/app', orphan)) === 404);
  expectError(await send(url, `/v2/gc/app/blobs/${orphan}`), 404, 'BLOB_UNKNOWN');
  expectStatus(await send(url, '/v2/gc/app/manifests/v1'), 200);
  for (const layer of image.manifest['layers'] as { digest: string }[]) assert.equal(await blobStatus(url, 'gc/app', layer.digest), 200);
});

test('garbage-collect: blobs younger than the grace period stay (an upload whose manifest is not pushed yet)', async (t) => {
  const registry = await startRegistry(t);
  const fresh = await pushBlob(registry.url, 'gc/fresh', randomBytes(100));
  const report = await garbageCollect(driverOf(registry), { dryRun: false, deleteUntagged: false, graceMs: 3_600_000 });
  assert.deepEqual(report.blobsDeleted, []);
  assert.equal(report.keptAsRecent, 1);
  assert.equal(await blobStatus(registry.url, 'gc/fresh', fresh), 200);
});

test('garbage-collect --delete-untagged: untagged manifests and their blobs go; index children and referrers of kept ones stay', async (t) => {
  const registry = await startRegistry(t);
  const { url } = registry;
  const child = await pushImage(url, 'gc/multi', 'child-tmp', ['arch layer']);
  const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: child.digest, size: child.bytes.length }] };
  expectStatus(await pushManifest(url, 'gc/multi', 'latest', index, OCI_INDEX), 201);
  expectStatus(await send(url, '/v2/gc/multi/manifests/child-tmp', { method: 'DELETE' }), 202); // the child is now untagged, but indexed
  const untagged = await pushImage(url, 'gc/multi', 'gone', ['lonely layer']);
  expectStatus(await send(url, '/v2/gc/multi/manifests/gone', { method: 'DELETE' }), 202);
  const signature = await pushSignature(url, 'gc/multi', { mediaType: OCI_INDEX, digest: sha256(JSON.stringify(index)), size: JSON.stringify(index).length });

  const report = await garbageCollect(driverOf(registry), options({ deleteUntagged: true }));
  assert.deepEqual(report.manifestsDeleted, [`gc/multi@${untagged.digest}`]);
  const lonelyLayer = (untagged.manifest['layers'] as { digest: string }[])[0]?.digest ?? '';
  assert.ok(report.blobsDeleted.includes(lonelyLayer));
  assert.ok(report.blobsDeleted.includes(untagged.digest));
  await eventually('the untagged manifest is unknown', async () => (await send(url, `/v2/gc/multi/manifests/${untagged.digest}`)).status === 404);
  expectError(await send(url, `/v2/gc/multi/manifests/${untagged.digest}`), 404, 'MANIFEST_UNKNOWN');
  expectStatus(await send(url, `/v2/gc/multi/manifests/${child.digest}`), 200);
  expectStatus(await send(url, '/v2/gc/multi/manifests/latest'), 200);
  expectStatus(await send(url, `/v2/gc/multi/manifests/${sha256(JSON.stringify(signature))}`), 200);
  const childLayer = (child.manifest['layers'] as { digest: string }[])[0]?.digest ?? '';
  assert.equal(await blobStatus(url, 'gc/multi', childLayer), 200);
});

/**
 * A config and a layer pushed with no manifest yet, and the manifest that would reference them:
 * exactly what a sweep deletes unless the manifest arrives in time.
 */
async function pushUnreferenced(url: string, repo: string): Promise<{ layer: Buffer; layerDigest: string; config: Buffer; configDigest: string; manifest: Record<string, unknown> }> {
  const layer = randomBytes(3000);
  const layerDigest = await pushBlob(url, repo, layer);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', repo }));
  const configDigest = await pushBlob(url, repo, config);
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
    layers: [{ mediaType: OCI_LAYER, digest: layerDigest, size: layer.length }],
  };
  return { layer, layerDigest, config, configDigest, manifest };
}

test('garbage-collect: a manifest pushed between mark and sweep keeps the old blob it references (distribution #3045)', async (t) => {
  const registry = await startRegistry(t);
  const { url } = registry;
  // An old layer nothing references yet: exactly what the sweep deletes.
  const { layerDigest, manifest } = await pushUnreferenced(url, 'gc/race');
  await ageEverything(registry.root, 2 * 3_600_000);
  const report = await garbageCollect(driverOf(registry), {
    dryRun: false,
    deleteUntagged: false,
    graceMs: 60_000,
    afterMark: async () => {
      // The push lands after the mark phase saw nothing referencing the layer.
      expectStatus(await pushManifest(url, 'gc/race', 'v1', manifest, OCI_MANIFEST), 201);
    },
  });
  assert.equal(report.blobsDeleted.length, 0, `deleted ${report.blobsDeleted.join(', ')}`);
  expectStatus(await send(url, '/v2/gc/race/manifests/v1'), 200);
  assert.equal(await blobStatus(url, 'gc/race', layerDigest), 200);
});

test('garbage-collect: a manifest pushed while its blobs are aside is refused, or accepted and its blobs kept', async (t) => {
  const registry = await startRegistry(t);
  const { url } = registry;
  const { layer, layerDigest, config, configDigest, manifest } = await pushUnreferenced(url, 'gc/aside');
  await ageEverything(registry.root, 2 * 3_600_000);
  let pushed = 0;
  const report = await garbageCollect(driverOf(registry), {
    dryRun: false,
    deleteUntagged: false,
    graceMs: 60_000,
    afterAside: async (aside) => {
      assert.ok(aside.includes(layerDigest));
      // The PUT touches the layer's link (seen by the second look) and then finds the data gone
      // or, from its link cache, still there: either answer is fine, as long as the blob stays.
      const reply = await pushManifest(url, 'gc/aside', 'v1', manifest, OCI_MANIFEST);
      if (reply.status !== 201) expectError(reply, 400, 'MANIFEST_BLOB_UNKNOWN');
      pushed = reply.status;
    },
  });
  assert.ok(pushed !== 0, 'the push ran while the blobs were aside');
  if (pushed === 201) {
    assert.deepEqual(report.blobsDeleted, [], `accepted, yet deleted ${report.blobsDeleted.join(', ')}`);
  } else {
    // Refused at its first blob (the config, touched: put back); what it never touched is garbage.
    assert.ok(!report.blobsDeleted.includes(configDigest), 'the touched config is put back');
    // The client's retry: HEAD each blob, upload the missing, PUT again.
    for (const [digest, bytes] of [[configDigest, config], [layerDigest, layer]] as const) {
      if ((await blobStatus(url, 'gc/aside', digest)) !== 200) assert.equal(await pushBlob(url, 'gc/aside', bytes), digest);
    }
    expectStatus(await pushManifest(url, 'gc/aside', 'v1', manifest, OCI_MANIFEST), 201);
  }
  expectStatus(await send(url, '/v2/gc/aside/manifests/v1'), 200);
  assert.equal(await blobStatus(url, 'gc/aside', layerDigest), 200);
  assert.equal(await blobStatus(url, 'gc/aside', configDigest), 200);
});

test('garbage-collect: deletes go in batches, each moved aside and re-checked by one more look at the links', async (t) => {
  const registry = await startRegistry(t);
  const orphans: string[] = [];
  for (let i = 0; i < 5; i++) orphans.push(await pushBlob(registry.url, 'gc/batches', randomBytes(100 + i)));
  const batches: number[] = [];
  const report = await garbageCollect(driverOf(registry), options({ batchSize: 2, settleMs: 0, afterAside: async (aside) => void batches.push(aside.length) }));
  assert.deepEqual(batches, [2, 2, 1]);
  assert.deepEqual([...report.blobsDeleted].sort(), [...orphans].sort());
  for (const orphan of orphans) await eventually(`${orphan} is unknown`, async () => (await blobStatus(registry.url, 'gc/batches', orphan)) === 404);
});

test('garbage-collect --delete-untagged: an untagged manifest tagged again or listed by a new index after the mark phase is kept, with its blobs and its referrers', async (t) => {
  const registry = await startRegistry(t);
  const { url } = registry;
  // Two old untagged images (pushed, then their tags deleted), a signature of the first, and a garbage one.
  const retagged = await pushImage(url, 'gc/again', 'tmp-a', ['retagged layer']);
  const indexed = await pushImage(url, 'gc/again', 'tmp-b', ['indexed layer']);
  const garbage = await pushImage(url, 'gc/again', 'tmp-c', ['garbage layer']);
  const signatureDigest = sha256(JSON.stringify(await pushSignature(url, 'gc/again', { mediaType: OCI_MANIFEST, digest: retagged.digest, size: retagged.bytes.length })));
  for (const tag of ['tmp-a', 'tmp-b', 'tmp-c']) expectStatus(await send(url, `/v2/gc/again/manifests/${tag}`, { method: 'DELETE' }), 202);
  await ageEverything(registry.root, 2 * 3_600_000);
  const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: indexed.digest, size: indexed.bytes.length }] };

  const report = await garbageCollect(driverOf(registry), {
    dryRun: false,
    deleteUntagged: true,
    graceMs: 60_000,
    settleMs: 0,
    afterMark: async () => {
      // The mark phase found all three unreachable; two pushes use them again before anything is deleted.
      expectStatus(await pushManifest(url, 'gc/again', 'promoted', retagged.bytes.toString(), OCI_MANIFEST), 201);
      expectStatus(await pushManifest(url, 'gc/again', 'multi', index, OCI_INDEX), 201);
    },
  });
  assert.deepEqual(report.manifestsDeleted, [`gc/again@${garbage.digest}`]);
  const layerOf = (image: { manifest: Record<string, unknown> }): string => (image.manifest['layers'] as { digest: string }[])[0]?.digest ?? '';
  assert.ok(report.blobsDeleted.includes(layerOf(garbage)), 'the garbage image\'s layer goes');
  for (const kept of [retagged.digest, indexed.digest, signatureDigest, layerOf(retagged), layerOf(indexed)]) assert.ok(!report.blobsDeleted.includes(kept), `${kept} kept`);
  expectStatus(await send(url, '/v2/gc/again/manifests/promoted'), 200);
  expectStatus(await send(url, '/v2/gc/again/manifests/multi'), 200);
  expectStatus(await send(url, `/v2/gc/again/manifests/${indexed.digest}`), 200);
  expectStatus(await send(url, `/v2/gc/again/manifests/${signatureDigest}`), 200);
  assert.equal(await blobStatus(url, 'gc/again', layerOf(retagged)), 200);
  assert.equal(await blobStatus(url, 'gc/again', layerOf(indexed)), 200);
  const referrers = JSON.parse((await send(url, `/v2/gc/again/referrers/${retagged.digest}`)).body.toString()) as { manifests: { digest: string }[] };
  assert.deepEqual(referrers.manifests.map((m) => m.digest), [signatureDigest]);
  await eventually('the garbage manifest is unknown', async () => (await send(url, `/v2/gc/again/manifests/${garbage.digest}`)).status === 404);
});

test('garbage-collect --delete-untagged: a PUT between the last look and the delete waits for the drop fence; a tag PUT then stands with its manifest, an index of a dropped child is refused', async (t) => {
  const registry = await startRegistry(t);
  const { url } = registry;
  const retagged = await pushImage(url, 'gc/fence', 'tmp-a', ['fence retagged layer']);
  const indexed = await pushImage(url, 'gc/fence', 'tmp-b', ['fence indexed layer']);
  for (const tag of ['tmp-a', 'tmp-b']) expectStatus(await send(url, `/v2/gc/fence/manifests/${tag}`, { method: 'DELETE' }), 202);
  await ageEverything(registry.root, 2 * 3_600_000);
  const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: indexed.digest, size: indexed.bytes.length }] };

  let retag: Promise<Reply> | undefined;
  let indexPut: Promise<Reply> | undefined;
  let settledEarly = false;
  const report = await garbageCollect(driverOf(registry), {
    dryRun: false,
    deleteUntagged: true,
    graceMs: 60_000,
    // The sweep waits out the registry's link cache (settleMs left at its default): a PUT's cached
    // view of a blob must have expired before the sweep's last look, as in a real run.
    afterDropLook: async (revisions) => {
      assert.deepEqual([...revisions].sort(), [`gc/fence@${retagged.digest}`, `gc/fence@${indexed.digest}`].sort());
      // Both links were just looked at and found unused: without the fence, these PUTs would be
      // acknowledged and their manifests deleted right after.
      retag = pushManifest(url, 'gc/fence', 'late', retagged.bytes.toString(), OCI_MANIFEST);
      indexPut = pushManifest(url, 'gc/fence', 'multi', index, OCI_INDEX);
      const early = Symbol('pending');
      const first = await Promise.race([retag, indexPut, new Promise((resolve) => setTimeout(() => resolve(early), 300))]);
      settledEarly = first !== early;
    },
  });
  assert.equal(settledEarly, false, 'a PUT finished while the fence was raised over its manifest');
  assert.deepEqual([...report.manifestsDeleted].sort(), [`gc/fence@${retagged.digest}`, `gc/fence@${indexed.digest}`].sort());
  // The index waited, then found its child dropped: refused, as without any collection.
  expectError(await (indexPut as Promise<Reply>), 400, 'MANIFEST_BLOB_UNKNOWN');
  // The tag PUT waited, then wrote the manifest's link again. It may instead be refused when the
  // sweep had its blobs aside at that moment (the client uploads them again); never acknowledged
  // with anything missing.
  const retagReply = await (retag as Promise<Reply>);
  if (retagReply.status === 201) {
    expectStatus(await send(url, '/v2/gc/fence/manifests/late'), 200);
    expectStatus(await send(url, `/v2/gc/fence/manifests/${retagged.digest}`), 200);
    const layer = (retagged.manifest['layers'] as { digest: string }[])[0]?.digest ?? '';
    assert.equal(await blobStatus(url, 'gc/fence', layer), 200);
    assert.ok(!report.blobsDeleted.includes(retagged.digest) && !report.blobsDeleted.includes(layer), `deleted ${report.blobsDeleted.join(', ')}`);
  } else {
    expectError(retagReply, 400, 'MANIFEST_BLOB_UNKNOWN');
  }
  // No fence left raised: the next PUT does not wait.
  expectStatus(await pushManifest(url, 'gc/fence', 'after', (await pushImage(url, 'gc/fence', 'fresh', ['fresh layer'])).bytes.toString(), OCI_MANIFEST), 201);
});

test('drop fence: a PUT\'s links are done again when a drop batch began while they ran, and waited for while a batch is raised over them', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'quayside-fence-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const driver = createDriver({ filesystem: { rootdirectory: root } });
  const reader = new DropFenceReader(driver);
  const mine = revisionKey('fence/app', sha256('mine'));

  // No collection ever ran: one pass.
  let passes = 0;
  await reader.underFence([mine], async () => void passes++);
  assert.equal(passes, 1);

  // A whole batch over our revision begins and ends while the links run (its look may have
  // come before them): they run again.
  passes = 0;
  await reader.underFence([mine], async () => {
    passes++;
    if (passes === 1) {
      await writeDropFence(driver, { epoch: 1, raised: true, revisions: [mine], at: Date.now() });
      await writeDropFence(driver, { epoch: 1, raised: false, revisions: [], at: Date.now() });
    }
  });
  assert.equal(passes, 2);

  // A batch of other revisions, raised throughout: no wait and, once seen, no second pass.
  await writeDropFence(driver, { epoch: 2, raised: true, revisions: [revisionKey('fence/app', sha256('other'))], at: Date.now() });
  passes = 0;
  await reader.underFence([mine], async () => void passes++);
  await reader.underFence([mine], async () => void passes++);
  assert.equal(passes, 3, 'the first PUT after the batch began does its links twice, the next once');

  // Raised over ours: the links wait for it to come down, then run on what it left.
  await writeDropFence(driver, { epoch: 3, raised: true, revisions: [mine], at: Date.now() });
  await reader.underFence([], async () => undefined); // the reader has now seen epoch 3 raised
  let ranAt = 0;
  const lowered = new Promise<number>((resolve) => setTimeout(async () => {
    await writeDropFence(driver, { epoch: 3, raised: false, revisions: [], at: Date.now() });
    resolve(Date.now());
  }, 300));
  await reader.underFence([mine], async () => void (ranAt = Date.now()));
  assert.ok(ranAt >= (await lowered), 'the links ran only once the batch was lowered');

  // A fence raised long ago (a collection that died mid-batch) holds nothing back.
  await writeDropFence(driver, { epoch: 4, raised: true, revisions: [mine], at: Date.now() - 120_000 });
  passes = 0;
  await reader.underFence([mine], async () => void passes++);
  await reader.underFence([mine], async () => void passes++);
  assert.equal(passes, 3);
  // Readers never write it: only a collection does.
  const left = await readDropFence(driver);
  assert.deepEqual([left.epoch, left.raised, left.revisions], [4, true, [mine]]);
});
