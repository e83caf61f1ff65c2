import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { expectError, expectStatus } from '../helpers/assertions.ts';
import { patchChunk, pushBlob, pushImage, putUpload, send, sha256, startUpload } from '../helpers/oci-client.ts';
import { s3DriverOf, startS3Registry } from '../helpers/s3-registry.ts';
import { s3Unavailable } from '../helpers/s3.ts';
import { openUploadWriter } from '../../src/storage/s3/upload-writer.ts';
import { purgeStaleUploads } from '../../src/uploads/purge.ts';
import { parseDigest } from '../../src/digest/digest.ts';
import { paths } from '../../src/storage/paths.ts';

/*
 * The registry's API on S3 storage (a real Ceph RGW, scripts/s3-ceph.sh): every upload form real
 * clients use, and the reads after them. Part size is S3's 5 MiB floor so a few MiB cross parts.
 */
const skip = s3Unavailable;
const MiB = 1024 * 1024;
const PART = 5 * MiB;

test('s3: chunked upload across parts (uneven chunks, tail carried between PATCHes), GET status, then pull with Range', { skip }, async (t) => {
  const reg = await startS3Registry(t, { s3: { chunksize: PART } });
  const bytes = randomBytes(12 * MiB + 12345);
  const location = await startUpload(reg.url, 's3/chunked');
  const cuts = [0, 3 * MiB, 3 * MiB + 1, 9 * MiB + 7, bytes.length];
  for (let i = 0; i + 1 < cuts.length; i++) {
    const reply = await patchChunk(reg.url, location, bytes.subarray(cuts[i], cuts[i + 1]), cuts[i] as number);
    expectStatus(reply, 202);
    assert.equal(reply.headers.get('range'), `0-${(cuts[i + 1] as number) - 1}`);
  }
  const status = await send(reg.url, location);
  expectStatus(status, 204);
  assert.equal(status.headers.get('range'), `0-${bytes.length - 1}`);
  const digest = sha256(bytes);
  expectStatus(await putUpload(reg.url, location, digest), 201);
  const pulled = await send(reg.url, `/v2/s3/chunked/blobs/${digest}`);
  expectStatus(pulled, 200);
  assert.equal(sha256(pulled.body), digest);
  const range = await send(reg.url, `/v2/s3/chunked/blobs/${digest}`, { headers: { range: `bytes=${PART - 10}-${PART + 9}` } });
  expectStatus(range, 206);
  assert.deepEqual(range.body, bytes.subarray(PART - 10, PART + 10));
  // The upload is gone once committed (code-3), and its objects with it.
  expectError(await send(reg.url, location), 404, 'BLOB_UPLOAD_UNKNOWN');
  const id = location.split('/').at(-1) ?? '';
  assert.deepEqual(await s3DriverOf(t, reg).list(`/docker/registry/v2/repositories/s3/chunked/_uploads/${id}`), []);
});

test('s3: a streamed PATCH (chunked transfer encoding, docker push) and a monolithic POST ?digest=', { skip }, async (t) => {
  const reg = await startS3Registry(t, { s3: { chunksize: PART } });
  const bytes = randomBytes(7 * MiB + 3);
  const location = await startUpload(reg.url, 's3/streamed');
  const pieces = Array.from({ length: 8 }, (_, i) => bytes.subarray(i * MiB, (i + 1) * MiB));
  const reply = await send(reg.url, location, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream' }, body: Readable.from(pieces) });
  expectStatus(reply, 202);
  assert.equal(reply.headers.get('range'), `0-${bytes.length - 1}`);
  const digest = sha256(bytes);
  expectStatus(await putUpload(reg.url, location, digest), 201);
  assert.equal(sha256((await send(reg.url, `/v2/s3/streamed/blobs/${digest}`)).body), digest);

  const small = Buffer.from('monolithic on s3');
  const mono = await send(reg.url, `/v2/s3/mono/blobs/uploads/?digest=${sha256(small)}`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'content-length': small.length }, body: small });
  expectStatus(mono, 201);
  assert.equal(mono.headers.get('docker-content-digest'), sha256(small));
  assert.deepEqual((await send(reg.url, `/v2/s3/mono/blobs/${sha256(small)}`)).body, small);
});

