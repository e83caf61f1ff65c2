import assert from 'node:assert/strict';
import { METHODS } from 'node:http';
import { test } from 'node:test';
import fc from 'fast-check';
import { describe } from '../helpers/assertions.ts';
import { pushImageManifest, unknownDigest } from '../helpers/manifest-fixtures.ts';
import { OCI_MANIFEST, pushBlob, sha256, startUpload } from '../helpers/oci-client.ts';
import {
  anyDigest,
  anyName,
  anyUploadId,
  decodeParam,
  headerJunk,
  isAddressableDigest,
  isSpecName,
  isSpecTag,
  nearMissTag,
  spliceTraversal,
  traversalSplice,
  validName,
  validTag,
} from './generators.ts';
import { checkProperty, codeOf, expectAlive, expectOutcome, fireChecked, startFuzzRegistry, type FuzzRequest } from './harness.ts';

/*
 * Property-based tests of everything in the path: repository names, references, digests,
 * upload ids, and traversal tokens spliced in anywhere. Each request must satisfy harness.ts's
 * invariants; the oracles below state what the spec grammar says the answer is.
 */

const { url, tally } = await startFuzzRegistry('paths');

const present = await pushImageManifest(url, 'app', 'v1');
const nested = await pushImageManifest(url, 'library/app', 'v1', { config: '{"nested":true}' });
const presentBlob = await pushBlob(url, 'app', 'fuzz paths blob');
const DIGEST = unknownDigest('fuzz-paths');
const EMPTY_DIGEST = sha256('');
const PUT_MANIFEST = { headers: { 'content-type': OCI_MANIFEST }, body: present.bytes } as const;

/** find-my-way's maxParamLength in src/routing/router.ts: a longer route parameter matches no route. */
const MAX_PARAM_LENGTH = 1024;

type Slot = 'digest' | 'reference' | 'uuid' | 'none';
interface Endpoint {
  readonly method: string;
  readonly slot: Slot;
  readonly path: (name: string, param: string) => string;
}

const ENDPOINTS: readonly Endpoint[] = [
  ...['GET', 'HEAD', 'DELETE'].map((method): Endpoint => ({ method, slot: 'digest', path: (n, d) => `/v2/${n}/blobs/${d}` })),
  ...['GET', 'HEAD', 'PUT', 'DELETE'].map((method): Endpoint => ({ method, slot: 'reference', path: (n, r) => `/v2/${n}/manifests/${r}` })),
  { method: 'GET', slot: 'none', path: (n) => `/v2/${n}/tags/list` },
  { method: 'GET', slot: 'digest', path: (n, d) => `/v2/${n}/referrers/${d}` },
  { method: 'POST', slot: 'none', path: (n) => `/v2/${n}/blobs/uploads/` },
  ...['GET', 'PATCH', 'PUT', 'DELETE'].map((method): Endpoint => ({ method, slot: 'uuid', path: (n, u) => `/v2/${n}/blobs/uploads/${u}${method === 'PUT' ? `?digest=${EMPTY_DIGEST}` : ''}` })),
];

function requestFor(method: string, path: string): FuzzRequest {
  if (method === 'PUT' && path.includes('/manifests/')) return { method, path, ...PUT_MANIFEST };
  if (method === 'PATCH') return { method, path, headers: { 'content-type': 'application/octet-stream' }, body: 'fuzz' };
  return { method, path };
}

/** A valid parameter for each slot, so a name-only property isolates the name. */
function plainParam(slot: Slot): string {
  if (slot === 'digest') return DIGEST;
  if (slot === 'reference') return 'latest';
  if (slot === 'uuid') return '0f7d5c1e-9b3a-4c2d-8e6f-1a2b3c4d5e6f';
  return '';
}

const noSlash = (s: string): boolean => !s.includes('/');
const endpoint = fc.constantFrom(...ENDPOINTS);
/** Every method node:http can parse (CONNECT takes over the socket), mostly the ones we route. */
const anyMethod = fc.oneof({ weight: 3, arbitrary: fc.constantFrom('GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE') }, { weight: 1, arbitrary: fc.constantFrom(...METHODS.filter((m) => m !== 'CONNECT')) });

