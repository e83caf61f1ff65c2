import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { expectError, expectHeader, expectStatus } from '../helpers/assertions.ts';
import { peersSkipReason } from '../helpers/peers.ts';
import { startRegistry } from '../helpers/registry.ts';
import { get, pushRandomImage, startCountingProxy, startUpstream } from './upstreams.ts';

/**
 * end-8a/8b on a proxied repository: the upstream's tag list first, the cached tags when the
 * upstream cannot answer (distribution's proxytagservice.All), with n/last and Link as for any
 * repository.
 */
const skip = await peersSkipReason();

function tagsOf(reply: Awaited<ReturnType<typeof get>>): { name: string; tags: string[] } {
  expectStatus(reply, 200);
  return JSON.parse(reply.body.toString()) as { name: string; tags: string[] };
}

test('proxy tags: the list comes from the upstream (new tags too, nothing pulled needed), paginated with n/last and Link; upstream down → the cached tags, or NAME_UNKNOWN', { skip }, async (t) => {
  const upstream = await startUpstream(t);
  for (const tag of ['v1', 'v2', 'v3']) await pushRandomImage(upstream.url, 'team/app', tag);
  const counter = await startCountingProxy(t, upstream.url);
  const cache = await startRegistry(t, { config: { proxy: { remotes: { 'hub/': { remoteurl: counter.url } } } } });
  const list = (query = ''): ReturnType<typeof get> => get(cache.url, `/v2/hub/team/app/tags/list${query}`);

  assert.deepEqual(tagsOf(await list()), { name: 'hub/team/app', tags: ['v1', 'v2', 'v3'] });
  assert.equal(counter.count('GET', /^\/v2\/team\/app\/tags\/list$/), 1, counter.requests.join('\n'));
  const first = await list('?n=2');
  assert.deepEqual(tagsOf(first).tags, ['v1', 'v2']);
  expectHeader(first, 'link', '</v2/hub/team/app/tags/list?n=2&last=v2>; rel="next"');
  const second = await list('?n=2&last=v2');
  assert.deepEqual(tagsOf(second).tags, ['v3']);
  assert.equal(second.headers.get('link'), null);
  expectError(await list('?n=x'), 400, 'PAGINATION_NUMBER_INVALID');

  // One tag pulled (so cached), one pushed upstream since: the list is the upstream's, asked each time.
  expectStatus(await get(cache.url, '/v2/hub/team/app/manifests/v1'), 200);
  await pushRandomImage(upstream.url, 'team/app', 'v4');
  assert.deepEqual(tagsOf(await list()).tags, ['v1', 'v2', 'v3', 'v4']);

  // Upstream down: the tags cached here, paginated the same way; a repository never pulled is unknown.
  await counter.stop();
  assert.deepEqual(tagsOf(await list()), { name: 'hub/team/app', tags: ['v1'] });
  const empty = await list('?n=0');
  assert.deepEqual(tagsOf(empty).tags, []);
  assert.equal(empty.headers.get('link'), null);
  expectError(await get(cache.url, '/v2/hub/team/other/tags/list'), 404, 'NAME_UNKNOWN');
});

test('proxy tags: an upstream that pages its tag list (Link rel="next") is followed to the end; an answer that is no tag list falls back to the cache', async (t) => {
  const pages: Record<string, { tags: unknown; next?: string }> = {
    '/v2/many/tags/list': { tags: ['e', 'a'], next: '/v2/many/tags/list?n=2&last=e' },
    '/v2/many/tags/list?n=2&last=e': { tags: ['c', 'not a tag!', 'b'], next: 'http://127.0.0.1:1/v2/many/tags/list?n=2&last=x' },
    '/v2/broken/tags/list': { tags: 'not a list' },
  };
  const served: string[] = [];
  const server = createServer((req, res) => {
    served.push(req.url ?? '');
    const page = pages[req.url ?? ''];
    if (req.url === '/v2/') return void res.end('{}');
    if (!page) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json', ...(page.next ? { link: `<${page.next}>; rel="next"` } : {}) });
    res.end(JSON.stringify({ name: 'many', tags: page.tags }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const cache = await startRegistry(t, { config: { proxy: { remoteurl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` } } });
  // The second page's Link leads to another origin: not followed (our credentials stay with the upstream).
  assert.deepEqual(tagsOf(await get(cache.url, '/v2/many/tags/list')).tags, ['a', 'b', 'c', 'e']);
  assert.deepEqual(served.filter((url) => url.includes('/many/')), ['/v2/many/tags/list', '/v2/many/tags/list?n=2&last=e']);
  // Nothing cached for it either: unknown.
  expectError(await get(cache.url, '/v2/broken/tags/list'), 404, 'NAME_UNKNOWN');
});
