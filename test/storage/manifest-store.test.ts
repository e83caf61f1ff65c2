import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sha256Digest } from '../../src/digest/digest.ts';
import { RegistryError } from '../../src/errors/registry-error.ts';
import { BlobStore } from '../../src/storage/blob-store.ts';
import { FilesystemDriver } from '../../src/storage/filesystem/driver.ts';
import { ManifestStore, type ManifestStoreOptions } from '../../src/storage/manifest-store.ts';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST } from '../helpers/oci-client.ts';

/*
 * The manifest store's `maxReferences` option (issue 9), on a real filesystem driver: the HTTP
 * tests cover the default; these cover the values a config can give it.
 */

async function storeWithOneBlob(t: { after: (fn: () => Promise<void>) => void }, options: ManifestStoreOptions): Promise<{ store: ManifestStore; manifest: (layers: number) => Buffer }> {
  const root = await mkdtemp(join(tmpdir(), 'quayside-store-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const driver = new FilesystemDriver(root, { directIo: false });
  const blobs = new BlobStore(driver);
  const bytes = Buffer.from('{}');
  const digest = sha256Digest(createHash('sha256').update(bytes).digest('hex'));
  await blobs.put(digest, bytes);
  await blobs.link('app', digest);
  const descriptor = (mediaType: string) => ({ mediaType, digest: digest.value, size: bytes.length });
  const manifest = (layers: number) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: descriptor(OCI_CONFIG), layers: Array.from({ length: layers }, () => descriptor(OCI_LAYER)) }));
  return { store: new ManifestStore(driver, blobs, options), manifest };
}

function refusedFor(count: number, limit: number): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof RegistryError, String(err));
    assert.equal(err.errorName, 'MANIFEST_INVALID');
    assert.deepEqual(err.detail, { reason: `manifest lists ${count} descriptors; this registry accepts at most ${limit} (quayside.limits.manifestreferences)`, references: count, limit });
    return true;
  };
}

test('ManifestStore maxReferences: config + layers above the limit → MANIFEST_INVALID; at the limit → stored', async (t) => {
  const { store, manifest } = await storeWithOneBlob(t, { maxReferences: 3 });
  await assert.rejects(store.put('app', 'over', [], manifest(3), OCI_MANIFEST), refusedFor(4, 3));
  await assert.rejects(store.get('app', 'over'), (err) => err instanceof RegistryError && err.errorName === 'MANIFEST_UNKNOWN');
  const { digest } = await store.put('app', 'at', [], manifest(2), OCI_MANIFEST);
  assert.equal((await store.get('app', 'at')).digest.value, digest.value);
});

test('ManifestStore maxReferences: 0 means no limit (20 000 layers stored); unset means 10 000', async (t) => {
  const unlimited = await storeWithOneBlob(t, { maxReferences: 0 });
  await unlimited.store.put('app', 'huge', [], unlimited.manifest(20_000), OCI_MANIFEST);
  const byDefault = await storeWithOneBlob(t, {});
  await assert.rejects(byDefault.store.put('app', 'huge', [], byDefault.manifest(10_000), OCI_MANIFEST), refusedFor(10_001, 10_000));
  await byDefault.store.put('app', 'at', [], byDefault.manifest(9_999), OCI_MANIFEST);
});
