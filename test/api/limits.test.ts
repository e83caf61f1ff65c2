import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { request } from 'node:http';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { expectError, expectHeader, expectStatus } from '../helpers/assertions.ts';
import { patchChunk, putUpload, send, sha256, startUpload } from '../helpers/oci-client.ts';
import { startRegistry } from '../helpers/registry.ts';

test('limits.uploadsize: a blob may not grow past it → 413 BLOB_UPLOAD_INVALID; under it all is normal', async (t) => {
  const { url } = await startRegistry(t, { config: { limits: { uploadsize: '100KiB' } }, pipeline: { batchSize: 16 * 1024, checkpointEvery: 1 << 30 } });
  const big = randomBytes(150 * 1024);
  const monolithic = await send(url, `/v2/lim/blobs/uploads/?digest=${sha256(big)}`, { method: 'POST', headers: { 'content-length': big.length }, body: big });
  expectError(monolithic, 413, 'BLOB_UPLOAD_INVALID');
  expectHeader(monolithic, 'connection', 'close');

  // Chunked: the first 90 KiB fit, the next chunk does not; the upload stays at 90 KiB.
  const location = await startUpload(url, 'lim');
  expectStatus(await patchChunk(url, location, big.subarray(0, 90 * 1024), 0), 202);
  expectError(await patchChunk(url, location, big.subarray(90 * 1024), 90 * 1024), 413, 'BLOB_UPLOAD_INVALID');
  expectHeader(await send(url, location), 'range', `0-${90 * 1024 - 1}`);

  // Streamed without a length: refused when it crosses the limit, the bytes below it kept.
  const streamed = await startUpload(url, 'lim');
  async function* body(): AsyncGenerator<Buffer> {
    for (let i = 0; i < 15; i++) yield big.subarray(i * 10 * 1024, (i + 1) * 10 * 1024);
  }
  // The rest of the body is left unread (paused, not torn down), so the client gets the answer,
  // and the connection is closed after it: nothing will read the rest.
  const reply = await send(url, streamed, { method: 'PATCH', headers: { 'transfer-encoding': 'chunked' }, body: body() });
  expectError(reply, 413, 'BLOB_UPLOAD_INVALID');
  expectHeader(reply, 'connection', 'close');
  const status = await send(url, streamed);
  const kept = Number(/0-(\d+)/.exec(status.headers.get('range') ?? '')?.[1] ?? 0) + 1;
  assert.ok(kept <= 100 * 1024, `kept ${kept} bytes`);

  const small = randomBytes(50 * 1024);
  const ok = await startUpload(url, 'lim');
  expectStatus(await patchChunk(url, ok, small, 0), 202);
  expectStatus(await putUpload(url, ok, sha256(small)), 201);
});

test('limits.concurrentuploads: one more request writing bytes than allowed → 429 TOOMANYREQUESTS with Retry-After', async (t) => {
  const { url } = await startRegistry(t, { config: { limits: { concurrentuploads: 1 } } });
  const first = await startUpload(url, 'busy');
  const second = await startUpload(url, 'busy');
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  async function* slow(): AsyncGenerator<Buffer> {
    yield randomBytes(1000);
    await gate;
    yield randomBytes(1000);
  }
  const holding = send(url, first, { method: 'PATCH', headers: { 'transfer-encoding': 'chunked' }, body: slow() });
  // Once the held PATCH has its place, a write to another upload is refused. Probe fresh uploads
  // until then (each probe that gets in first is simply a finished chunk).
  let refused = await patchChunk(url, await startUpload(url, 'probe'), randomBytes(10), 0);
  for (const deadline = Date.now() + 10_000; refused.status === 202 && Date.now() < deadline; ) {
    await sleep(20);
    refused = await patchChunk(url, await startUpload(url, 'probe'), randomBytes(10), 0);
  }
  expectError(refused, 429, 'TOOMANYREQUESTS');
  expectHeader(refused, 'retry-after', '1');
  // Requests without bytes are not counted.
  expectStatus(await send(url, second), 204);
  release();
  expectStatus(await holding, 202);
  expectStatus(await patchChunk(url, second, randomBytes(10), 0), 202);
});

test('limits.headertimeout: a client that never finishes its headers (slowloris) is disconnected', async (t) => {
  const { url } = await startRegistry(t, { config: { limits: { headertimeout: '500ms' } } });
  const { port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  t.after(() => socket.destroy());
  socket.resume(); // read, or the server's close is never seen
  socket.write('GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Slow: ');
  const started = Date.now();
  const closed = await Promise.race([new Promise<boolean>((resolve) => socket.on('close', () => resolve(true))), sleep(5000).then(() => false)]);
  assert.ok(closed, 'the server kept the half-sent request open for 5 s');
  assert.ok(Date.now() - started < 5000);
  expectStatus(await send(url, '/v2/'), 200);
});

test('limits.idletimeout: a PATCH whose client goes silent is cut off; the bytes that came are kept', async (t) => {
  const { url } = await startRegistry(t, { config: { limits: { idletimeout: '1s' } }, pipeline: { batchSize: 16 * 1024, checkpointEvery: 1 << 30 } });
  const location = await startUpload(url, 'idle');
  const data = randomBytes(40 * 1024);
  const closed = await new Promise<boolean>((resolve) => {
    const req = request(new URL(location, url), { method: 'PATCH', headers: { 'transfer-encoding': 'chunked' }, agent: false });
    req.on('error', () => resolve(true));
    req.on('close', () => resolve(true));
    req.write(data); // then silence
    setTimeout(() => resolve(false), 6000).unref();
  });
  assert.ok(closed, 'the silent connection was never closed');
  // The bytes after the last full batch are written once the request has failed, after the
  // close the client saw: wait for them (on a loaded machine that takes more than a moment).
  const expected = `0-${data.length - 1}`;
  let status = await send(url, location);
  for (const deadline = Date.now() + 5000; status.headers.get('range') !== expected && Date.now() < deadline; ) {
    await sleep(50);
    status = await send(url, location);
  }
  expectStatus(status, 204);
  expectHeader(status, 'range', expected);
});
