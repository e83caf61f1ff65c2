import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sha256Digest, type Digest } from '../../src/digest/digest.ts';
import { BlobStore, SMALL_BLOB_MAX } from '../../src/storage/blob-store.ts';
import { FilesystemDriver } from '../../src/storage/filesystem/driver.ts';
import { LinkCache } from '../../src/storage/link-cache.ts';
import { ManifestStore } from '../../src/storage/manifest-store.ts';
import { OCI_CONFIG, OCI_MANIFEST } from '../helpers/oci-client.ts';

/*
 * The caches in src/storage are bounded in bytes (issue 9), on a real filesystem driver, and keep
 * what makes them safe: our own writes are read back at once, a read that raced a write is not
 * cached, and an entry lives no longer than its TTL.
 */

const MIB = 1024 * 1024;

async function tempDriver(t: { after: (fn: () => Promise<void>) => void }): Promise<FilesystemDriver> {
  const root = await mkdtemp(join(tmpdir(), 'quayside-caches-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  return new FilesystemDriver(root, { directIo: false });
}

function digestOf(bytes: Uint8Array): Digest {
  return sha256Digest(createHash('sha256').update(bytes).digest('hex'));
}

test('ManifestStore cache: 48 manifests of about 1 MiB, each read twice → served intact, at most 32 MiB held', async (t) => {
  const driver = await tempDriver(t);
  const blobs = new BlobStore(driver);
  const config = Buffer.from('{}');
  const configDigest = digestOf(config);
  await blobs.put(configDigest, config);
  await blobs.link('app', configDigest);
  const store = new ManifestStore(driver, blobs);
  const pushed: Array<{ digest: Digest; bytes: Buffer }> = [];
  for (let i = 0; i < 48; i++) {
    const shell = { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: configDigest.value, size: config.length }, layers: [], annotations: { i: String(i), pad: '' } };
    const bytes = Buffer.from(JSON.stringify({ ...shell, annotations: { i: String(i), pad: 'p'.repeat(MIB - 2048) } }));
    const { digest } = await store.put('app', `t${i}`, [], bytes, OCI_MANIFEST);
    pushed.push({ digest, bytes });
  }
  for (let round = 0; round < 2; round++) {
    for (const { digest, bytes } of pushed) assert.ok((await store.get('app', digest)).bytes.equals(bytes));
  }
  assert.ok(store.cachedManifestBytes > 0, 'nothing was cached');
  assert.ok(store.cachedManifestBytes <= 32 * MIB, `manifest cache holds ${store.cachedManifestBytes} bytes`);
});

test('BlobStore small-blob cache: 1 000 blobs of 64 KiB read twice → served intact, at most 32 MiB held', async (t) => {
  const driver = await tempDriver(t);
  const blobs = new BlobStore(driver);
  const stored: Array<{ digest: Digest; bytes: Buffer }> = [];
  for (let i = 0; i < 1000; i++) {
    const bytes = Buffer.alloc(SMALL_BLOB_MAX, i % 251);
    bytes.writeUInt32BE(i, 0);
    const digest = digestOf(bytes);
    await blobs.put(digest, bytes);
    stored.push({ digest, bytes });
  }
  for (let round = 0; round < 2; round++) {
    for (const { digest, bytes } of stored) assert.ok((await blobs.readSmall(digest))?.equals(bytes));
  }
  assert.ok(blobs.cachedSmallBytes > 30 * MIB && blobs.cachedSmallBytes <= 32 * MIB, `small-blob cache holds ${blobs.cachedSmallBytes} bytes`);
});

test('LinkCache: bounded in bytes however long the keys and values; an entry over maxEntryBytes is not kept', () => {
  const cache = new LinkCache<readonly string[]>({ ttlMs: 60_000, maxBytes: MIB, maxEntryBytes: 64 * 1024, valueBytes: (tags) => tags.reduce((n, tag) => n + 2 * tag.length + 24, 0) });
  const longName = 'n'.repeat(255);
  for (let i = 0; i < 10_000; i++) cache.fill(`${longName}/${i}`, Array.from({ length: 10 }, (_, k) => `tag-${k}-${'x'.repeat(100)}`), cache.readToken());
  assert.ok(cache.calculatedBytes <= MIB, `link cache holds ${cache.calculatedBytes} bytes`);
  assert.ok(cache.get(`${longName}/9999`), 'the most recent entry was evicted');
  assert.equal(cache.get(`${longName}/0`), undefined, 'the oldest entry was kept past the bound');
  cache.fill('huge', Array.from({ length: 1000 }, (_, k) => `t${k}`.padEnd(100, 'x')), cache.readToken());
  assert.equal(cache.get('huge'), undefined);
});

test('LinkCache: our own write replaces what was cached, even one too big to keep; a read that raced a write is not cached', () => {
  const cache = new LinkCache<string>({ ttlMs: 60_000, maxBytes: 64 * 1024, maxEntryBytes: 4096, valueBytes: (v) => 2 * v.length });
  cache.fill('repo:tag', 'old', cache.readToken());
  assert.equal(cache.get('repo:tag'), 'old');
  cache.set('repo:tag', 'new');
  assert.equal(cache.get('repo:tag'), 'new');
  // Too big to cache: the stale 'new' must not stay behind either.
  cache.set('repo:tag', 'x'.repeat(10_000));
  assert.equal(cache.get('repo:tag'), undefined);
  // A read that began before a write (token taken, then a set) does not fill in its older value.
  const token = cache.readToken();
  cache.set('repo:other', 'written');
  cache.fill('repo:other', 'read before the write', token);
  assert.equal(cache.get('repo:other'), 'written');
  cache.delete('repo:other');
  assert.equal(cache.get('repo:other'), undefined);
});

test('LinkCache: an entry is gone after its TTL (a change by another process is seen)', async () => {
  const cache = new LinkCache<boolean>({ ttlMs: 50, maxBytes: 64 * 1024, valueBytes: () => 0 });
  cache.fill('repo@sha256:x', true, cache.readToken());
  assert.equal(cache.get('repo@sha256:x'), true);
  // Poll, with a generous bound: on a busy machine timers run late, never early.
  for (let i = 0; i < 200 && cache.get('repo@sha256:x') !== undefined; i++) await sleep(25);
  assert.equal(cache.get('repo@sha256:x'), undefined);
});
