import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import { expectError, expectHeader, expectStatus, type Reply } from '../helpers/assertions.ts';
import { pushBlobMonolithic, unknownDigest } from '../helpers/manifest-fixtures.ts';
import { pushBlob, send, sha256 } from '../helpers/oci-client.ts';
import { startRegistry } from '../helpers/registry.ts';

// One registry for the file; every test uses its own repositories.
const { url } = await startRegistry({ after });
const TEN = Buffer.from('0123456789');

function expectBlobHeaders(reply: Reply, digest: string, length: number): void {
  expectHeader(reply, 'docker-content-digest', digest);
  expectHeader(reply, 'content-length', String(length));
  expectHeader(reply, 'content-type', 'application/octet-stream');
  expectHeader(reply, 'accept-ranges', 'bytes');
}

test('GET end-2: the blob bytes with Docker-Content-Digest and Content-Length', async () => {
  const digest = await pushBlob(url, 'get/app', TEN);
  const reply = await send(url, `/v2/get/app/blobs/${digest}`);
  expectStatus(reply, 200);
  expectBlobHeaders(reply, digest, TEN.length);
  assert.ok(reply.body.equals(TEN));
  assert.equal(reply.headers.get('content-range'), null);
});

test('HEAD end-2: the same headers as GET and no body', async () => {
  const digest = await pushBlob(url, 'head/app', TEN);
  const reply = await send(url, `/v2/head/app/blobs/${digest}`, { method: 'HEAD' });
  expectStatus(reply, 200);
  expectBlobHeaders(reply, digest, TEN.length);
  assert.equal(reply.body.length, 0, 'HEAD sent a body');
});

test('GET end-2: a 3 MiB blob comes back whole, and a Range across read boundaries is exact', async () => {
  const bytes = randomBytes(3 * 1024 * 1024 + 17);
  const digest = await pushBlob(url, 'large/app', bytes);
  const whole = await send(url, `/v2/large/app/blobs/${digest}`);
  expectStatus(whole, 200);
  expectBlobHeaders(whole, digest, bytes.length);
  assert.equal(sha256(whole.body), digest);
  const start = 1024 * 1024 - 5;
  const end = 2 * 1024 * 1024 + 5;
  const part = await send(url, `/v2/large/app/blobs/${digest}`, { headers: { range: `bytes=${start}-${end}` } });
  expectStatus(part, 206);
  expectHeader(part, 'content-range', `bytes ${start}-${end}/${bytes.length}`);
  assert.ok(part.body.equals(bytes.subarray(start, end + 1)));
});

/** Range on the 10-byte blob "0123456789" (RFC 9110 §14.1.2). */
const RANGES: ReadonlyArray<{ range: string; body: string; contentRange: string }> = [
  { range: 'bytes=0-4', body: '01234', contentRange: 'bytes 0-4/10' },
  { range: 'bytes=3-3', body: '3', contentRange: 'bytes 3-3/10' },
  { range: 'bytes=5-', body: '56789', contentRange: 'bytes 5-9/10' },
  { range: 'bytes=0-', body: '0123456789', contentRange: 'bytes 0-9/10' },
  { range: 'bytes=-3', body: '789', contentRange: 'bytes 7-9/10' },
  { range: 'bytes=-50', body: '0123456789', contentRange: 'bytes 0-9/10' },
  { range: 'bytes=8-100', body: '89', contentRange: 'bytes 8-9/10' },
];

test('GET end-2: Range → 206 with Content-Range and exactly those bytes (start-end, start-, suffix -N)', async (t) => {
  const digest = await pushBlob(url, 'range/app', TEN);
  for (const { range, body, contentRange } of RANGES) {
    await t.test(range, async () => {
      const reply = await send(url, `/v2/range/app/blobs/${digest}`, { headers: { range } });
      expectStatus(reply, 206);
      expectHeader(reply, 'content-range', contentRange);
      expectHeader(reply, 'content-length', String(body.length));
      expectHeader(reply, 'docker-content-digest', digest);
      assert.equal(reply.body.toString(), body);
    });
  }
});

test('HEAD end-2: Range → 206 headers, no body', async () => {
  const digest = await pushBlob(url, 'range-head/app', TEN);
  const reply = await send(url, `/v2/range-head/app/blobs/${digest}`, { method: 'HEAD', headers: { range: 'bytes=2-5' } });
  expectStatus(reply, 206);
  expectHeader(reply, 'content-range', 'bytes 2-5/10');
  expectHeader(reply, 'content-length', '4');
  assert.equal(reply.body.length, 0);
});

test('GET end-2: unsatisfiable Range → 416 with Content-Range bytes */size', async () => {
  const digest = await pushBlob(url, 'range416/app', TEN);
  for (const range of ['bytes=10-', 'bytes=10-20', 'bytes=-0']) {
    const reply = await send(url, `/v2/range416/app/blobs/${digest}`, { headers: { range } });
    expectError(reply, 416, 'BLOB_UNKNOWN');
    expectHeader(reply, 'content-range', 'bytes */10');
  }
});

