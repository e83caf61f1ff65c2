import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { describe, expectError, expectHeader, expectStatus } from '../helpers/assertions.ts';
import { unknownDigest } from '../helpers/manifest-fixtures.ts';
import { pushBlob, pushImage, send } from '../helpers/oci-client.ts';
import { rawExchange, rawRequest } from '../helpers/raw-http.ts';
import { startRegistry } from '../helpers/registry.ts';

/*
 * HEAD answers carry GET's headers and no body (RFC 9110 §9.3.2; end-1, end-2, end-3). Node's
 * HTTP client discards whatever follows a HEAD response, so these tests read the raw socket:
 * any byte after the header block is a body the server sent.
 */

const { url } = await startRegistry({ after });

async function headRaw(path: string, headers: readonly string[] = []): Promise<ReturnType<typeof rawExchange>> {
  return rawExchange(url, rawRequest('HEAD', path, url, headers), { method: 'HEAD', path });
}

function expectNoBody(exchange: Awaited<ReturnType<typeof rawExchange>>): void {
  assert.equal(exchange.reply.body.length, 0, `HEAD sent ${exchange.reply.body.length} bytes after its headers\n${describe(exchange.reply)}`);
}

/** HEAD answers as GET does, header for header, less the body. */
async function expectHeadMatchesGet(path: string, status: number, headers: readonly string[] = []): Promise<void> {
  const head = await headRaw(path, headers);
  expectStatus(head.reply, status);
  expectNoBody(head);
  const get = await send(url, path, { headers: Object.fromEntries(headers.map((h) => h.split(': ') as [string, string])) });
  expectStatus(get, status);
  for (const name of ['content-length', 'content-type', 'docker-content-digest', 'content-range', 'etag', 'docker-distribution-api-version']) {
    assert.equal(head.reply.headers.get(name), get.headers.get(name), `${name}: HEAD and GET differ\nHEAD ${describe(head.reply)}\nGET ${describe(get)}`);
  }
}

test('HEAD end-1: /v2/ → 200 with the API version header, nothing after the headers', async () => {
  await expectHeadMatchesGet('/v2/', 200);
});

test('HEAD end-2: a blob → 200 with its length and digest, nothing after the headers', async () => {
  const digest = await pushBlob(url, 'head/blob', 'ten bytes!');
  await expectHeadMatchesGet(`/v2/head/blob/blobs/${digest}`, 200);
});

test('HEAD end-2: a blob with Range → 206 with Content-Range, nothing after the headers', async () => {
  const digest = await pushBlob(url, 'head/range', 'ten bytes!');
  await expectHeadMatchesGet(`/v2/head/range/blobs/${digest}`, 206, ['Range: bytes=2-5']);
});

test('HEAD end-3: a manifest by tag and by digest → 200 with its type, length and digest, nothing after the headers', async () => {
  const image = await pushImage(url, 'head/manifest', 'v1');
  await expectHeadMatchesGet('/v2/head/manifest/manifests/v1', 200);
  await expectHeadMatchesGet(`/v2/head/manifest/manifests/${image.digest}`, 200);
});

test('HEAD end-2/end-3: unknown blob or manifest → 404 with the length of the error GET would send, no body', async () => {
  await expectHeadMatchesGet(`/v2/head/missing/blobs/${unknownDigest()}`, 404);
  await expectHeadMatchesGet('/v2/head/missing/manifests/nope', 404);
});

test('HTTP parser refusals: a malformed request line → 400 with an OCI body (HTTP_REQUEST_INVALID), then the connection closes', async () => {
  const { reply } = await rawExchange(url, 'GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', { method: 'GET', path: '/v2/' });
  expectError(reply, 400, 'UNSUPPORTED');
  expectHeader(reply, 'connection', 'close');
  expectHeader(reply, 'docker-distribution-api-version', 'registry/2.0');
});

test('HTTP parser refusals: headers past node\'s 16 KiB limit → 431 with an OCI body (HEADERS_TOO_LARGE), then the connection closes', async () => {
  const { reply } = await rawExchange(url, `GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Filler: ${'a'.repeat(20_000)}\r\n\r\n`, { method: 'GET', path: '/v2/' });
  expectError(reply, 431, 'UNSUPPORTED');
  expectHeader(reply, 'connection', 'close');
});
