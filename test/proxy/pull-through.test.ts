import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { expectError, expectHeader, expectStatus } from '../helpers/assertions.ts';
import { pushImage, send, sha256 } from '../helpers/oci-client.ts';
import { peersSkipReason } from '../helpers/peers.ts';
import { startRegistry } from '../helpers/registry.ts';
import { cached, eventually, get, pushRandomImage, startCountingProxy, startUpstream } from './upstreams.ts';

/**
 * The pull-through cache (issue 11) against a real upstream: Debian's docker-registry, behind a
 * counting HTTP proxy so each test can say how often the cache went upstream.
 */
const skip = await peersSkipReason();

function blobPath(root: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(root, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

test('proxy: cold pull fetches manifest and blobs from upstream, byte for byte; warm pull is served from storage', { skip }, async (t) => {
  const upstream = await startUpstream(t);
  const image = await pushRandomImage(upstream.url, 'library/alpine', '3.20', 300_000);
  const counter = await startCountingProxy(t, upstream.url);
  const cache = await startRegistry(t, { config: { proxy: { remoteurl: counter.url } } });

  const manifest = await get(cache.url, '/v2/library/alpine/manifests/3.20');
  expectStatus(manifest, 200);
  assert.deepEqual(manifest.body, image.manifest.bytes);
  expectHeader(manifest, 'docker-content-digest', image.manifest.digest);
  for (const blob of [image.config, ...image.layers]) {
    const reply = await get(cache.url, `/v2/library/alpine/blobs/${blob.digest}`);
    expectStatus(reply, 200);
    assert.equal(sha256(reply.body), blob.digest);
    expectHeader(reply, 'content-length', String(blob.bytes.length));
  }
  // Stored once verified (the upload path commits it after the response may have ended).
  for (const blob of image.layers) await eventually(`${blob.digest} stored`, () => exists(blobPath(cache.root, blob.digest)));
  const upstreamCalls = counter.requests.length;

  // Warm: by tag (within ttl), by digest, every blob, HEAD too: no upstream request at all.
  expectStatus(await get(cache.url, '/v2/library/alpine/manifests/3.20'), 200);
  expectStatus(await get(cache.url, `/v2/library/alpine/manifests/${image.manifest.digest}`), 200);
  for (const blob of [image.config, ...image.layers]) {
    const reply = await get(cache.url, `/v2/library/alpine/blobs/${blob.digest}`);
    expectStatus(reply, 200);
    assert.equal(sha256(reply.body), blob.digest);
    expectStatus(await send(cache.url, `/v2/library/alpine/blobs/${blob.digest}`, { method: 'HEAD' }), 200);
  }
  assert.equal(counter.requests.length, upstreamCalls, `warm pull went upstream: ${counter.requests.slice(upstreamCalls).join(', ')}`);
  assert.equal(counter.count('GET', /\/blobs\//), 2, counter.requests.join('\n'));
  // The cached repository is a repository of the registry's own now.
  const catalog = JSON.parse((await get(cache.url, '/v2/_catalog')).body.toString()) as { repositories: string[] };
  assert.deepEqual(catalog.repositories, ['library/alpine']);
});

test('proxy: a manifest by digest never pulled before is fetched by digest, stored, and then served without upstream', { skip }, async (t) => {
  const upstream = await startUpstream(t);
  const image = await pushRandomImage(upstream.url, 'team/tool', 'v1');
  const counter = await startCountingProxy(t, upstream.url);
  const cache = await startRegistry(t, { config: { proxy: { remoteurl: counter.url } } });
  const first = await get(cache.url, `/v2/team/tool/manifests/${image.manifest.digest}`);
  expectStatus(first, 200);
  assert.deepEqual(first.body, image.manifest.bytes);
  expectStatus(await send(cache.url, `/v2/team/tool/manifests/${image.manifest.digest}`, { method: 'HEAD' }), 200);
  assert.equal(counter.count('GET', /\/manifests\//), 1);
  // Unknown upstream too: 404 MANIFEST_UNKNOWN / BLOB_UNKNOWN, as distribution.
  expectError(await get(cache.url, `/v2/team/tool/manifests/${sha256('nothing')}`), 404, 'MANIFEST_UNKNOWN');
  expectError(await get(cache.url, '/v2/team/tool/manifests/no-such-tag'), 404, 'MANIFEST_UNKNOWN');
  expectError(await get(cache.url, `/v2/team/tool/blobs/${sha256('nothing')}`), 404, 'BLOB_UNKNOWN');
  expectError(await send(cache.url, `/v2/team/tool/blobs/${sha256('nothing')}`, { method: 'HEAD' }), 404, 'BLOB_UNKNOWN');
});

test('proxy: a blob not yet cached answers HEAD from upstream (size, digest) without fetching it; Range on a cold blob streams that range', { skip }, async (t) => {
  const upstream = await startUpstream(t);
  const image = await pushRandomImage(upstream.url, 'team/tool', 'v1', 100_000);
  const counter = await startCountingProxy(t, upstream.url);
  const cache = await startRegistry(t, { config: { proxy: { remoteurl: counter.url } } });
  const layer = image.layers[0];
  assert.ok(layer);
  const head = await send(cache.url, `/v2/team/tool/blobs/${layer.digest}`, { method: 'HEAD' });
  expectStatus(head, 200);
  expectHeader(head, 'content-length', String(layer.bytes.length));
  expectHeader(head, 'docker-content-digest', layer.digest);
  assert.equal(counter.count('GET', /\/blobs\//), 0);
  const ranged = await get(cache.url, `/v2/team/tool/blobs/${layer.digest}`, { range: 'bytes=10-19' });
  expectStatus(ranged, 206);
  assert.deepEqual(ranged.body, layer.bytes.subarray(10, 20));
  expectHeader(ranged, 'content-range', `bytes 10-19/${layer.bytes.length}`);
  const beyond = await get(cache.url, `/v2/team/tool/blobs/${image.config.digest}`, { range: `bytes=${image.config.bytes.length + 10}-` });
  expectError(beyond, 416, 'BLOB_UNKNOWN');
  await cached(cache.root, [layer.digest, image.config.digest]);
});

test('proxy: a tag is served from storage within its ttl and revalidated after it (unchanged: HEAD only; moved: the new manifest)', { skip }, async (t) => {
  const upstream = await startUpstream(t);
  const v1 = await pushRandomImage(upstream.url, 'team/app', 'latest');
  const counter = await startCountingProxy(t, upstream.url);
  const cache = await startRegistry(t, { config: { proxy: { remoteurl: counter.url, ttl: '1s' } } });
  const digestOf = async (): Promise<string> => {
    const reply = await get(cache.url, '/v2/team/app/manifests/latest');
    expectStatus(reply, 200);
    return reply.headers.get('docker-content-digest') ?? '';
  };
  assert.equal(await digestOf(), v1.manifest.digest);
  assert.equal(counter.count('GET', /\/manifests\/latest$/), 1);
  // Unchanged upstream: once the ttl has passed, a HEAD confirms the tag; the manifest is not fetched again.
  await eventually('a revalidating HEAD', async () => {
    assert.equal(await digestOf(), v1.manifest.digest);
    return counter.count('HEAD', /\/manifests\/latest$/) >= 1;
  });
  assert.equal(counter.count('GET', /\/manifests\/latest$/), 1);
  // Moved upstream: after the ttl the new manifest is served (and stored under the tag).
  const v2 = await pushRandomImage(upstream.url, 'team/app', 'latest');
  await eventually('the moved tag', async () => (await digestOf()) === v2.manifest.digest);
  assert.equal(counter.count('GET', /\/manifests\/latest$/), 2);
});

test('proxy: upstream down → cached content still served (a tag past its ttl too); uncached → 404 at once with the reason', { skip }, async (t) => {
  const upstream = await startUpstream(t);
  const image = await pushRandomImage(upstream.url, 'team/app', 'v1', 50_000);
  const other = await pushRandomImage(upstream.url, 'team/app', 'v2');
  const counter = await startCountingProxy(t, upstream.url);
  // ttl 0: every tag pull asks upstream first (distribution's proxytagservice), so down is noticed.
  const cache = await startRegistry(t, { config: { proxy: { remoteurl: counter.url, ttl: 0 } } });
  expectStatus(await get(cache.url, '/v2/team/app/manifests/v1'), 200);
  for (const blob of [image.config, ...image.layers]) expectStatus(await get(cache.url, `/v2/team/app/blobs/${blob.digest}`), 200);
  for (const blob of image.layers) await eventually('stored', () => exists(blobPath(cache.root, blob.digest)));
  await counter.stop();

  const manifest = await get(cache.url, '/v2/team/app/manifests/v1');
  expectStatus(manifest, 200);
  assert.deepEqual(manifest.body, image.manifest.bytes);
  expectStatus(await get(cache.url, `/v2/team/app/manifests/${image.manifest.digest}`), 200);
  for (const blob of [image.config, ...image.layers]) assert.equal(sha256((await get(cache.url, `/v2/team/app/blobs/${blob.digest}`)).body), blob.digest);

  const tag = await get(cache.url, '/v2/team/app/manifests/v2');
  expectError(tag, 404, 'MANIFEST_UNKNOWN');
  assert.match(tag.body.toString(), /upstream is unavailable/);
  expectError(await get(cache.url, `/v2/team/app/manifests/${other.manifest.digest}`), 404, 'MANIFEST_UNKNOWN');
  const blob = await get(cache.url, `/v2/team/app/blobs/${other.config.digest}`);
  expectError(blob, 404, 'BLOB_UNKNOWN');
  assert.match(blob.body.toString(), /upstream is unavailable/);
});

test('proxy: pushes and deletes on a proxied name → 405 UNSUPPORTED; a name outside every prefix is a normal repository', { skip }, async (t) => {
  const upstream = await startUpstream(t);
  await pushRandomImage(upstream.url, 'library/alpine', 'latest');
  const cache = await startRegistry(t, { deleteEnabled: true, config: { proxy: { remotes: { 'docker.io/': { remoteurl: upstream.url } } } } });
  expectError(await send(cache.url, '/v2/docker.io/library/alpine/blobs/uploads/', { method: 'POST' }), 405, 'UNSUPPORTED');
  expectError(await send(cache.url, '/v2/docker.io/library/alpine/manifests/latest', { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: '{}' }), 405, 'UNSUPPORTED');
  expectError(await send(cache.url, '/v2/docker.io/library/alpine/manifests/latest', { method: 'DELETE' }), 405, 'UNSUPPORTED');
  expectError(await send(cache.url, `/v2/docker.io/library/alpine/blobs/${sha256('x')}`, { method: 'DELETE' }), 405, 'UNSUPPORTED');
  // Pulled through the prefix; pushed, pulled and deleted locally beside it.
  expectStatus(await get(cache.url, '/v2/docker.io/library/alpine/manifests/latest'), 200);
  const local = await pushImage(cache.url, 'team/app', 'v1');
  expectStatus(await get(cache.url, '/v2/team/app/manifests/v1'), 200);
  expectStatus(await send(cache.url, `/v2/team/app/manifests/${local.digest}`, { method: 'DELETE' }), 202);
  // A name that only starts like a prefix is not under it.
  expectStatus(await send(cache.url, '/v2/docker.iox/app/blobs/uploads/', { method: 'POST' }), 202);
});

test('proxy: remotes map prefixes to their own upstreams (docker.io/ → one, ghcr.io/ → another)', { skip }, async (t) => {
  const hub = await startUpstream(t);
  const ghcr = await startUpstream(t);
  const alpine = await pushRandomImage(hub.url, 'library/alpine', 'latest');
  const tool = await pushRandomImage(ghcr.url, 'team/tool', 'latest');
  const hubCounter = await startCountingProxy(t, hub.url);
  const ghcrCounter = await startCountingProxy(t, ghcr.url);
  const cache = await startRegistry(t, { config: { proxy: { remotes: { 'docker.io/': { remoteurl: hubCounter.url }, 'ghcr.io/': { remoteurl: ghcrCounter.url } } } } });
  const fromHub = await get(cache.url, '/v2/docker.io/library/alpine/manifests/latest');
  expectStatus(fromHub, 200);
  assert.deepEqual(fromHub.body, alpine.manifest.bytes);
  const fromGhcr = await get(cache.url, '/v2/ghcr.io/team/tool/manifests/latest');
  expectStatus(fromGhcr, 200);
  assert.deepEqual(fromGhcr.body, tool.manifest.bytes);
  assert.equal(sha256((await get(cache.url, `/v2/ghcr.io/team/tool/blobs/${tool.config.digest}`)).body), tool.config.digest);
  assert.deepEqual(hubCounter.requests, ['GET /v2/library/alpine/manifests/latest']);
  assert.deepEqual(ghcrCounter.requests, ['GET /v2/team/tool/manifests/latest', `GET /v2/team/tool/blobs/${tool.config.digest}`]);
  // The same content under another prefix comes from that prefix's upstream, or not at all.
  expectError(await get(cache.url, `/v2/docker.io/team/tool/blobs/${tool.config.digest}`), 404, 'BLOB_UNKNOWN');
  expectError(await get(cache.url, '/v2/team/tool/manifests/latest'), 404, 'MANIFEST_UNKNOWN');
  await cached(cache.root, [tool.config.digest]);
});