test('GET end-2: a Range we cannot use (other unit, several ranges, end before start) is ignored → 200 whole blob', async () => {
  const digest = await pushBlob(url, 'range-ignored/app', TEN);
  for (const range of ['items=0-1', 'bytes=0-1,3-4', 'bytes=5-2', 'bytes=x-y']) {
    const reply = await send(url, `/v2/range-ignored/app/blobs/${digest}`, { headers: { range } });
    expectStatus(reply, 200);
    expectBlobHeaders(reply, digest, 10);
    assert.equal(reply.headers.get('content-range'), null, range);
    assert.ok(reply.body.equals(TEN), range);
  }
});

test('GET/HEAD end-2: zero-length blob → 200, Content-Length 0, empty body; any Range → 416', async () => {
  const digest = await pushBlobMonolithic(url, 'empty/app', '');
  assert.equal(digest, sha256(''));
  for (const method of ['GET', 'HEAD']) {
    const reply = await send(url, `/v2/empty/app/blobs/${digest}`, { method });
    expectStatus(reply, 200);
    expectBlobHeaders(reply, digest, 0);
    assert.equal(reply.body.length, 0);
  }
  const ranged = await send(url, `/v2/empty/app/blobs/${digest}`, { headers: { range: 'bytes=0-' } });
  expectError(ranged, 416, 'BLOB_UNKNOWN');
  expectHeader(ranged, 'content-range', 'bytes */0');
});

test('GET/HEAD end-2: unknown blob → 404 BLOB_UNKNOWN (HEAD without a body), sha512 included', async () => {
  await pushBlob(url, 'unknown/app', TEN);
  for (const digest of [unknownDigest('blob'), `sha512:${'ab'.repeat(64)}`]) {
    expectError(await send(url, `/v2/unknown/app/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
    const head = await send(url, `/v2/unknown/app/blobs/${digest}`, { method: 'HEAD' });
    expectStatus(head, 404);
    assert.equal(head.body.length, 0);
  }
  expectError(await send(url, `/v2/no/such/repo/blobs/${unknownDigest('blob')}`), 404, 'BLOB_UNKNOWN');
});

test('GET end-2: a blob pushed to repository A is not visible through repository B', async () => {
  const digest = await pushBlob(url, 'iso/a', 'only in a');
  expectStatus(await send(url, `/v2/iso/a/blobs/${digest}`), 200);
  expectError(await send(url, `/v2/iso/b/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
  expectStatus(await send(url, `/v2/iso/b/blobs/${digest}`, { method: 'HEAD' }), 404);
});

test('GET/HEAD/DELETE end-2/end-10: invalid digest → 400 DIGEST_INVALID', async () => {
  for (const digest of ['sha256:abc', `sha256:${'A'.repeat(64)}`, `md5:${'a'.repeat(32)}`, 'latest']) {
    expectError(await send(url, `/v2/bad/app/blobs/${digest}`), 400, 'DIGEST_INVALID');
    expectStatus(await send(url, `/v2/bad/app/blobs/${digest}`, { method: 'HEAD' }), 400);
    expectError(await send(url, `/v2/bad/app/blobs/${digest}`, { method: 'DELETE' }), 400, 'DIGEST_INVALID');
  }
});

test('DELETE end-10: → 202 with Docker-Content-Digest; then 404, while another repository keeps its copy', async () => {
  const digest = await pushBlob(url, 'del/a', 'shared bytes');
  await pushBlob(url, 'del/b', 'shared bytes');
  const reply = await send(url, `/v2/del/a/blobs/${digest}`, { method: 'DELETE' });
  expectStatus(reply, 202);
  expectHeader(reply, 'docker-content-digest', digest);
  assert.equal(reply.body.length, 0);
  expectError(await send(url, `/v2/del/a/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
  expectStatus(await send(url, `/v2/del/a/blobs/${digest}`, { method: 'HEAD' }), 404);
  expectError(await send(url, `/v2/del/a/blobs/${digest}`, { method: 'DELETE' }), 404, 'BLOB_UNKNOWN');
  const other = await send(url, `/v2/del/b/blobs/${digest}`);
  expectStatus(other, 200);
  assert.equal(other.body.toString(), 'shared bytes');
});

test('DELETE end-10: unknown blob → 404 BLOB_UNKNOWN', async () => {
  expectError(await send(url, `/v2/del-unknown/app/blobs/${unknownDigest('delete')}`, { method: 'DELETE' }), 404, 'BLOB_UNKNOWN');
});

test('DELETE end-10: deletes disabled → 405 UNSUPPORTED and the blob stays', async (t) => {
  // Its own registry: the switch is per registry.
  const disabled = await startRegistry(t, { deleteEnabled: false });
  const digest = await pushBlob(disabled.url, 'app', TEN);
  expectError(await send(disabled.url, `/v2/app/blobs/${digest}`, { method: 'DELETE' }), 405, 'UNSUPPORTED');
  const reply = await send(disabled.url, `/v2/app/blobs/${digest}`);
  expectStatus(reply, 200);
  assert.ok(reply.body.equals(TEN));
});