test('fuzz paths: any method × endpoint × name × parameter, with traversal tokens spliced anywhere → never a 5xx, and never a 2xx once spliced', async () => {
  const param = fc.oneof(validTag, nearMissTag, anyDigest, anyUploadId, fc.constantFrom(present.digest, nested.digest, presentBlob, 'v1'));
  const name = fc.oneof(anyName, fc.constantFrom('app', 'library/app'));
  // Headers a client may get wrong on any request; none of them may turn an answer into a 5xx.
  const junkHeaders = fc.dictionary(fc.constantFrom('accept', 'content-type', 'range', 'content-range', 'authorization', 'docker-upload-uuid', 'if-none-match', 'x-forwarded-proto'), headerJunk(60), { maxKeys: 3 });
  const input = fc.record({ endpoint, method: fc.option(anyMethod, { freq: 4 }), name, param, splice: fc.option(traversalSplice, { freq: 2 }), headers: fc.option(junkHeaders, { freq: 3 }) });
  await checkProperty(tally, 'anything', input, 300, async ({ endpoint: e, method, name: n, param: p, splice, headers }) => {
    const plain = e.path(n, p);
    const path = splice === null ? plain : spliceTraversal(plain, splice);
    const request = requestFor(method ?? e.method, path);
    const reply = await fireChecked(url, tally, headers === null ? request : { ...request, headers: { ...request.headers, ...headers } });
    if (path !== plain) assert.ok(reply.status >= 300, `a traversal token got a ${reply.status}\n${describe(reply)}`);
    await expectAlive(url, tally);
  });
});

test('fuzz paths (code-8): a name outside the spec grammar → 400 NAME_INVALID on every endpoint; a name inside it → never NAME_INVALID', async () => {
  const input = fc.record({ endpoint, name: anyName });
  await checkProperty(tally, 'names', input, 200, async ({ endpoint: e, name }) => {
    const reply = await fireChecked(url, tally, requestFor(e.method, e.path(name, plainParam(e.slot))));
    if (!isSpecName(name)) expectOutcome(reply, 400, 'NAME_INVALID', `name ${JSON.stringify(name.slice(0, 80))} (${name.length} chars) is not a spec name`);
    else assert.ok(!(reply.status === 400 && codeOf(reply) === 'NAME_INVALID'), `spec name ${name} refused\n${describe(reply)}`);
  });
  await expectAlive(url, tally);
});

test('fuzz paths: a manifest <reference> is a spec tag, an addressable digest, or a 400 with the code of what it tried to be (a lookup of a non-tag: 404 MANIFEST_UNKNOWN)', async () => {
  const reference = fc.oneof(validTag, nearMissTag, anyDigest, fc.constantFrom(present.digest, present.digest.toUpperCase(), `sha512:${'ab'.repeat(64)}`)).filter(noSlash);
  const input = fc.record({ method: fc.constantFrom('GET', 'HEAD', 'PUT', 'DELETE'), reference });
  await checkProperty(tally, 'references', input, 200, async ({ method, reference: raw }) => {
    const reply = await fireChecked(url, tally, requestFor(method, `/v2/app/manifests/${raw}`));
    const ref = decodeParam(raw);
    const why = `reference ${JSON.stringify(raw.slice(0, 80))} (${raw.length} chars)`;
    if (ref === undefined || raw.length > MAX_PARAM_LENGTH) expectOutcome(reply, 404, 'UNSUPPORTED', `${why} matches no route`);
    else if (ref.includes(':')) {
      if (!isAddressableDigest(ref)) expectOutcome(reply, 400, 'DIGEST_INVALID', `${why} is no addressable digest`);
      else if (method === 'PUT' && ref !== present.digest) expectOutcome(reply, 400, 'DIGEST_INVALID', `${why} is not the body's digest`);
      else assert.ok([200, 201, 202, 404].includes(reply.status), `${why}\n${describe(reply)}`);
    } else if (!isSpecTag(ref)) {
      // Only a PUT is refused; a lookup of a name nothing can be stored under is unknown (OCI conformance).
      if (method === 'PUT') expectOutcome(reply, 400, 'TAG_INVALID', `${why} is no spec tag`);
      else expectOutcome(reply, 404, 'MANIFEST_UNKNOWN', `${why} is no spec tag`);
    }
    else assert.ok([200, 201, 202, 404].includes(reply.status), `${why} is a spec tag\n${describe(reply)}`);
  });
  await expectAlive(url, tally);
});