test('s3: an empty blob, and PUT with the last chunk in its body', { skip }, async (t) => {
  const reg = await startS3Registry(t);
  const empty = sha256('');
  const location = await startUpload(reg.url, 's3/empty');
  expectStatus(await putUpload(reg.url, location, empty), 201);
  const head = await send(reg.url, `/v2/s3/empty/blobs/${empty}`, { method: 'HEAD' });
  expectStatus(head, 200);
  assert.equal(head.headers.get('content-length'), '0');

  const bytes = randomBytes(100_000);
  const second = await startUpload(reg.url, 's3/empty');
  expectStatus(await patchChunk(reg.url, second, bytes.subarray(0, 40_000), 0), 202);
  const put = await send(reg.url, `${second}?digest=${sha256(bytes)}`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', 'content-range': '40000-99999', 'content-length': 60_000 }, body: bytes.subarray(40_000) });
  expectStatus(put, 201);
  assert.equal(sha256((await send(reg.url, `/v2/s3/empty/blobs/${sha256(bytes)}`)).body), sha256(bytes));
});

test('s3: bad input changes nothing: out-of-order chunk 416, wrong digest 400 (upload kept), sha512 400, unknown upload 404, DELETE cancels', { skip }, async (t) => {
  const reg = await startS3Registry(t, { s3: { chunksize: PART } });
  const bytes = randomBytes(6 * MiB);
  const location = await startUpload(reg.url, 's3/bad');
  expectStatus(await patchChunk(reg.url, location, bytes.subarray(0, MiB), 0), 202);
  expectError(await patchChunk(reg.url, location, bytes.subarray(2 * MiB), 2 * MiB), 416, 'BLOB_UPLOAD_INVALID');
  expectStatus(await patchChunk(reg.url, location, bytes.subarray(MiB), MiB), 202);
  expectError(await putUpload(reg.url, location, sha256('something else')), 400, 'DIGEST_INVALID');
  const sha512 = `sha512:${createHash('sha512').update(bytes).digest('hex')}`;
  expectError(await putUpload(reg.url, location, sha512), 400, 'DIGEST_INVALID');
  assert.equal((await send(reg.url, location)).headers.get('range'), `0-${bytes.length - 1}`);
  expectStatus(await putUpload(reg.url, location, sha256(bytes)), 201);

  expectError(await send(reg.url, '/v2/s3/bad/blobs/uploads/0b9c1e7e-0000-4000-8000-000000000000'), 404, 'BLOB_UPLOAD_UNKNOWN');
  expectError(await send(reg.url, '/v2/s3/bad/blobs/uploads/not..an..id', { method: 'PATCH', body: 'x' }), 404, 'BLOB_UPLOAD_UNKNOWN');
  const cancelled = await startUpload(reg.url, 's3/bad');
  expectStatus(await patchChunk(reg.url, cancelled, bytes, 0), 202);
  expectStatus(await send(reg.url, cancelled, { method: 'DELETE' }), 204);
  expectError(await send(reg.url, cancelled), 404, 'BLOB_UPLOAD_UNKNOWN');
  expectError(await send(reg.url, cancelled, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
  // The multipart upload is aborted with it: nothing of the upload is left in the bucket.
  const id = cancelled.split('/').at(-1) ?? '';
  assert.deepEqual(await s3DriverOf(t, reg).list(`/docker/registry/v2/repositories/s3/bad/_uploads/${id}`), []);
});

test('s3: images: manifest by tag and digest, tags list, catalog, mount, blob that exists wins, deletes', { skip }, async (t) => {
  const reg = await startS3Registry(t);
  const image = await pushImage(reg.url, 's3/app', 'v1', ['one', 'two']);
  const byTag = await send(reg.url, '/v2/s3/app/manifests/v1', { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  expectStatus(byTag, 200);
  assert.equal(byTag.headers.get('docker-content-digest'), image.digest);
  expectStatus(await send(reg.url, `/v2/s3/app/manifests/${image.digest}`), 200);
  assert.deepEqual(JSON.parse((await send(reg.url, '/v2/s3/app/tags/list')).body.toString()), { name: 's3/app', tags: ['v1'] });

  const layer = await pushBlob(reg.url, 's3/app', 'shared layer');
  const mount = await send(reg.url, `/v2/s3/other/blobs/uploads/?mount=${layer}&from=s3/app`, { method: 'POST' });
  expectStatus(mount, 201);
  assert.equal((await send(reg.url, `/v2/s3/other/blobs/${layer}`)).body.toString(), 'shared layer');
  // The same bytes pushed again: the blob already stored wins, the upload is dropped.
  assert.equal(await pushBlob(reg.url, 's3/other', 'shared layer'), layer);
  const catalog = JSON.parse((await send(reg.url, '/v2/_catalog')).body.toString()) as { repositories: string[] };
  assert.deepEqual(catalog.repositories, ['s3/app', 's3/other']);

  expectStatus(await send(reg.url, `/v2/s3/app/manifests/${image.digest}`, { method: 'DELETE' }), 202);
  expectError(await send(reg.url, '/v2/s3/app/manifests/v1'), 404, 'MANIFEST_UNKNOWN');
  expectStatus(await send(reg.url, `/v2/s3/other/blobs/${layer}`, { method: 'DELETE' }), 202);
  expectError(await send(reg.url, `/v2/s3/other/blobs/${layer}`), 404, 'BLOB_UNKNOWN');
  expectStatus(await send(reg.url, `/v2/s3/app/blobs/${layer}`), 200);
});

test('s3: with redirects on (the default), blob GET and HEAD answer 307 to a presigned URL (20 min) that serves the bytes; an unknown blob is still 404', { skip }, async (t) => {
  const reg = await startS3Registry(t, { redirects: true });
  const bytes = randomBytes(300_000);
  const digest = await pushBlob(reg.url, 's3/redirect', bytes);
  for (const method of ['GET', 'HEAD'] as const) {
    const reply = await send(reg.url, `/v2/s3/redirect/blobs/${digest}`, { method });
    expectStatus(reply, 307);
    assert.equal(reply.headers.get('docker-content-digest'), digest);
    const location = new URL(reply.headers.get('location') ?? '');
    assert.equal(location.searchParams.get('X-Amz-Expires'), '1200');
    assert.equal(location.origin, new URL(reg.s3.regionendpoint ?? '').origin);
    const fetched = await fetch(location, { method });
    assert.equal(fetched.status, 200);
    assert.equal(fetched.headers.get('content-length'), String(bytes.length));
    if (method === 'GET') assert.equal(sha256(Buffer.from(await fetched.arrayBuffer())), digest);
    // A ranged GET goes to the store with its Range, as the client sent it.
    if (method === 'GET') {
      const ranged = await fetch(location, { headers: { range: 'bytes=10-19' } });
      assert.equal(ranged.status, 206);
      assert.deepEqual(Buffer.from(await ranged.arrayBuffer()), bytes.subarray(10, 20));
    }
  }
  expectError(await send(reg.url, `/v2/s3/redirect/blobs/${sha256('never pushed')}`), 404, 'BLOB_UNKNOWN');
  expectError(await send(reg.url, `/v2/s3/elsewhere/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
});

test('s3: the purge of stale uploads dates them by startedat, removes old ones with their multipart upload, keeps fresh ones', { skip }, async (t) => {
  const reg = await startS3Registry(t, { s3: { chunksize: PART } });
  const driver = s3DriverOf(t, reg);
  const old = await startUpload(reg.url, 's3/purge');
  expectStatus(await patchChunk(reg.url, old, randomBytes(6 * MiB), 0), 202);
  const discard = async (ref: { repo: string; id: string }): Promise<void> => (await openUploadWriter(driver, ref.repo, ref.id)).cancel();
  const dayLater = Date.now() + 24 * 3_600_000;
  const dry = await purgeStaleUploads(driver, discard, 3_600_000, true, dayLater);
  assert.deepEqual(dry.purged, [`s3/purge/${old.split('/').at(-1)}`]);
  expectStatus(await send(reg.url, old), 204);
  const fresh = await startUpload(reg.url, 's3/purge');
  const done = await purgeStaleUploads(driver, discard, 3_600_000, false, Date.now() + 10 * 60_000);
  assert.deepEqual(done.purged, [], 'nothing is an hour old yet');
  await purgeStaleUploads(driver, discard, 3_600_000, false, dayLater);
  expectError(await send(reg.url, old), 404, 'BLOB_UPLOAD_UNKNOWN');
  expectError(await send(reg.url, fresh), 404, 'BLOB_UPLOAD_UNKNOWN');
  assert.deepEqual(await driver.client.listMultipartUploads(driver.layout.key('/docker/registry/v2/repositories/s3/purge/')), []);
});

test('s3: the purge aborts multipart uploads no upload names that were begun longer ago than the age (a blob the pull-through cache or a commit was writing, an upload that died before its state), and keeps younger ones and those of uploads it keeps', { skip }, async (t) => {
  const reg = await startS3Registry(t, { s3: { chunksize: PART } });
  const driver = s3DriverOf(t, reg);
  const blobKey = driver.layout.key(paths.blobData(parseDigest(sha256('a blob being written when its process died'))));
  const uploadKey = driver.layout.key('/docker/registry/v2/repositories/s3/orphan/_uploads/3f2c9a1e-0000-4000-8000-000000000000/data');
  // An upload folder of unknown age (no startedat): the purge keeps it, and so its writes too.
  const unknownAge = '/docker/registry/v2/repositories/s3/unknown/_uploads/9a8b7c6d-0000-4000-8000-000000000000';
  await driver.putContent(`${unknownAge}/note`, 'no startedat');
  const unknownKey = driver.layout.key(`${unknownAge}/data`);
  for (const key of [blobKey, uploadKey, unknownKey]) {
    const uploadId = await driver.client.createMultipartUpload(key);
    await driver.client.uploadPart(key, uploadId, 1, randomBytes(1024));
  }
  const open = async (): Promise<string[]> => (await driver.client.listMultipartUploads(driver.layout.folder('/'))).map((u) => u.key).sort();
  const discard = async (ref: { repo: string; id: string }): Promise<void> => (await openUploadWriter(driver, ref.repo, ref.id)).cancel();

  const young = await purgeStaleUploads(driver, discard, 3_600_000, false);
  assert.equal(young.incompleteWrites, 0, 'begun just now: kept');
  const dayLater = Date.now() + 24 * 3_600_000;
  const dry = await purgeStaleUploads(driver, discard, 3_600_000, true, dayLater);
  assert.equal(dry.incompleteWrites, 2);
  assert.deepEqual(await open(), [blobKey, uploadKey, unknownKey].sort(), 'a dry run aborts nothing');
  const done = await purgeStaleUploads(driver, discard, 3_600_000, false, dayLater);
  assert.equal(done.incompleteWrites, 2);
  assert.deepEqual(await open(), [unknownKey], 'the kept upload keeps its multipart upload');
  for (const u of await driver.client.listMultipartUploads(driver.layout.folder('/'))) await driver.client.abortMultipartUpload(u.key, u.uploadId);
});
