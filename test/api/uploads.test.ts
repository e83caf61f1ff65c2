import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { expectError, expectHeader, expectStatus } from '../helpers/assertions.ts';
import { patchChunk, pushBlob, putUpload, send, sha256, startUpload } from '../helpers/oci-client.ts';
import { startRegistry } from '../helpers/registry.ts';

const REPO = 'team/app';

async function getBlobBytes(url: string, repo: string, digest: string): Promise<Buffer> {
  const reply = await send(url, `/v2/${repo}/blobs/${digest}`);
  expectStatus(reply, 200);
  return reply.body;
}

test('POST end-4a: starts an upload → 202 with Location, Docker-Upload-UUID and Range 0-0', async (t) => {
  const { url } = await startRegistry(t);
  const reply = await send(url, `/v2/${REPO}/blobs/uploads/`, { method: 'POST' });
  expectStatus(reply, 202);
  const uuid = reply.headers.get('docker-upload-uuid') ?? '';
  assert.match(uuid, /^[0-9a-f-]{36}$/);
  expectHeader(reply, 'location', `/v2/${REPO}/blobs/uploads/${uuid}`);
  expectHeader(reply, 'range', '0-0');
  expectHeader(reply, 'content-length', '0');
});

test('PATCH end-5 + PUT end-6: chunked upload in three chunks → 201, blob readable and identical', async (t) => {
  const { url } = await startRegistry(t);
  const blob = randomBytes(300_000);
  const digest = sha256(blob);
  const location = await startUpload(url, REPO);
  const cuts = [0, 100_000, 250_000, blob.length];
  for (let i = 0; i < 3; i++) {
    const reply = await patchChunk(url, location, blob.subarray(cuts[i], cuts[i + 1]), cuts[i] ?? 0);
    expectStatus(reply, 202);
    expectHeader(reply, 'range', `0-${(cuts[i + 1] ?? 0) - 1}`);
    expectHeader(reply, 'location', location);
  }
  const done = await putUpload(url, location, digest);
  expectStatus(done, 201);
  expectHeader(done, 'location', `/v2/${REPO}/blobs/${digest}`);
  expectHeader(done, 'docker-content-digest', digest);
  assert.ok((await getBlobBytes(url, REPO, digest)).equals(blob));
  // The upload is gone once committed (code-3).
  expectError(await send(url, location), 404, 'BLOB_UPLOAD_UNKNOWN');
});

test('PATCH end-5: a body larger than one worker batch is split and hashed across batches', async (t) => {
  const { url } = await startRegistry(t, { pipeline: { batchSize: 64 * 1024, checkpointEvery: 256 * 1024 } });
  const blob = randomBytes(1_000_003);
  const location = await startUpload(url, REPO);
  expectStatus(await patchChunk(url, location, blob, 0), 202);
  expectStatus(await putUpload(url, location, sha256(blob)), 201);
  assert.ok((await getBlobBytes(url, REPO, sha256(blob))).equals(blob));
});

test('PATCH end-5: streamed PATCH without Content-Range or Content-Length (docker push) appends', async (t) => {
  const { url } = await startRegistry(t);
  const parts = [randomBytes(70_000), randomBytes(5), randomBytes(200_000)];
  const blob = Buffer.concat(parts);
  const location = await startUpload(url, REPO);
  async function* body(): AsyncGenerator<Buffer> {
    for (const p of parts) yield p;
  }
  const reply = await send(url, location, { method: 'PATCH', headers: { 'transfer-encoding': 'chunked' }, body: body() });
  expectStatus(reply, 202);
  expectHeader(reply, 'range', `0-${blob.length - 1}`);
  // A second streamed PATCH keeps appending.
  const more = randomBytes(1000);
  const second = await send(url, location, { method: 'PATCH', body: more });
  expectHeader(second, 'range', `0-${blob.length + more.length - 1}`);
  const all = Buffer.concat([blob, more]);
  expectStatus(await putUpload(url, location, sha256(all)), 201);
  assert.ok((await getBlobBytes(url, REPO, sha256(all))).equals(all));
});

test('PATCH end-5: a chunk that does not start at the current size → 416 and the upload stays usable', async (t) => {
  const { url } = await startRegistry(t);
  const blob = randomBytes(2000);
  const location = await startUpload(url, REPO);
  expectStatus(await patchChunk(url, location, blob.subarray(0, 1000), 0), 202);
  expectError(await patchChunk(url, location, blob.subarray(1500), 1500), 416, 'BLOB_UPLOAD_INVALID');
  expectError(await patchChunk(url, location, blob.subarray(0, 1000), 0), 416, 'BLOB_UPLOAD_INVALID');
  const status = await send(url, location);
  expectHeader(status, 'range', '0-999');
  expectStatus(await patchChunk(url, location, blob.subarray(1000), 1000), 202);
  expectStatus(await putUpload(url, location, sha256(blob)), 201);
});

