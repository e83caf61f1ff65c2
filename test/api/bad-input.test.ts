import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { describe, expectError, expectHeader, expectStatus, type Reply } from '../helpers/assertions.ts';
import { pushImageManifest, readJson, unknownDigest } from '../helpers/manifest-fixtures.ts';
import { OCI_MANIFEST, pushBlob, sha256, startUpload } from '../helpers/oci-client.ts';
import { send as sendRaw, type SendOptions as RawOptions } from '../helpers/oci-client.ts';
import { startRegistry } from '../helpers/registry.ts';

/*
 * Every rejected input gets its own code and a 4xx, never a 5xx, and every reply carries
 * Docker-Distribution-API-Version. Tables are grouped by the code they expect, so each
 * expectError(...) below names its code literally (test/errors/codes.test.ts reads them).
 * Paths go out byte for byte (oci-client send uses node:http's raw path): '..' and '%2e%2e' reach the server as written.
 */

const { url } = await startRegistry({ after });
const present = await pushImageManifest(url, 'app', 'v1');
const presentBlob = await pushBlob(url, 'app', 'a layer');
const DIGEST = unknownDigest('bad-input');
const HEX64 = 'a'.repeat(64);

/** One request; whatever it answers is never a 5xx and carries the API version header. */
async function call(method: string, path: string, options: RawOptions = {}): Promise<Reply> {
  const reply = await sendRaw(url, path, { ...options, method });
  assert.ok(reply.status < 500, `5xx for bad input\n${describe(reply)}`);
  expectHeader(reply, 'docker-distribution-api-version', 'registry/2.0');
  return reply;
}

/** Every endpoint that takes a <name>, for one name as it appears in the path. */
function endpointsFor(name: string): Array<[method: string, path: string]> {
  return [
    ['GET', `/v2/${name}/tags/list`],
    ['GET', `/v2/${name}/manifests/latest`],
    ['HEAD', `/v2/${name}/manifests/${DIGEST}`],
    ['PUT', `/v2/${name}/manifests/latest`],
    ['DELETE', `/v2/${name}/manifests/latest`],
    ['GET', `/v2/${name}/blobs/${DIGEST}`],
    ['DELETE', `/v2/${name}/blobs/${DIGEST}`],
    ['POST', `/v2/${name}/blobs/uploads/`],
    ['PATCH', `/v2/${name}/blobs/uploads/0f7d5c1e-9b3a-4c2d-8e6f-1a2b3c4d5e6f`],
    ['GET', `/v2/${name}/referrers/${DIGEST}`],
  ];
}

const INVALID_NAMES: readonly string[] = [
  'Upper',
  'library/Ubuntu',
  '..',
  '.',
  '../app',
  'app/..',
  'a/../b',
  'a/./b',
  '%2e%2e',
  '%2E%2E/app',
  'a/%2e%2e/b',
  'a%2F..%2Fb',
  'a%2Fb',
  '-lead',
  'trail-',
  '.lead',
  'trail.',
  '_lead',
  'trail_',
  'a___b',
  'a..b',
  'a/-b',
  '/lead',
  'trail/',
  'a//b',
  'a%20b',
  'a\\b',
  '%C3%A4pp',
  'a'.repeat(256),
  // 256 characters in 16 components: one past the limit.
  `${Array.from({ length: 16 }, (_, i) => `${String.fromCharCode(97 + i)}${'x'.repeat(14)}`).join('/')}y`,
];

test('bad input (code-8): invalid repository names → 400 NAME_INVALID on every endpoint', async (t) => {
  assert.equal(INVALID_NAMES.at(-1)?.length, 256);
  assert.equal(INVALID_NAMES.at(-2)?.length, 256);
  for (const name of INVALID_NAMES) {
    await t.test(name.length > 40 ? `${name.slice(0, 20)}… (${name.length} chars)` : name, async () => {
      for (const [method, path] of endpointsFor(name)) {
        const reply = await call(method, path, method === 'PUT' ? { headers: { 'content-type': OCI_MANIFEST }, body: present.bytes } : {});
        expectError(reply, 400, 'NAME_INVALID');
      }
    });
  }
});

