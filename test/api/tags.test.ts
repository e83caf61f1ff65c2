import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { expectError, expectHeader, expectStatus, type Reply } from '../helpers/assertions.ts';
import { imageManifest, readJson } from '../helpers/manifest-fixtures.ts';
import { OCI_MANIFEST, pushManifest, send, sha256 } from '../helpers/oci-client.ts';
import { startRegistry } from '../helpers/registry.ts';

interface TagList {
  name: string;
  tags: string[];
}

// One registry for the file; each repository below is written once, here, and only read by tests.
const { url } = await startRegistry({ after });

/** Tags one manifest in `repo` with every tag given, in the order given (PUT ?tag=…). */
async function tagAll(repo: string, tags: readonly string[]): Promise<void> {
  const bytes = Buffer.from(JSON.stringify(await imageManifest(url, repo)));
  const query = tags.map((tag) => `tag=${tag}`).join('&');
  expectStatus(await pushManifest(url, repo, `${sha256(bytes)}?${query}`, bytes.toString(), OCI_MANIFEST), 201);
}

const ABCDE = ['a', 'b', 'c', 'd', 'e'];
await tagAll('paged', ['e', 'c', 'a', 'd', 'b']);
await tagAll('org/team/app', ['v2', 'v10', 'latest', 'V1', '1.0', '_x', 'v1.0-rc_1']);

function expectList(reply: Reply, name: string, tags: readonly string[]): void {
  expectStatus(reply, 200);
  expectHeader(reply, 'content-type', 'application/json');
  assert.deepEqual(readJson<TagList>(reply), { name, tags });
}

test('GET end-8a: tags are listed sorted, whatever order they were pushed in', async () => {
  const reply = await send(url, '/v2/paged/tags/list');
  expectList(reply, 'paged', ABCDE);
  assert.equal(reply.headers.get('link'), null);
});

test('GET end-8a: a name with several components; tags sorted by code point (digits, upper case, "_", lower case)', async () => {
  const reply = await send(url, '/v2/org/team/app/tags/list');
  expectList(reply, 'org/team/app', ['1.0', 'V1', '_x', 'latest', 'v1.0-rc_1', 'v10', 'v2']);
});

test('GET end-8b: n=2 pages through with Link rel="next" until the last page, which has none', async () => {
  const first = await send(url, '/v2/paged/tags/list?n=2');
  expectList(first, 'paged', ['a', 'b']);
  expectHeader(first, 'link', '</v2/paged/tags/list?n=2&last=b>; rel="next"');

  const second = await send(url, '/v2/paged/tags/list?n=2&last=b');
  expectList(second, 'paged', ['c', 'd']);
  expectHeader(second, 'link', '</v2/paged/tags/list?n=2&last=d>; rel="next"');

  const third = await send(url, '/v2/paged/tags/list?n=2&last=d');
  expectList(third, 'paged', ['e']);
  assert.equal(third.headers.get('link'), null);
});

test('GET end-8b: following the Link header visits every tag once, for a multi-component name', async () => {
  const seen: string[] = [];
  let next: string | null = '/v2/org/team/app/tags/list?n=3';
  let pages = 0;
  while (next !== null) {
    const reply = await send(url, next);
    expectStatus(reply, 200);
    seen.push(...readJson<TagList>(reply).tags);
    const link = reply.headers.get('link');
    if (link !== null) assert.match(link, /^<\/v2\/org\/team\/app\/tags\/list\?n=3&last=[^>]+>; rel="next"$/);
    next = link === null ? null : (/^<([^>]+)>/.exec(link)?.[1] ?? null);
    pages += 1;
    assert.ok(pages <= 3, 'more pages than 7 tags / 3 per page');
  }
  assert.deepEqual(seen, ['1.0', 'V1', '_x', 'latest', 'v1.0-rc_1', 'v10', 'v2']);
  assert.equal(pages, 3);
});

test('GET end-8b: n equal to or above the number of tags → all of them, no Link', async () => {
  for (const n of [5, 6, 1000]) {
    const reply = await send(url, `/v2/paged/tags/list?n=${n}`);
    expectList(reply, 'paged', ABCDE);
    assert.equal(reply.headers.get('link'), null, `n=${n}`);
  }
});

test('GET end-8b: last without n → the tags after it, no Link; last past the end → empty', async () => {
  const rest = await send(url, '/v2/paged/tags/list?last=b');
  expectList(rest, 'paged', ['c', 'd', 'e']);
  assert.equal(rest.headers.get('link'), null);
  // `last` need not be a tag that exists: it is a position in the sort order.
  expectList(await send(url, '/v2/paged/tags/list?last=bb'), 'paged', ['c', 'd', 'e']);
  expectList(await send(url, '/v2/paged/tags/list?last=e'), 'paged', []);
  expectList(await send(url, '/v2/paged/tags/list?n=2&last=zzz'), 'paged', []);
});

test('GET end-8b: n=0 → an empty list and no Link', async () => {
  const reply = await send(url, '/v2/paged/tags/list?n=0');
  expectList(reply, 'paged', []);
  assert.equal(reply.headers.get('link'), null);
});

test('GET end-8b: n that is not a non-negative integer → 400 PAGINATION_NUMBER_INVALID', async () => {
  for (const n of ['abc', '-1', '1.5', '1e3', '0x10', ' 2', '9999999999']) {
    expectError(await send(url, `/v2/paged/tags/list?n=${encodeURIComponent(n)}`), 400, 'PAGINATION_NUMBER_INVALID');
  }
});

test('GET end-8a: unknown repository → 404 NAME_UNKNOWN', async () => {
  expectError(await send(url, '/v2/nothing-here/tags/list'), 404, 'NAME_UNKNOWN');
  expectError(await send(url, '/v2/org/team/app/sub/tags/list'), 404, 'NAME_UNKNOWN');
});

test('GET end-8a: a prefix of a repository name (org/team of org/team/app) → 404 NAME_UNKNOWN', async () => {
  expectError(await send(url, '/v2/org/team/tags/list'), 404, 'NAME_UNKNOWN');
  expectError(await send(url, '/v2/org/tags/list'), 404, 'NAME_UNKNOWN');
});

test('GET end-8a: a tag containing ".tmp-" (legal by the tag grammar) is listed', async () => {
  await tagAll('tmp-marker', ['v1.tmp-2', 'v1']);
  expectList(await send(url, '/v2/tmp-marker/tags/list'), 'tmp-marker', ['v1', 'v1.tmp-2']);
});