test('PATCH end-5: unreadable Content-Range, or one that disagrees with Content-Length → 416', async (t) => {
  const { url } = await startRegistry(t);
  const location = await startUpload(url, REPO);
  for (const range of ['abc', '5-2', '-1-3', '0-', 'bytes=0-3']) {
    const reply = await send(url, location, { method: 'PATCH', headers: { 'content-range': range, 'content-length': 4 }, body: 'abcd' });
    expectError(reply, 416, 'BLOB_UPLOAD_INVALID');
  }
  expectError(await send(url, location, { method: 'PATCH', headers: { 'content-range': '0-9', 'content-length': 4 }, body: 'abcd' }), 416, 'BLOB_UPLOAD_INVALID');
  // The RFC 9110 form is accepted too.
  const ok = await send(url, location, { method: 'PATCH', headers: { 'content-range': 'bytes 0-3/*', 'content-length': 4 }, body: 'abcd' });
  expectStatus(ok, 202);
  expectHeader(ok, 'range', '0-3');
});

test('PUT end-6: the last chunk can come with the PUT', async (t) => {
  const { url } = await startRegistry(t);
  const blob = randomBytes(5000);
  const location = await startUpload(url, REPO);
  expectStatus(await patchChunk(url, location, blob.subarray(0, 3000), 0), 202);
  const reply = await send(url, `${location}?digest=${sha256(blob)}`, {
    method: 'PUT',
    headers: { 'content-range': '3000-4999', 'content-length': 2000, 'content-type': 'application/octet-stream' },
    body: blob.subarray(3000),
  });
  expectStatus(reply, 201);
  assert.ok((await getBlobBytes(url, REPO, sha256(blob))).equals(blob));
});

test('PUT end-6: wrong digest → 400 DIGEST_INVALID, and the upload can still be finished', async (t) => {
  const { url } = await startRegistry(t);
  const blob = randomBytes(1234);
  const location = await startUpload(url, REPO);
  expectStatus(await patchChunk(url, location, blob, 0), 202);
  expectError(await putUpload(url, location, sha256('something else')), 400, 'DIGEST_INVALID');
  expectError(await putUpload(url, location, 'sha256:nothex'), 400, 'DIGEST_INVALID');
  expectError(await send(url, location, { method: 'PUT' }), 400, 'DIGEST_INVALID');
  expectError(await send(url, `/v2/${REPO}/blobs/${sha256(blob)}`), 404, 'BLOB_UNKNOWN');
  expectStatus(await putUpload(url, location, sha256(blob)), 201);
});

test('PUT end-6: a sha512 digest is verified by re-hashing the data', async (t) => {
  const { url } = await startRegistry(t);
  const blob = randomBytes(10_000);
  const { createHash } = await import('node:crypto');
  const digest = `sha512:${createHash('sha512').update(blob).digest('hex')}`;
  const location = await startUpload(url, REPO);
  expectStatus(await patchChunk(url, location, blob, 0), 202);
  expectStatus(await putUpload(url, location, digest), 201);
  assert.ok((await getBlobBytes(url, REPO, digest)).equals(blob));
});

test('PUT end-6: an empty blob (no PATCH at all)', async (t) => {
  const { url } = await startRegistry(t);
  const location = await startUpload(url, REPO);
  const digest = sha256('');
  expectStatus(await putUpload(url, location, digest), 201);
  const reply = await send(url, `/v2/${REPO}/blobs/${digest}`);
  expectStatus(reply, 200);
  expectHeader(reply, 'content-length', '0');
});

