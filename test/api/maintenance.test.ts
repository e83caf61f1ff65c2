import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createDriver } from '../../src/storage/factory.ts';
import { paths } from '../../src/storage/paths.ts';
import { purgeStaleUploads } from '../../src/uploads/purge.ts';
import { cancelUpload } from '../../src/uploads/session.ts';
import { expectError, expectStatus } from '../helpers/assertions.ts';
import { patchChunk, pushImage, send, startUpload } from '../helpers/oci-client.ts';
import { startRegistry } from '../helpers/registry.ts';

test('read-only mode (storage.maintenance.readonly): every write → 405 UNSUPPORTED, reads go on', async (t) => {
  const first = await startRegistry(t);
  const image = await pushImage(first.url, 'ro/app', 'v1');
  const location = await startUpload(first.url, 'ro/app');
  await first.registry.close();

  const { url } = await startRegistry(t, { root: first.root, maintenance: { readonly: { enabled: true } } });
  expectStatus(await send(url, '/v2/ro/app/manifests/v1'), 200);
  expectStatus(await send(url, `/v2/ro/app/manifests/${image.digest}`, { method: 'HEAD' }), 200);
  expectStatus(await send(url, '/v2/ro/app/tags/list'), 200);
  expectStatus(await send(url, '/v2/_catalog'), 200);
  expectStatus(await send(url, location), 204);
  const writes: [string, string][] = [
    ['POST', '/v2/ro/app/blobs/uploads/'],
    ['PATCH', location],
    ['PUT', `${location}?digest=${image.digest}`],
    ['DELETE', location],
    ['PUT', '/v2/ro/app/manifests/v2'],
    ['DELETE', `/v2/ro/app/manifests/${image.digest}`],
    ['DELETE', `/v2/ro/app/blobs/${image.digest}`],
  ];
  for (const [method, path] of writes) expectError(await send(url, path, { method, body: '{}' }), 405, 'UNSUPPORTED');
  // Nothing changed: the upload is still there, the manifest too.
  expectStatus(await send(url, location), 204);
  expectStatus(await send(url, '/v2/ro/app/manifests/v1'), 200);
});

test('upload purging: uploads older than the age are removed, younger ones and blobs stay', async (t) => {
  const { url, root } = await startRegistry(t);
  await pushImage(url, 'purge/app', 'v1');
  const old = await startUpload(url, 'purge/app');
  expectStatus(await patchChunk(url, old, Buffer.from('stale bytes'), 0), 202);
  const fresh = await startUpload(url, 'purge/app');
  const driver = createDriver({ filesystem: { rootdirectory: root } });
  const oldId = old.split('/').at(-1) ?? '';
  // Age the first upload the way distribution reads it: its startedat time.
  await driver.putContent(paths.uploadStartedAt('purge/app', oldId), new Date(Date.now() - 8 * 24 * 3_600_000).toISOString());

  const dry = await purgeStaleUploads(driver, (ref) => cancelUpload(driver, ref), 168 * 3_600_000, true);
  assert.deepEqual(dry.purged, [`purge/app/${oldId}`]);
  expectStatus(await send(url, old), 204);

  const done = await purgeStaleUploads(driver, (ref) => cancelUpload(driver, ref), 168 * 3_600_000, false);
  assert.equal(done.examined, 2);
  assert.deepEqual(done.purged, [`purge/app/${oldId}`]);
  expectError(await send(url, old), 404, 'BLOB_UPLOAD_UNKNOWN');
  expectStatus(await send(url, fresh), 204);
  expectStatus(await send(url, '/v2/purge/app/manifests/v1'), 200);
});

test('upload purging runs by itself at start-up with the configured age', async (t) => {
  const first = await startRegistry(t);
  await startUpload(first.url, 'auto/purge');
  await first.registry.close();
  await sleep(20);
  const { root } = await startRegistry(t, { root: first.root, maintenance: { uploadpurging: { enabled: true, age: '10ms', interval: '24h' } } });
  const uploads = join(root, paths.repository('auto/purge'), '_uploads');
  for (let i = 0; i < 40 && (await readdir(uploads)).length > 0; i++) await sleep(100);
  assert.deepEqual(await readdir(uploads), []);
});
