import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { describe } from '../helpers/assertions.ts';
import { pushImageManifest, readJson, unknownDigest } from '../helpers/manifest-fixtures.ts';
import { OCI_MANIFEST, pushBlob, sha256, startUpload } from '../helpers/oci-client.ts';
import { anyDigest, anyName, chars, isAddressableDigest, isSpecName, isSpecTag, nearMissTag, pathJunk, randomSha256, validName, validTag } from './generators.ts';
import { checkProperty, codeOf, expectAlive, expectOutcome, fireChecked, startFuzzRegistry } from './harness.ts';

/*
 * Property-based tests of query strings: n, last, digest, mount, from, tag (repeated),
 * artifactType, and garbage, on every endpoint that reads one. The oracles read the query the
 * way the spec's clients build it and the server must (URLSearchParams: the first value wins,
 * '+' is a space, a bad %-escape stays as written).
 */

const { url, tally } = await startFuzzRegistry('queries');

const present = await pushImageManifest(url, 'app', 'v1');
const presentBlob = await pushBlob(url, 'app', 'fuzz queries blob');
await pushImageManifest(url, 'app', 'v2', { config: '{"v":2}' });
await pushImageManifest(url, 'library/other', 'v1', { config: '{"other":1}' });
const EMPTY_DIGEST = sha256('');

const KEYS = ['n', 'last', 'digest', 'mount', 'from', 'tag', 'artifactType'] as const;
const numbers = fc.oneof(
  fc.nat(2000).map(String),
  fc.constantFrom('0', '1', '999999999', '1000000000', '-1', '+1', '1.5', '1e3', '0x10', '%201', '1+', '01', '9'.repeat(30), '%31', '1%00', 'NaN', 'Infinity', ''),
);
const escapes = fc.constantFrom('%', '%zz', '%00', '%2F', '%2f', '%2e%2e', '%252F', '+', '%20', '%0d%0a', '%C3%A4', '%E0%A4%A', '%ff', ';', '=', '&&', '%26', '%3D');
const value = fc.oneof(
  numbers,
  validTag,
  nearMissTag,
  validName,
  anyName,
  anyDigest,
  fc.constantFrom(presentBlob, present.digest, EMPTY_DIGEST, 'app', 'library/other', 'v1', OCI_MANIFEST, 'application/vnd.example+json'),
  fc.tuple(pathJunk(10), escapes, pathJunk(10)).map(([a, e, b]) => a + e + b),
  fc.integer({ min: 1000, max: 2500 }).map((n) => 'q'.repeat(n)),
);
const key = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...KEYS) }, { weight: 1, arbitrary: fc.constantFrom('', 'N', 'Tag', 'n[]', 'tag%5B%5D', '%6e', 'digest%00', '_state') }, { weight: 1, arbitrary: chars([...'abcxyz_.-%'], 1, 6) });
const pair = fc.oneof({ weight: 8, arbitrary: fc.tuple(key, value).map(([k, v]) => `${k}=${v}`) }, { weight: 1, arbitrary: key }, { weight: 1, arbitrary: fc.constantFrom('', '=', '==', '&', ';') });
/**
 * A query string, without its '?': the pairs joined by '&' (sometimes ';' or '&&'). Kept under
 * 7000 characters: past node's 16 KiB header limit node answers 431 itself (harness KNOWN_ISSUES).
 */
const MAX_QUERY = 7000;
const query = fc
  .tuple(fc.array(pair, { maxLength: 6 }), fc.constantFrom('&', '&', '&', '&&', ';'))
  .map(([pairs, sep]) => pairs.join(sep))
  .filter((q) => q.length <= MAX_QUERY);
