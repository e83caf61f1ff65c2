import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { expectError, expectHeader, expectStatus, type Reply } from '../helpers/assertions.ts';
import { pushBlob, pushImage, send, startUpload } from '../helpers/oci-client.ts';
import { startRegistry } from '../helpers/registry.ts';
import type { LogLevel } from '../../src/config/schema.ts';
import type { Logger } from '../../src/log.ts';

/** The headers every answer carries, whatever path wrote it (http/respond.ts). */
function expectCommonHeaders(reply: Reply): void {
  expectHeader(reply, 'docker-distribution-api-version', 'registry/2.0');
  expectHeader(reply, 'x-content-type-options', 'nosniff');
}

/** The registry's logger (src/log.ts's pino) at `level`, its JSON lines kept in `lines`. */
function capturingLogger(level: LogLevel): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

test('responses end-1: every kind of answer carries Docker-Distribution-API-Version and nosniff (JSON, bytes, stream, HEAD, 202, 204, errors)', async (t) => {
  const { url } = await startRegistry(t);
  const { digest } = await pushImage(url, 'r/app', 'v1');
  const small = await pushBlob(url, 'r/app', 'tiny');
  const large = await pushBlob(url, 'r/app', Buffer.alloc(2 * 1024 * 1024, 7));
  const replies: [Reply, number][] = [
    [await send(url, '/v2/'), 200],
    [await send(url, '/v2/r/app/manifests/v1'), 200],
    [await send(url, `/v2/r/app/manifests/${digest}`, { method: 'HEAD' }), 200],
    [await send(url, `/v2/r/app/blobs/${small}`), 200],
    [await send(url, `/v2/r/app/blobs/${large}`), 200],
    [await send(url, `/v2/r/app/blobs/${small}`, { headers: { range: 'bytes=1-2' } }), 206],
    [await send(url, '/v2/r/app/tags/list'), 200],
    [await send(url, '/v2/r/app/blobs/uploads/', { method: 'POST' }), 202],
    [await send(url, '/v2/r/app/manifests/nope'), 404],
    [await send(url, '/v2/NOPE/tags/list'), 400],
    [await send(url, '/v2/', { method: 'DELETE' }), 405],
  ];
  const location = await startUpload(url, 'r/app');
  replies.push([await send(url, location, { method: 'DELETE' }), 204]);
  for (const [reply, status] of replies) {
    expectStatus(reply, status);
    expectCommonHeaders(reply);
  }
});

test('responses end-2: a header a handler set before it threw reaches the error answer with the common ones (416 + Content-Range)', async (t) => {
  const { url } = await startRegistry(t);
  const small = await pushBlob(url, 'r/app', 'tiny');
  const reply = await send(url, `/v2/r/app/blobs/${small}`, { headers: { range: 'bytes=100-200' } });
  expectError(reply, 416, 'BLOB_UNKNOWN'); // BLOB_RANGE_INVALID's wire code (errors/codes.ts)
  expectHeader(reply, 'content-range', 'bytes */4');
  expectCommonHeaders(reply);
});

test('request log: at info, one `request` line per request, each with its own 8-hex request id, route, status and time', async (t) => {
  const { logger, lines } = capturingLogger('info');
  const { url } = await startRegistry(t, { logger });
  expectStatus(await send(url, '/v2/'), 200);
  expectError(await send(url, '/v2/r/app/manifests/nope'), 404, 'MANIFEST_UNKNOWN');
  const requests = lines.filter((l) => l['msg'] === 'request');
  assert.equal(requests.length, 2, JSON.stringify(lines));
  assert.deepEqual(
    requests.map((l) => [l['url'], l['route'], l['status']]),
    [
      ['/v2/', 'end-1', 200],
      ['/v2/r/app/manifests/nope', 'end-3', 404],
    ],
  );
  for (const line of requests) {
    assert.match(String(line['req']), /^[0-9a-f]{8}$/);
    assert.equal(typeof line['ms'], 'number');
  }
  assert.notEqual(requests[0]?.['req'], requests[1]?.['req']);
});

test('request log: at warn, requests answered without a server error log nothing', async (t) => {
  const { logger, lines } = capturingLogger('warn');
  const { url } = await startRegistry(t, { logger });
  expectStatus(await send(url, '/v2/'), 200);
  expectError(await send(url, '/v2/r/app/manifests/nope'), 404, 'MANIFEST_UNKNOWN');
  assert.deepEqual(lines, []);
});

test('tags end-8a: the whole-list answer follows every tag push and delete at once, and each repository gets its own name', async (t) => {
  const { url } = await startRegistry(t);
  const tagsOf = async (repo: string): Promise<unknown> => {
    const reply = await send(url, `/v2/${repo}/tags/list`);
    expectStatus(reply, 200);
    return JSON.parse(reply.body.toString());
  };
  await pushImage(url, 'r/one', 'a');
  await pushImage(url, 'r/two', 'a');
  assert.deepEqual(await tagsOf('r/one'), { name: 'r/one', tags: ['a'] });
  assert.deepEqual(await tagsOf('r/two'), { name: 'r/two', tags: ['a'] });
  await pushImage(url, 'r/one', 'b');
  assert.deepEqual(await tagsOf('r/one'), { name: 'r/one', tags: ['a', 'b'] });
  expectStatus(await send(url, '/v2/r/one/manifests/a', { method: 'DELETE' }), 202);
  assert.deepEqual(await tagsOf('r/one'), { name: 'r/one', tags: ['b'] });
  assert.deepEqual(await tagsOf('r/two'), { name: 'r/two', tags: ['a'] });
});