test('fuzz paths (code-4): a blob or referrers <digest> is addressable (sha256/sha512, lower-case hex, exact length) or 400 DIGEST_INVALID', async () => {
  const digest = fc.oneof(anyDigest, fc.constantFrom(presentBlob, presentBlob.toUpperCase(), presentBlob.replace(':', '%3A'), `sha512:${'0'.repeat(128)}`)).filter(noSlash);
  const input = fc.record({ endpoint: fc.constantFrom(...ENDPOINTS.filter((e) => e.slot === 'digest')), digest });
  await checkProperty(tally, 'digests', input, 200, async ({ endpoint: e, digest: raw }) => {
    const reply = await fireChecked(url, tally, requestFor(e.method, e.path('app', raw)));
    const digest = decodeParam(raw);
    const why = `digest ${JSON.stringify(raw.slice(0, 80))} (${raw.length} chars)`;
    if (digest === undefined || raw.length > MAX_PARAM_LENGTH) expectOutcome(reply, 404, 'UNSUPPORTED', `${why} matches no route`);
    else if (!isAddressableDigest(digest)) expectOutcome(reply, 400, 'DIGEST_INVALID', `${why} is no addressable digest`);
    else assert.ok([200, 202, 404].includes(reply.status), `${why}\n${describe(reply)}`);
  });
  await expectAlive(url, tally);
});

test('fuzz paths (code-3): an upload id that is not a live upload → 404, however it is spelled; a %-encoded spelling of a live one works', async () => {
  const live = (await startUpload(url, 'app')).split('/').at(-1) ?? '';
  const liveSpellings = fc.tuple(fc.nat(35), fc.constantFrom('upper', 'percent', 'suffix', 'exact')).map(([at, how]) => {
    const i = at % live.length;
    if (how === 'upper') return live.toUpperCase();
    if (how === 'percent') return live.slice(0, i) + `%${live.charCodeAt(i).toString(16)}` + live.slice(i + 1);
    if (how === 'suffix') return `${live}%00`;
    return live;
  });
  const input = fc.record({ method: fc.constantFrom('GET', 'PATCH', 'PUT', 'DELETE'), id: fc.oneof({ weight: 3, arbitrary: anyUploadId }, { weight: 1, arbitrary: liveSpellings }).filter(noSlash) });
  await checkProperty(tally, 'upload ids', input, 150, async ({ method, id: raw }) => {
    // The live upload must survive the property: only GET may touch it.
    const id = decodeParam(raw);
    if (id === live && method !== 'GET') return;
    const reply = await fireChecked(url, tally, requestFor(method, `/v2/app/blobs/uploads/${raw}${method === 'PUT' ? `?digest=${EMPTY_DIGEST}` : ''}`));
    const why = `upload id ${JSON.stringify(raw.slice(0, 80))} (${raw.length} chars)`;
    if (id === live) assert.equal(reply.status, 204, `${why} is the live upload\n${describe(reply)}`);
    else if (id === undefined || raw.length > MAX_PARAM_LENGTH) expectOutcome(reply, 404, 'UNSUPPORTED', `${why} matches no route`);
    else expectOutcome(reply, 404, 'BLOB_UPLOAD_UNKNOWN', `${why} is no live upload`);
  });
  await expectAlive(url, tally);
});

test('fuzz paths: valid multi-component names work end to end', async () => {
  await checkProperty(tally, 'valid names', validName, 15, async (name) => {
    const reply = await fireChecked(url, tally, { method: 'POST', path: `/v2/${name}/blobs/uploads/?digest=${EMPTY_DIGEST}`, headers: { 'content-length': '0' } });
    assert.equal(reply.status, 201, describe(reply));
    const head = await fireChecked(url, tally, { method: 'HEAD', path: `/v2/${name}/blobs/${EMPTY_DIGEST}` });
    assert.equal(head.status, 200, describe(head));
  });
});
