import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { garbageCollect, type GcOptions } from '../../src/gc/garbage-collect.ts';
import { createDriver } from '../../src/storage/factory.ts';
import { expectError, expectStatus } from '../helpers/assertions.ts';
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
  await new Promise((resolve) => setTimeout(resolve, 1100)); // the server's 1 s link cache
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
  const configBytes = Buffer.from('{}');
  const emptyConfig = await pushBlob(url, 'gc/multi', configBytes);
  const signature = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: 'application/vnd.example.signature',
    config: { mediaType: OCI_CONFIG, digest: emptyConfig, size: configBytes.length },
    layers: [],
    subject: { mediaType: OCI_INDEX, digest: sha256(JSON.stringify(index)), size: JSON.stringify(index).length },
  };
  const signed = await pushManifest(url, 'gc/multi', sha256(JSON.stringify(signature)), signature, OCI_MANIFEST);
  expectStatus(signed, 201);

  const report = await garbageCollect(driverOf(registry), options({ deleteUntagged: true }));
  assert.deepEqual(report.manifestsDeleted, [`gc/multi@${untagged.digest}`]);
  const lonelyLayer = (untagged.manifest['layers'] as { digest: string }[])[0]?.digest ?? '';
  assert.ok(report.blobsDeleted.includes(lonelyLayer));
  assert.ok(report.blobsDeleted.includes(untagged.digest));
  await new Promise((resolve) => setTimeout(resolve, 1100));
  expectError(await send(url, `/v2/gc/multi/manifests/${untagged.digest}`), 404, 'MANIFEST_UNKNOWN');
  expectStatus(await send(url, `/v2/gc/multi/manifests/${child.digest}`), 200);
  expectStatus(await send(url, '/v2/gc/multi/manifests/latest'), 200);
  expectStatus(await send(url, `/v2/gc/multi/manifests/${sha256(JSON.stringify(signature))}`), 200);
  const childLayer = (child.manifest['layers'] as { digest: string }[])[0]?.digest ?? '';
  assert.equal(await blobStatus(url, 'gc/multi', childLayer), 200);
});

test('garbage-collect: a manifest pushed between mark and sweep keeps the old blob it references (distribution #3045)', async (t) => {
  const registry = await startRegistry(t);
  const { url } = registry;
  // An old layer nothing references yet: exactly what the sweep deletes.
  const layer = randomBytes(3000);
  const layerDigest = await pushBlob(url, 'gc/race', layer);
  const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
  const configDigest = await pushBlob(url, 'gc/race', config);
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
    layers: [{ mediaType: OCI_LAYER, digest: layerDigest, size: layer.length }],
  };
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