test('bad input (code-8): the longest legal names (255 chars; one component, and 16 components) work end to end', async () => {
  const component = (i: number): string => `${String.fromCharCode(97 + i)}0-b1.c2_d3__e4`;
  const multi = Array.from({ length: 16 }, (_, i) => component(i)).join('/');
  const single = 'z'.repeat(255);
  for (const name of [multi, single]) {
    assert.equal(name.length, 255);
    const pushed = await pushImageManifest(url, name, 'longest', { layers: [`layer of ${name.length}`] });
    const layer = sha256(`layer of ${name.length}`);
    for (const reference of ['longest', pushed.digest]) {
      const reply = await call('GET', `/v2/${name}/manifests/${reference}`);
      expectStatus(reply, 200);
      assert.ok(reply.body.equals(pushed.bytes));
    }
    const blob = await call('GET', `/v2/${name}/blobs/${layer}`);
    expectStatus(blob, 200);
    assert.equal(blob.body.toString(), `layer of ${name.length}`);
    const tags = await call('GET', `/v2/${name}/tags/list`);
    expectStatus(tags, 200);
    assert.deepEqual(readJson<{ name: string; tags: string[] }>(tags), { name, tags: ['longest'] });
    expectStatus(await call('GET', `/v2/${name}/referrers/${pushed.digest}`), 200);
  }
  const catalog = await call('GET', '/v2/_catalog');
  expectStatus(catalog, 200);
  const { repositories } = readJson<{ repositories: string[] }>(catalog);
  assert.ok(repositories.includes(multi) && repositories.includes(single), 'longest names missing from the catalog');
});

test('bad input: path traversal in <name> → 400 NAME_INVALID (and in ?from= of a mount)', async () => {
  const rows: Array<[string, string]> = [
    ['GET', '/v2/../../etc/tags/list'],
    ['GET', '/v2/app/../../../etc/manifests/latest'],
    ['GET', '/v2/app/%2e%2e/%2e%2e/blobs/' + DIGEST],
    ['POST', '/v2/%2e%2e%2f%2e%2e/blobs/uploads/'],
    ['POST', `/v2/app/blobs/uploads/?mount=${presentBlob}&from=../x`],
    ['POST', `/v2/app/blobs/uploads/?mount=${presentBlob}&from=..%2F..%2Fapp`],
    ['POST', `/v2/app/blobs/uploads/?mount=${presentBlob}&from=%2e%2e`],
  ];
  for (const [method, path] of rows) expectError(await call(method, path), 400, 'NAME_INVALID');
});

test('bad input: path traversal in <reference> → PUT 400 TAG_INVALID, GET/HEAD/DELETE 404 MANIFEST_UNKNOWN, or DIGEST_INVALID when it has a ":"', async () => {
  const tags = ['..', '.', '%2e%2e', '..%2F..%2Fetc%2Fpasswd', '%2e%2e%2f%2e%2e', '..%5C..%5Cx', 'a%2F..', 'a%00b'];
  for (const method of ['GET', 'HEAD', 'PUT', 'DELETE']) {
    for (const reference of tags) {
      const reply = await call(method, `/v2/app/manifests/${reference}`, method === 'PUT' ? { body: present.bytes, headers: { 'content-type': OCI_MANIFEST } } : {});
      if (method === 'PUT') expectError(reply, 400, 'TAG_INVALID');
      else expectError(reply, 404, 'MANIFEST_UNKNOWN');
    }
    for (const reference of ['sha256:..%2F..', `sha256:..%2F${HEX64.slice(3)}`, 'sha256%3A..%2F..']) {
      expectError(await call(method, `/v2/app/manifests/${reference}`), 400, 'DIGEST_INVALID');
    }
  }
});

