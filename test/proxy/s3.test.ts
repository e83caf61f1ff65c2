import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDigest } from '../../src/digest/digest.ts';
import { paths } from '../../src/storage/paths.ts';
import { expectStatus } from '../helpers/assertions.ts';
import { sha256 } from '../helpers/oci-client.ts';
import { peersSkipReason } from '../helpers/peers.ts';
import { s3Unavailable } from '../helpers/s3.ts';
import { s3DriverOf, startS3Registry } from '../helpers/s3-registry.ts';
import { eventually, get, pushRandomImage, startCountingProxy, startUpstream } from './upstreams.ts';

/** The pull-through cache on the s3 driver: the verified blob is put to its key once and is served from the bucket warm. */
const skip = s3Unavailable || (await peersSkipReason());

test('proxy on s3: cold pull from upstream stores manifest and blobs in the bucket; warm pull needs no upstream', { skip }, async (t) => {
  const upstream = await startUpstream(t);
  // 11 MiB: over the default 10 MiB part, so the layer goes up as a multipart upload (the config as one PutObject).
  const image = await pushRandomImage(upstream.url, 'library/alpine', 'latest', 11 * 1024 * 1024);
  const counter = await startCountingProxy(t, upstream.url);
  const cache = await startS3Registry(t, { config: { proxy: { remoteurl: counter.url } } });
  const driver = s3DriverOf(t, cache);
  const manifest = await get(cache.url, '/v2/library/alpine/manifests/latest');
  expectStatus(manifest, 200);
  assert.deepEqual(manifest.body, image.manifest.bytes);
  for (const blob of [image.config, ...image.layers]) assert.equal(sha256((await get(cache.url, `/v2/library/alpine/blobs/${blob.digest}`)).body), blob.digest);
  for (const blob of [image.config, ...image.layers]) {
    const digest = parseDigest(blob.digest);
    await eventually(`${blob.digest} in the bucket`, async () => (await driver.stat(paths.blobData(digest)))?.size === blob.bytes.length);
    await eventually(`${blob.digest} linked`, async () => (await driver.stat(paths.layerLink('library/alpine', digest))) !== undefined);
  }
  assert.deepEqual(await driver.list(paths.uploadsDir('library/alpine')), [], 'something was left under _uploads');
  const before = counter.requests.length;
  for (const blob of [image.config, ...image.layers]) assert.equal(sha256((await get(cache.url, `/v2/library/alpine/blobs/${blob.digest}`)).body), blob.digest);
  expectStatus(await get(cache.url, `/v2/library/alpine/manifests/${image.manifest.digest}`), 200);
  assert.equal(counter.requests.length, before, counter.requests.slice(before).join('\n'));
});