/** A query built around one parameter, so the oracle is sharp for it. */
const around = (name: string, values: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc
    .tuple(fc.array(fc.tuple(values, fc.boolean()), { minLength: 1, maxLength: 3 }), query)
    .map(([vs, rest]) => [...vs.map(([v, encode]) => `${name}=${encode ? encodeURIComponent(v) : v}`), rest].filter((s) => s !== '').join('&'))
    .filter((q) => q.length <= MAX_QUERY);

test('fuzz queries: any query on any endpoint → never a 5xx', async () => {
  const endpoint = fc.constantFrom<readonly [string, string]>(
    ['GET', '/v2/'],
    ['GET', '/v2/_catalog'],
    ['GET', '/v2/app/tags/list'],
    ['GET', '/v2/missing/tags/list'],
    ['GET', '/v2/app/manifests/v1'],
    ['HEAD', `/v2/app/manifests/${present.digest}`],
    ['PUT', '/v2/app/manifests/v1'],
    ['PUT', `/v2/app/manifests/${present.digest}`],
    ['GET', `/v2/app/blobs/${presentBlob}`],
    ['GET', `/v2/app/referrers/${present.digest}`],
    ['POST', '/v2/app/blobs/uploads/'],
    ['POST', '/v2/library/other/blobs/uploads/'],
    ['PUT', '/v2/app/blobs/uploads/<live>'],
    ['PATCH', '/v2/app/blobs/uploads/<live>'],
    ['GET', '/v2/app/blobs/uploads/<live>'],
  );
  await checkProperty(tally, 'any query', fc.record({ endpoint, query }), 400, async ({ endpoint: [method, base], query: q }) => {
    const path = base.includes('<live>') ? (await startUpload(url, 'app')) : base;
    const body = method === 'PUT' && path.includes('/manifests/') ? present.bytes : method === 'PATCH' ? Buffer.from('fuzz') : undefined;
    await fireChecked(url, tally, { method, path: `${path}?${q}`, headers: path.includes('/manifests/') ? { 'content-type': OCI_MANIFEST } : {}, ...(body ? { body } : {}) });
    await expectAlive(url, tally);
  });
});

test('fuzz queries: n (catalog, tags list) is 0…999999999 → at most n results, a Link only when more remain; anything else → 400 PAGINATION_NUMBER_INVALID', async () => {
  const input = fc.record({ base: fc.constantFrom('/v2/_catalog', '/v2/app/tags/list'), q: fc.oneof(around('n', numbers), around('last', value), query) });
  await checkProperty(tally, 'n/last', input, 250, async ({ base, q }) => {
    const reply = await fireChecked(url, tally, { method: 'GET', path: `${base}?${q}` });
    const params = new URLSearchParams(q);
    const n = params.get('n');
    const why = `${base}?${q.slice(0, 200)}: n = ${JSON.stringify(n?.slice(0, 40))}`;
    if (n !== null && n !== '' && !/^\d{1,9}$/.test(n)) {
      expectOutcome(reply, 400, 'PAGINATION_NUMBER_INVALID', why);
      return;
    }
    assert.equal(reply.status, 200, `${why}\n${describe(reply)}`);
    const body = readJson<{ repositories?: string[]; tags?: string[] }>(reply);
    const items = body.repositories ?? body.tags;
    assert.ok(Array.isArray(items), `${why}: no list\n${describe(reply)}`);
    const last = params.get('last');
    if (last !== null) assert.ok(items.every((item) => item > last), `${why}: an item not after last=${last}\n${describe(reply)}`);
    assert.deepEqual(items, [...items].sort(), `${why}: not sorted\n${describe(reply)}`);
    if (n !== null && n !== '') {
      assert.ok(items.length <= Number(n), `${why}: ${items.length} items\n${describe(reply)}`);
      if (reply.headers.get('link') !== null) assert.equal(items.length, Number(n), `${why}: a Link on a short page\n${describe(reply)}`);
    }
  });
  await expectAlive(url, tally);
});

test('fuzz queries (end-7): PUT a manifest with ?tag= repeated → 201 when every tag is a spec tag, else 400 TAG_INVALID', async () => {
  const tagValue = fc.oneof({ weight: 3, arbitrary: validTag }, { weight: 1, arbitrary: nearMissTag });
  const input = fc.record({ reference: fc.constantFrom('v1', present.digest), q: fc.oneof(around('tag', tagValue), query) });
  await checkProperty(tally, 'tag', input, 150, async ({ reference, q }) => {
    const reply = await fireChecked(url, tally, { method: 'PUT', path: `/v2/app/manifests/${reference}?${q}`, headers: { 'content-type': OCI_MANIFEST }, body: present.bytes });
    const tags = new URLSearchParams(q).getAll('tag');
    const why = `?${q.slice(0, 200)}: tags ${JSON.stringify(tags.map((t) => t.slice(0, 40)))}`;
    if (tags.every(isSpecTag)) assert.equal(reply.status, 201, `${why}\n${describe(reply)}`);
    else expectOutcome(reply, 400, 'TAG_INVALID', why);
  });
  await expectAlive(url, tally);
});

test('fuzz queries (end-4a/4b/11): POST uploads with ?mount= &from= &digest= → 201 mounted or committed, 202 started, or the 400 of the first bad parameter', async () => {
  const digestValue = fc.oneof(anyDigest, randomSha256, fc.constantFrom(presentBlob, EMPTY_DIGEST, `sha512:${'0'.repeat(128)}`));
  const fromValue = fc.oneof(anyName, fc.constantFrom('app', 'library/other', 'missing'));
  const q = fc.oneof(
    fc.tuple(around('mount', digestValue), around('from', fromValue)).map(([a, b]) => `${a}&${b}`),
    fc.tuple(around('mount', digestValue), around('from', fromValue), around('digest', digestValue)).map((parts) => parts.join('&')),
    around('digest', digestValue),
    query,
  );
  await checkProperty(tally, 'mount/from/digest', fc.record({ repo: fc.constantFrom('app', 'library/other', 'fresh'), q }), 250, async ({ repo, q: raw }) => {
    const params = new URLSearchParams(raw);
    const [mount, from, digest] = [params.get('mount'), params.get('from'), params.get('digest')];
    // Whether `from` holds the blob, asked before the POST (earlier inputs mount and commit too).
    const mountable = mount !== null && from !== null && isAddressableDigest(mount) && isSpecName(from) && (await fireChecked(url, tally, { method: 'HEAD', path: `/v2/${from}/blobs/${mount}` })).status === 200;
    const reply = await fireChecked(url, tally, { method: 'POST', path: `/v2/${repo}/blobs/uploads/?${raw}`, headers: { 'content-length': '0' } });
    const why = `POST /v2/${repo}/blobs/uploads/?${raw.slice(0, 300)}`;
    if (mount !== null && !isAddressableDigest(mount)) return expectOutcome(reply, 400, 'DIGEST_INVALID', `${why}: mount is no digest`);
    if (mount !== null && from !== null && !isSpecName(from)) return expectOutcome(reply, 400, 'NAME_INVALID', `${why}: from is no name`);
    // A mount of a blob `from` holds is 201 at once; otherwise the request goes on as a plain POST.
    if (mountable) {
      assert.equal(reply.status, 201, `${why}: ${from} holds ${mount}\n${describe(reply)}`);
      return assert.equal(reply.headers.get('docker-content-digest'), mount, describe(reply));
    }
    if (digest !== null && !isAddressableDigest(digest)) return expectOutcome(reply, 400, 'DIGEST_INVALID', `${why}: digest is no digest`);
    if (digest === null) return assert.equal(reply.status, 202, `${why}\n${describe(reply)}`);
    // No body: the upload commits empty, so only the empty blob's digest matches.
    if (digest === EMPTY_DIGEST) return assert.equal(reply.status, 201, `${why}\n${describe(reply)}`);
    expectOutcome(reply, 400, 'DIGEST_INVALID', `${why}: the empty body does not hash to ${digest}`);
  });
  await expectAlive(url, tally);
});

test('fuzz queries (end-6): PUT an upload with ?digest= → 201 only for the digest of its bytes, else 400 DIGEST_INVALID and the upload stays', async () => {
  const digestValue = fc.oneof(anyDigest, randomSha256, fc.constantFrom(sha256('fuzz'), `sha512:${'0'.repeat(128)}`));
  await checkProperty(tally, 'upload digest', fc.oneof(around('digest', digestValue), query), 100, async (q) => {
    const location = await startUpload(url, 'app');
    await fireChecked(url, tally, { method: 'PATCH', path: location, headers: { 'content-range': '0-3' }, body: 'fuzz' });
    const reply = await fireChecked(url, tally, { method: 'PUT', path: `${location}?${q}` });
    const digest = new URLSearchParams(q).get('digest');
    const why = `PUT ${location}?${q.slice(0, 300)}`;
    if (digest === sha256('fuzz')) return assert.equal(reply.status, 201, `${why}\n${describe(reply)}`);
    expectOutcome(reply, 400, 'DIGEST_INVALID', why);
    const status = await fireChecked(url, tally, { method: 'GET', path: location });
    assert.equal(status.status, 204, `upload gone after a refused PUT\n${describe(status)}`);
    assert.equal(status.headers.get('range'), '0-3', describe(status));
  });
  await expectAlive(url, tally);
});

test('fuzz queries (end-12b): referrers ?artifactType= → 200, an OCI index, OCI-Filters-Applied exactly when the filter was given', async () => {
  const typeValue = fc.oneof(value, fc.constantFrom('application/vnd.example+json', '', '*', '%2A'));
  const subject = fc.constantFrom(present.digest, unknownDigest('queries'), `sha512:${'0'.repeat(128)}`);
  await checkProperty(tally, 'artifactType', fc.record({ subject, q: fc.oneof(around('artifactType', typeValue), query) }), 100, async ({ subject: s, q }) => {
    const reply = await fireChecked(url, tally, { method: 'GET', path: `/v2/app/referrers/${s}?${q}` });
    const why = `referrers ?${q.slice(0, 200)}`;
    assert.equal(reply.status, 200, `${why}\n${describe(reply)}`);
    const index = readJson<{ schemaVersion: number; manifests: unknown[] }>(reply);
    assert.ok(index.schemaVersion === 2 && Array.isArray(index.manifests), `${why}\n${describe(reply)}`);
    const filtered = new URLSearchParams(q).get('artifactType') !== null;
    assert.equal(reply.headers.get('oci-filters-applied') === 'artifactType', filtered, `${why}: OCI-Filters-Applied\n${describe(reply)}`);
    assert.equal(codeOf(reply), '');
  });
  await expectAlive(url, tally);
});
