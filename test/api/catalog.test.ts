import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { expectError, expectHeader, expectStatus, type Reply } from '../helpers/assertions.ts';
import { pushImageManifest, readJson } from '../helpers/manifest-fixtures.ts';
import { send } from '../helpers/oci-client.ts';
import { startRegistry } from '../helpers/registry.ts';

interface Catalog {
  repositories: string[];
}

// One registry for the file, filled once here; the tests only read it.
const { url } = await startRegistry({ after });
const PUSH_ORDER = ['zeta', 'alpha/beta/gamma', 'mid/dle', 'alpha', '0rigin', 'alpha/beta', 'alpha-two'];
for (const repo of PUSH_ORDER) await pushImageManifest(url, repo, 'v1');
/** Sorted by code point: '-' (0x2d) sorts before '/' (0x2f), so alpha-two precedes alpha/beta. */
const ALL = ['0rigin', 'alpha', 'alpha-two', 'alpha/beta', 'alpha/beta/gamma', 'mid/dle', 'zeta'];

function expectCatalog(reply: Reply, repositories: readonly string[]): void {
  expectStatus(reply, 200);
  expectHeader(reply, 'content-type', 'application/json');
  assert.deepEqual(readJson<Catalog>(reply), { repositories });
}

test('GET catalog: empty registry → {"repositories": []}', async (t) => {
  const empty = await startRegistry(t);
  const reply = await send(empty.url, '/v2/_catalog');
  expectCatalog(reply, []);
  assert.equal(reply.headers.get('link'), null);
});

test('GET catalog: every repository, multi-component names included, sorted', async () => {
  const reply = await send(url, '/v2/_catalog');
  expectCatalog(reply, ALL);
  assert.equal(reply.headers.get('link'), null);
});

test('GET catalog: n=2 pages with an exact Link rel="next" ("/" in last is %2F-encoded); the last page has none', async () => {
  const first = await send(url, '/v2/_catalog?n=2');
  expectCatalog(first, ['0rigin', 'alpha']);
  expectHeader(first, 'link', '</v2/_catalog?n=2&last=alpha>; rel="next"');

  const second = await send(url, '/v2/_catalog?n=2&last=alpha');
  expectCatalog(second, ['alpha-two', 'alpha/beta']);
  expectHeader(second, 'link', '</v2/_catalog?n=2&last=alpha%2Fbeta>; rel="next"');

  const third = await send(url, '/v2/_catalog?n=2&last=alpha%2Fbeta');
  expectCatalog(third, ['alpha/beta/gamma', 'mid/dle']);
  expectHeader(third, 'link', '</v2/_catalog?n=2&last=mid%2Fdle>; rel="next"');

  const fourth = await send(url, '/v2/_catalog?n=2&last=mid%2Fdle');
  expectCatalog(fourth, ['zeta']);
  assert.equal(fourth.headers.get('link'), null);
});

test('GET catalog: following Link from n=3 visits every repository exactly once', async () => {
  const seen: string[] = [];
  let next: string | null = '/v2/_catalog?n=3';
  let pages = 0;
  while (next !== null) {
    const reply = await send(url, next);
    expectStatus(reply, 200);
    seen.push(...readJson<Catalog>(reply).repositories);
    const link = reply.headers.get('link');
    next = link === null ? null : (/^<([^>]+)>; rel="next"$/.exec(link)?.[1] ?? null);
    if (link !== null) assert.ok(next !== null, `unreadable Link: ${link}`);
    pages += 1;
    assert.ok(pages <= 3, 'more pages than 7 repositories / 3 per page');
  }
  assert.deepEqual(seen, ALL);
});

test('GET catalog: last without n, and an unescaped "/" in last, start after that name', async () => {
  const reply = await send(url, '/v2/_catalog?last=alpha/beta');
  expectCatalog(reply, ['alpha/beta/gamma', 'mid/dle', 'zeta']);
  assert.equal(reply.headers.get('link'), null);
  expectCatalog(await send(url, '/v2/_catalog?last=zeta'), []);
});

test('GET catalog: n=0 → empty list, no Link; n at or above the count → everything, no Link', async () => {
  const zero = await send(url, '/v2/_catalog?n=0');
  expectCatalog(zero, []);
  assert.equal(zero.headers.get('link'), null);
  for (const n of [7, 8]) {
    const reply = await send(url, `/v2/_catalog?n=${n}`);
    expectCatalog(reply, ALL);
    assert.equal(reply.headers.get('link'), null, `n=${n}`);
  }
});

test('GET catalog: invalid n → 400 PAGINATION_NUMBER_INVALID', async () => {
  for (const n of ['x', '-2', '2.0', '1e2', '9999999999']) {
    expectError(await send(url, `/v2/_catalog?n=${n}`), 400, 'PAGINATION_NUMBER_INVALID');
  }
});

test('GET catalog: a repository whose name contains ".tmp-" (legal; once the temp-file marker) is listed', async (t) => {
  const own = await startRegistry(t);
  await pushImageManifest(own.url, 'x.tmp-y', 'v1');
  expectCatalog(await send(own.url, '/v2/_catalog'), ['x.tmp-y']);
});

test('GET catalog: a push through this registry is listed at once; a repository another process made, within the 1 s link TTL', async (t) => {
  const own = await startRegistry(t);
  expectCatalog(await send(own.url, '/v2/_catalog'), []);
  await pushImageManifest(own.url, 'pushed/here', 'v1');
  expectCatalog(await send(own.url, '/v2/_catalog'), ['pushed/here']);
  // Another process on the same root (a replica, docker-registry): an upload folder is a repository.
  const other = join(own.root, 'docker/registry/v2/repositories/made/elsewhere/_uploads/u1');
  await mkdir(other, { recursive: true });
  await writeFile(join(other, 'startedat'), new Date().toISOString());
  const deadline = Date.now() + 5000;
  let names: string[] = [];
  while (Date.now() < deadline) {
    names = readJson<Catalog>(await send(own.url, '/v2/_catalog')).repositories;
    if (names.includes('made/elsewhere')) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.deepEqual(names, ['made/elsewhere', 'pushed/here']);
});