test('POST end-4b: monolithic upload with ?digest= and the body → 201', async (t) => {
  const { url } = await startRegistry(t);
  const blob = randomBytes(40_000);
  const digest = sha256(blob);
  const reply = await send(url, `/v2/${REPO}/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'content-length': blob.length },
    body: blob,
  });
  expectStatus(reply, 201);
  expectHeader(reply, 'location', `/v2/${REPO}/blobs/${digest}`);
  expectHeader(reply, 'docker-content-digest', digest);
  assert.ok((await getBlobBytes(url, REPO, digest)).equals(blob));
  const wrong = await send(url, `/v2/${REPO}/blobs/uploads/?digest=${sha256('x')}`, { method: 'POST', body: blob });
  expectError(wrong, 400, 'DIGEST_INVALID');
});

test('POST end-11: mount from another repository → 201; unknown blob or source → 202 upload', async (t) => {
  const { url } = await startRegistry(t);
  const digest = await pushBlob(url, 'source/repo', randomBytes(3000));
  const mounted = await send(url, `/v2/target/repo/blobs/uploads/?mount=${digest}&from=source/repo`, { method: 'POST' });
  expectStatus(mounted, 201);
  expectHeader(mounted, 'location', `/v2/target/repo/blobs/${digest}`);
  expectHeader(mounted, 'docker-content-digest', digest);
  expectStatus(await send(url, `/v2/target/repo/blobs/${digest}`, { method: 'HEAD' }), 200);

  const missing = await send(url, `/v2/target/repo/blobs/uploads/?mount=${sha256('nope')}&from=source/repo`, { method: 'POST' });
  expectStatus(missing, 202);
  assert.ok(missing.headers.get('docker-upload-uuid'));
  // A repository that never had the blob cannot lend it.
  const wrongSource = await send(url, `/v2/third/blobs/uploads/?mount=${digest}&from=elsewhere`, { method: 'POST' });
  expectStatus(wrongSource, 202);
  expectError(await send(url, `/v2/third/blobs/uploads/?mount=${digest}&from=Bad..Name`, { method: 'POST' }), 400, 'NAME_INVALID');
  expectError(await send(url, `/v2/third/blobs/uploads/?mount=sha256:zz&from=source/repo`, { method: 'POST' }), 400, 'DIGEST_INVALID');
});

test('GET end-13: upload status → 204 with Range and Location, with or without a state token', async (t) => {
  const { url } = await startRegistry(t);
  const location = await startUpload(url, REPO);
  const empty = await send(url, location);
  expectStatus(empty, 204);
  expectHeader(empty, 'range', '0-0');
  expectStatus(await patchChunk(url, location, randomBytes(10), 0), 202);
  for (const suffix of ['', '?_state=whatever']) {
    const reply = await send(url, location + suffix);
    expectStatus(reply, 204);
    expectHeader(reply, 'range', '0-9');
    expectHeader(reply, 'location', location);
    expectHeader(reply, 'docker-upload-uuid', location.split('/').at(-1) ?? '');
  }
});

test('DELETE upload: cancel → 204, then every upload route answers 404 BLOB_UPLOAD_UNKNOWN', async (t) => {
  const { url } = await startRegistry(t);
  const location = await startUpload(url, REPO);
  expectStatus(await patchChunk(url, location, randomBytes(10), 0), 202);
  expectStatus(await send(url, location, { method: 'DELETE' }), 204);
  expectError(await send(url, location), 404, 'BLOB_UPLOAD_UNKNOWN');
  expectError(await patchChunk(url, location, randomBytes(10), 10), 404, 'BLOB_UPLOAD_UNKNOWN');
  expectError(await putUpload(url, location, sha256('x')), 404, 'BLOB_UPLOAD_UNKNOWN');
  expectError(await send(url, location, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
});

test('uploads: unknown or malformed upload ids → 404 BLOB_UPLOAD_UNKNOWN', async (t) => {
  const { url } = await startRegistry(t);
  for (const id of ['00000000-0000-0000-0000-000000000000', '..', '%2e%2e', 'a.b', 'x'.repeat(200)]) {
    expectError(await send(url, `/v2/${REPO}/blobs/uploads/${id}`), 404, 'BLOB_UPLOAD_UNKNOWN');
  }
  // An upload belongs to its repository.
  const location = await startUpload(url, REPO);
  const id = location.split('/').at(-1) ?? '';
  expectError(await send(url, `/v2/other/blobs/uploads/${id}`), 404, 'BLOB_UPLOAD_UNKNOWN');
});

test('uploads: two PATCHes racing on one upload never interleave: one wins, the other gets 416', async (t) => {
  const { url } = await startRegistry(t);
  const a = randomBytes(500_000);
  const b = randomBytes(500_000);
  const location = await startUpload(url, REPO);
  const [ra, rb] = await Promise.all([patchChunk(url, location, a, 0), patchChunk(url, location, b, 0)]);
  const statuses = [ra.status, rb.status].sort();
  assert.deepEqual(statuses, [202, 416]);
  const winner = ra.status === 202 ? a : b;
  expectStatus(await putUpload(url, location, sha256(winner)), 201);
});

test('uploads: many uploads in parallel on the pool all commit with the right digests', async (t) => {
  const { url } = await startRegistry(t, { pipeline: { batchSize: 32 * 1024, checkpointEvery: 128 * 1024 } });
  const blobs = Array.from({ length: 12 }, (_, i) => randomBytes(100_000 + i * 7919));
  const digests = await Promise.all(blobs.map((b, i) => pushBlob(url, `parallel/r${i % 3}`, b)));
  for (const [i, digest] of digests.entries()) {
    assert.ok((await getBlobBytes(url, `parallel/r${i % 3}`, digest)).equals(blobs[i] as Buffer));
  }
});

/**
 * Sends `head` of a streamed PATCH, then destroys the socket as soon as the bytes are handed to
 * the kernel: a client losing its connection. Every byte it sent reaches the registry (loopback
 * delivers what was written before the FIN).
 */
async function patchThenDisconnect(url: string, location: string, head: Buffer): Promise<void> {
  await new Promise<void>((resolve) => {
    const req = request(new URL(location, url), { method: 'PATCH', headers: { 'transfer-encoding': 'chunked' }, agent: false });
    req.on('error', () => resolve());
    req.on('close', () => resolve());
    req.write(head, () => req.destroy());
  });
}

test('end-13 resume: a client that disconnects mid-PATCH reads the status at once and continues from it', async (t) => {
  const { url } = await startRegistry(t, { pipeline: { batchSize: 64 * 1024, checkpointEvery: 1024 * 1024 } });
  const blob = randomBytes(400_000);
  const location = await startUpload(url, REPO);
  await patchThenDisconnect(url, location, blob.subarray(0, 250_000));
  // No pause: the status waits for the dead connection's request to keep what arrived.
  const status = await send(url, location);
  expectStatus(status, 204);
  expectHeader(status, 'range', '0-249999');
  expectStatus(await patchChunk(url, location, blob.subarray(250_000), 250_000), 202);
  expectStatus(await putUpload(url, location, sha256(blob)), 201);
  assert.ok((await getBlobBytes(url, REPO, sha256(blob))).equals(blob));
});

test('end-13 resume: a client that drops mid-PATCH and at once sends the rest is not told "busy" by its own dead connection (issue 9)', async (t) => {
  const { url } = await startRegistry(t, { pipeline: { batchSize: 16 * 1024, checkpointEvery: 1 << 30 } });
  for (let round = 0; round < 5; round++) {
    const blob = randomBytes(100 * 1024);
    const sent = 40 * 1024;
    const location = await startUpload(url, REPO);
    // 2.5 batches, then the connection drops: the registry still holds the upload, handing the
    // first batches to a worker with the close unread, when the continuing chunk arrives.
    await patchThenDisconnect(url, location, blob.subarray(0, sent));
    const rest = await patchChunk(url, location, blob.subarray(sent), sent);
    expectStatus(rest, 202);
    expectHeader(rest, 'range', `0-${blob.length - 1}`);
    expectStatus(await putUpload(url, location, sha256(blob)), 201);
  }
});

test('end-13 resume: every byte that reached the registry before the client vanished is kept, even when it vanished while a batch was being handed to a worker', async (t) => {
  const { url } = await startRegistry(t, { pipeline: { batchSize: 16 * 1024, checkpointEvery: 1 << 30 } });
  for (let round = 0; round < 5; round++) {
    const blob = randomBytes(40 * 1024);
    const location = await startUpload(url, REPO);
    // One write of 2.5 batches, then the connection drops at once: the registry is still handing
    // over the first batches when it learns, with the rest of the chunk in hand.
    await new Promise<void>((resolve) => {
      const req = request(new URL(location, url), { method: 'PATCH', headers: { 'transfer-encoding': 'chunked' }, agent: false });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.write(blob, () => req.destroy());
    });
    const expected = `0-${blob.length - 1}`;
    let status = await send(url, location);
    for (const deadline = Date.now() + 5000; status.headers.get('range') !== expected && Date.now() < deadline; ) {
      await sleep(20);
      status = await send(url, location);
    }
    expectHeader(status, 'range', expected);
    expectStatus(await putUpload(url, location, sha256(blob)), 201);
  }
});

test('restart: an upload continues after the registry process is restarted, with the right digest', async (t) => {
  const first = await startRegistry(t);
  const blob = randomBytes(700_000);
  const location = await startUpload(first.url, REPO);
  expectStatus(await patchChunk(first.url, location, blob.subarray(0, 300_000), 0), 202);
  await first.registry.close();

  const second = await startRegistry(t, { root: first.root });
  const status = await send(second.url, location);
  expectHeader(status, 'range', '0-299999');
  expectStatus(await patchChunk(second.url, location, blob.subarray(300_000), 300_000), 202);
  expectStatus(await putUpload(second.url, location, sha256(blob)), 201);
  assert.ok((await getBlobBytes(second.url, REPO, sha256(blob))).equals(blob));
});

test('commit: a blob that already exists wins; a second upload of it is dropped cleanly', async (t) => {
  const { url } = await startRegistry(t);
  const blob = randomBytes(9000);
  const d1 = await pushBlob(url, 'one', blob);
  const d2 = await pushBlob(url, 'two', blob);
  assert.equal(d1, d2);
  assert.ok((await getBlobBytes(url, 'two', d2)).equals(blob));
});