test('bad input: path traversal in <digest> (blobs, referrers, upload ?digest= and ?mount=) → 400 DIGEST_INVALID', async () => {
  const digests = ['..', '%2e%2e', '..%2F..%2Fx', 'sha256:..%2F..%2Fblobs', `sha256:${HEX64.slice(6)}%2F..%2F`, 'sha256%3A..'];
  for (const digest of digests) {
    for (const method of ['GET', 'HEAD', 'DELETE']) expectError(await call(method, `/v2/app/blobs/${digest}`), 400, 'DIGEST_INVALID');
    expectError(await call('GET', `/v2/app/referrers/${digest}`), 400, 'DIGEST_INVALID');
    expectError(await call('POST', `/v2/app/blobs/uploads/?digest=${digest}`), 400, 'DIGEST_INVALID');
    expectError(await call('POST', `/v2/app/blobs/uploads/?mount=${digest}&from=app`), 400, 'DIGEST_INVALID');
  }
  const location = await startUpload(url, 'app');
  expectError(await call('PUT', `${location}?digest=..%2F..%2Fx`), 400, 'DIGEST_INVALID');
});

test('bad input: path traversal in the upload <uuid> → 404 BLOB_UPLOAD_UNKNOWN', async () => {
  const uuids = ['..', '.', '%2e%2e', '..%2F..%2F_layers', '..%2F..%2F..%2F..%2Fetc', 'a%00b', '%2F', 'x'.repeat(200)];
  for (const uuid of uuids) {
    const path = `/v2/app/blobs/uploads/${uuid}`;
    expectError(await call('GET', path), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectError(await call('DELETE', path), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectError(await call('PATCH', path, { body: 'data', headers: { 'content-type': 'application/octet-stream' } }), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectError(await call('PUT', `${path}?digest=${sha256('')}`), 404, 'BLOB_UPLOAD_UNKNOWN');
  }
});

test('bad input: malformed percent-encoding → 4xx with the code of the part it is in', async () => {
  // In <name>: the grammar has no '%' at all.
  for (const path of ['/v2/f%zzoo/tags/list', '/v2/app%/manifests/v1', '/v2/%E0%A4%A/blobs/uploads/']) {
    expectError(await call(path.endsWith('uploads/') ? 'POST' : 'GET', path), 400, 'NAME_INVALID');
  }
  // In a routed parameter find-my-way cannot decode it, so no route matches (router.ts).
  for (const path of ['/v2/app/manifests/%zz', `/v2/app/blobs/sha256%G3${HEX64}`, '/v2/app/referrers/%E0%A4%A', '/v2/app/blobs/uploads/%', '/v2/app/manifests/v1%']) {
    expectError(await call('GET', path), 404, 'UNSUPPORTED');
  }
  // In the query: URLSearchParams keeps the bytes, and the value is judged as it stands.
  expectError(await call('PUT', `/v2/app/manifests/${present.digest}?tag=%zz`, { body: present.bytes, headers: { 'content-type': OCI_MANIFEST } }), 400, 'TAG_INVALID');
  expectError(await call('GET', '/v2/app/tags/list?n=%zz'), 400, 'PAGINATION_NUMBER_INVALID');
  expectError(await call('GET', '/v2/_catalog?n=%'), 400, 'PAGINATION_NUMBER_INVALID');
  expectStatus(await call('GET', '/v2/app/tags/list?last=%zz'), 200);
});

test('bad input (code-4): sha512 of the right length is a digest we address → 404, not 400', async () => {
  const sha512 = `sha512:${'ab'.repeat(64)}`;
  expectError(await call('GET', `/v2/app/blobs/${sha512}`), 404, 'BLOB_UNKNOWN');
  expectStatus(await call('HEAD', `/v2/app/blobs/${sha512}`), 404);
  expectError(await call('DELETE', `/v2/app/blobs/${sha512}`), 404, 'BLOB_UNKNOWN');
  expectError(await call('GET', `/v2/app/manifests/${sha512}`), 404, 'MANIFEST_UNKNOWN');
  expectStatus(await call('GET', `/v2/app/referrers/${sha512}`), 200);
});

test('bad input (code-4): unsupported algorithms, wrong lengths, upper-case hex → 400 DIGEST_INVALID', async (t) => {
  const rows: Array<[string, string]> = [
    ['sha384', `sha384:${'a'.repeat(96)}`],
    ['md5', `md5:${'a'.repeat(32)}`],
    ['sha1', `sha1:${'a'.repeat(40)}`],
    ['unknown algorithm', `foo:${HEX64}`],
    ['algorithm with +encoding', `sha256+b64:${'A'.repeat(43)}`],
    ['upper-case algorithm', `SHA256:${HEX64}`],
    ['sha256, 63 hex', `sha256:${'a'.repeat(63)}`],
    ['sha256, 65 hex', `sha256:${'a'.repeat(65)}`],
    ['sha256, 128 hex', `sha256:${'a'.repeat(128)}`],
    ['sha512, 127 hex', `sha512:${'a'.repeat(127)}`],
    ['sha512, 64 hex', `sha512:${HEX64}`],
    ['sha256, upper-case hex', `sha256:${'A'.repeat(64)}`],
    ['sha256, mixed-case hex', `sha256:${'aB'.repeat(32)}`],
    ['sha256, non-hex', `sha256:${'g'.repeat(64)}`],
    ['sha256, empty', 'sha256:'],
    ['no algorithm', `:${HEX64}`],
    ['two colons', `sha256:${HEX64}:x`],
    ['very long', `sha256:${'a'.repeat(300)}`],
  ];
  for (const [label, digest] of rows) {
    await t.test(label, async () => {
      expectError(await call('GET', `/v2/app/blobs/${digest}`), 400, 'DIGEST_INVALID');
      expectStatus(await call('HEAD', `/v2/app/blobs/${digest}`), 400);
      expectError(await call('DELETE', `/v2/app/blobs/${digest}`), 400, 'DIGEST_INVALID');
      expectError(await call('GET', `/v2/app/manifests/${digest}`), 400, 'DIGEST_INVALID');
      expectError(await call('GET', `/v2/app/referrers/${digest}`), 400, 'DIGEST_INVALID');
      expectError(await call('POST', `/v2/app/blobs/uploads/?digest=${digest}`, { body: 'x' }), 400, 'DIGEST_INVALID');
    });
  }
  // A blob digest needs an algorithm; a manifest reference without ':' is a tag, which 64 hex is.
  expectError(await call('GET', `/v2/app/blobs/${HEX64}`), 400, 'DIGEST_INVALID');
  expectError(await call('GET', `/v2/app/manifests/${HEX64}`), 404, 'MANIFEST_UNKNOWN');
});

test('bad input: invalid tags → PUT 400 TAG_INVALID; GET 404 MANIFEST_UNKNOWN (nothing can be stored there)', async () => {
  for (const tag of ['-dash', '.dot', 'x'.repeat(129), 'a+b', 'a%20b', '%C3%A4', 'a%2Fb', 'a@b']) {
    expectError(await call('GET', `/v2/app/manifests/${tag}`), 404, 'MANIFEST_UNKNOWN');
    expectError(await call('PUT', `/v2/app/manifests/${tag}`, { body: present.bytes, headers: { 'content-type': OCI_MANIFEST } }), 400, 'TAG_INVALID');
    expectError(await call('PUT', `/v2/app/manifests/v1?tag=${tag}`, { body: present.bytes, headers: { 'content-type': OCI_MANIFEST } }), 400, 'TAG_INVALID');
  }
  // 128 characters is the longest legal tag.
  expectError(await call('GET', `/v2/app/manifests/${'x'.repeat(128)}`), 404, 'MANIFEST_UNKNOWN');
});

test('bad input: query junk is ignored where the endpoint takes no such parameter', async () => {
  expectStatus(await call('GET', '/v2/?a=b&&c&=&%zz'), 200);
  expectStatus(await call('GET', '/v2/_catalog?&&=x&y&n='), 200);
  expectStatus(await call('GET', '/v2/app/tags/list?foo=bar&&'), 200);
  const manifest = await call('GET', '/v2/app/manifests/v1?digest=junk&tag=..&n=-1');
  expectStatus(manifest, 200);
  assert.ok(manifest.body.equals(present.bytes));
  expectStatus(await call('GET', `/v2/app/blobs/${presentBlob}?digest=junk&n=abc`), 200);
});

test('bad input: junk in the parameters an endpoint does read → its 400', async () => {
  for (const n of ['abc', '-1', '+1', '0x1', '1.0', '1e1', '10000000000']) {
    expectError(await call('GET', `/v2/app/tags/list?n=${n}`), 400, 'PAGINATION_NUMBER_INVALID');
    expectError(await call('GET', `/v2/_catalog?n=${n}`), 400, 'PAGINATION_NUMBER_INVALID');
  }
  for (const query of ['tag=', 'tag=ok&tag=', 'tag=..', 'tag=a%2Fb']) {
    expectError(await call('PUT', `/v2/app/manifests/v1?${query}`, { body: present.bytes, headers: { 'content-type': OCI_MANIFEST } }), 400, 'TAG_INVALID');
  }
  const location = await startUpload(url, 'app');
  for (const query of ['', '?digest=', '?digest=junk', '?digest=sha256:abc']) {
    expectError(await call('PUT', `${location}${query}`), 400, 'DIGEST_INVALID');
  }
  expectError(await call('POST', '/v2/app/blobs/uploads/?mount=junk&from=app'), 400, 'DIGEST_INVALID');
});

test('bad input: an unreadable Content-Range on a chunk → 416 BLOB_UPLOAD_INVALID', async () => {
  const location = await startUpload(url, 'app');
  for (const range of ['abc', '5-2', '-1', '0-', 'bytes 0-x/*']) {
    const reply = await call('PATCH', location, { body: 'data', headers: { 'content-type': 'application/octet-stream', 'content-range': range } });
    expectError(reply, 416, 'BLOB_UPLOAD_INVALID');
  }
});

test('bad input: paths that are no endpoint → 404 UNSUPPORTED; a wrong method → 405 UNSUPPORTED', async () => {
  for (const path of ['/v2/app/tags/list/', '/v2/app/tags', '/v2/app/unknown', '/v2/app', '/v2', '/v2/_catalog/', '/v3/', '/']) {
    expectError(await call('GET', path), 404, 'UNSUPPORTED');
  }
  // An empty <reference> or <digest> is routed, and refused by its grammar (no tag is empty: unknown).
  expectError(await call('GET', '/v2/app/manifests/'), 404, 'MANIFEST_UNKNOWN');
  expectError(await call('PUT', '/v2/app/manifests/', { body: present.bytes, headers: { 'content-type': OCI_MANIFEST } }), 400, 'TAG_INVALID');
  expectError(await call('GET', '/v2/app/blobs/'), 400, 'DIGEST_INVALID');
  expectError(await call('GET', '/v2/app/referrers/'), 400, 'DIGEST_INVALID');
  const wrongMethods: Array<[string, string]> = [
    ['PATCH', '/v2/app/manifests/v1'],
    ['POST', '/v2/app/tags/list'],
    ['PUT', `/v2/app/blobs/${presentBlob}`],
    ['PROPFIND', '/v2/'],
    ['POST', '/v2/_catalog'],
  ];
  for (const [method, path] of wrongMethods) expectError(await call(method, path), 405, 'UNSUPPORTED');
});

test('bad input (code-8): an empty repository name (/v2//tags/list, /v2//blobs/uploads/) → 400 NAME_INVALID, nothing written', async () => {
  const hi = sha256('hi');
  expectError(await call('GET', '/v2//tags/list'), 400, 'NAME_INVALID');
  expectError(await call('POST', `/v2//blobs/uploads/?digest=${hi}`, { body: 'hi' }), 400, 'NAME_INVALID');
  expectError(await call('GET', `/v2//blobs/${hi}`), 400, 'NAME_INVALID');
  expectError(await call('GET', '/v2//manifests/latest'), 400, 'NAME_INVALID');
});
