import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LINK_TTL_MS } from '../../src/storage/link-cache.ts';
import { expectError, expectStatus, type Reply } from '../helpers/assertions.ts';
import { patchChunk, pushBlob, pushManifest, putUpload, send, sha256, startUpload, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST } from '../helpers/oci-client.ts';
import { startS3Registry, type S3Registry } from '../helpers/s3-registry.ts';
import { s3Unavailable } from '../helpers/s3.ts';

/*
 * Two Quayside replicas on one bucket and rootdirectory, with nothing shared but the bucket: no
 * secret, no memory, no sticky sessions (issue 10). The test client sends the requests of one
 * upload to different replicas, as a round-robin load balancer would.
 */
const skip = s3Unavailable;
const MiB = 1024 * 1024;
const PART = 5 * MiB;

async function twoReplicas(t: { after: (fn: () => Promise<void>) => void }): Promise<[S3Registry, S3Registry]> {
  const a = await startS3Registry(t, { s3: { chunksize: PART } });
  const b = await startS3Registry(t, { s3: { chunksize: PART, rootdirectory: a.s3.rootdirectory ?? '' } });
  return [a, b];
}

test('replicas: POST on A, PATCH on B, PATCH on A, GET status on B, PUT on A: the blob is right, and served by both', { skip }, async (t) => {
  const [a, b] = await twoReplicas(t);
  const bytes = randomBytes(11 * MiB + 99);
  // Location is a path, so it means the same upload on either replica.
  const location = await startUpload(a.url, 'rr/app');
  const first = 6 * MiB + 5; // past one part: B uploads part 1 and leaves a tail for A
  expectStatus(await patchChunk(b.url, location, bytes.subarray(0, first), 0), 202);
  const second = await patchChunk(a.url, location, bytes.subarray(first), first);
  expectStatus(second, 202);
  const status = await send(b.url, location);
  expectStatus(status, 204);
  assert.equal(status.headers.get('range'), `0-${bytes.length - 1}`);
  const digest = sha256(bytes);
  const put = await putUpload(a.url, location, digest);
  expectStatus(put, 201);
  assert.equal(put.headers.get('docker-content-digest'), digest);
  for (const replica of [a, b]) assert.equal(sha256((await send(replica.url, `/v2/rr/app/blobs/${digest}`)).body), digest);
});

test('replicas: a chunk that does not start at the offset the other replica acknowledged is 416 and changes nothing', { skip }, async (t) => {
  const [a, b] = await twoReplicas(t);
  const bytes = randomBytes(3 * MiB);
  const location = await startUpload(a.url, 'rr/order');
  expectStatus(await patchChunk(a.url, location, bytes.subarray(0, MiB), 0), 202);
  // B did not see that PATCH in memory; it reads the state and refuses a stale start.
  expectError(await patchChunk(b.url, location, bytes.subarray(0, MiB), 0), 416, 'BLOB_UPLOAD_INVALID');
  expectStatus(await patchChunk(b.url, location, bytes.subarray(MiB), MiB), 202);
  expectStatus(await putUpload(b.url, location, sha256(bytes)), 201);
});

test('replicas: the same chunk sent to both at once: one is acknowledged, the other refused, and the blob is whole', { skip }, async (t) => {
  const [a, b] = await twoReplicas(t);
  const bytes = randomBytes(7 * MiB);
  for (let round = 0; round < 3; round++) {
    const location = await startUpload(a.url, 'rr/race');
    const chunk = bytes.subarray(0, 6 * MiB);
    const replies = await Promise.all([patchChunk(a.url, location, chunk, 0), patchChunk(b.url, location, chunk, 0)]);
    const statuses = replies.map((r) => r.status).sort();
    assert.deepEqual(statuses, [202, 416], `exactly one PATCH acknowledged: ${statuses.join(', ')}`);
    for (const reply of replies) if (reply.status !== 202) expectError(reply, 416, 'BLOB_UPLOAD_INVALID');
    const status = await send(b.url, location);
    assert.equal(status.headers.get('range'), `0-${chunk.length - 1}`);
    expectStatus(await patchChunk(b.url, location, bytes.subarray(chunk.length), chunk.length), 202);
    expectStatus(await putUpload(a.url, location, sha256(bytes)), 201);
    assert.equal(sha256((await send(b.url, `/v2/rr/race/blobs/${sha256(bytes)}`)).body), sha256(bytes));
  }
});

async function manifestFor(base: string, repo: string, label: string): Promise<{ body: string; digest: string }> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', label }));
  const layer = Buffer.from(`layer of ${label}`);
  const [configDigest, layerDigest] = [await pushBlob(base, repo, config), await pushBlob(base, repo, layer)];
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
    layers: [{ mediaType: OCI_LAYER, digest: layerDigest, size: layer.length }],
  });
  return { body, digest: sha256(body) };
}

/** Polls `fn` until it is true, for at most `boundMs`; returns how long it took. */
async function within(boundMs: number, fn: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await fn()) return Date.now() - started;
    if (Date.now() - started > boundMs) assert.fail(`not seen within ${boundMs} ms`);
    await sleep(50);
  }
}

const tagDigest = async (base: string, repo: string, tag: string): Promise<string | null> => {
  const reply: Reply = await send(base, `/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { accept: OCI_MANIFEST } });
  return reply.status === 200 ? reply.headers.get('docker-content-digest') : null;
};

test(`replicas: a manifest PUT on A is served by B at once; a tag moved or deleted on B is seen by A within the link cache TTL (${LINK_TTL_MS} ms)`, { skip }, async (t) => {
  const [a, b] = await twoReplicas(t);
  const one = await manifestFor(a.url, 'rr/tags', 'one');
  expectStatus(await pushManifest(a.url, 'rr/tags', 'latest', one.body, OCI_MANIFEST), 201);
  assert.equal(await tagDigest(b.url, 'rr/tags', 'latest'), one.digest);
  assert.equal(await tagDigest(a.url, 'rr/tags', 'latest'), one.digest); // A has it cached now

  const two = await manifestFor(b.url, 'rr/tags', 'two');
  expectStatus(await pushManifest(b.url, 'rr/tags', 'latest', two.body, OCI_MANIFEST), 201);
  const bound = LINK_TTL_MS + 1000; // the TTL, plus a second of RGW and scheduling on a busy machine
  await within(bound, async () => (await tagDigest(a.url, 'rr/tags', 'latest')) === two.digest);

  expectStatus(await send(b.url, '/v2/rr/tags/manifests/latest', { method: 'DELETE' }), 202);
  await within(bound, async () => (await tagDigest(a.url, 'rr/tags', 'latest')) === null);
  // The tags list on A follows within the same bound (a repository without tags lists none).
  await within(bound, async () => {
    const reply = await send(a.url, '/v2/rr/tags/tags/list');
    expectStatus(reply, 200);
    return (JSON.parse(reply.body.toString()) as { tags: string[] }).tags.length === 0;
  });
});

test('replicas: 16 clients push the same blob and the same tag through both replicas: every push succeeds, the result is one of them, and both agree', { skip }, async (t) => {
  const [a, b] = await twoReplicas(t);
  const replicas = [a, b];
  const shared = randomBytes(6 * MiB + 1);
  const manifests = await Promise.all(Array.from({ length: 16 }, (_, i) => manifestFor((replicas[i % 2] as S3Registry).url, 'rr/many', `client-${i}`)));
  const pushes = Array.from({ length: 16 }, async (_, i) => {
    const base = (replicas[i % 2] as S3Registry).url;
    const other = (replicas[(i + 1) % 2] as S3Registry).url;
    // Each client's chunks alternate replicas too.
    const location = await startUpload(base, 'rr/many');
    expectStatus(await patchChunk(other, location, shared.subarray(0, 3 * MiB), 0), 202);
    expectStatus(await patchChunk(base, location, shared.subarray(3 * MiB), 3 * MiB), 202);
    expectStatus(await putUpload(other, location, sha256(shared)), 201);
    expectStatus(await pushManifest(base, 'rr/many', 'latest', (manifests[i] as { body: string }).body, OCI_MANIFEST), 201);
  });
  await Promise.all(pushes);
  for (const replica of replicas) assert.equal(sha256((await send(replica.url, `/v2/rr/many/blobs/${sha256(shared)}`)).body), sha256(shared));
  await sleep(LINK_TTL_MS + 100);
  const [onA, onB] = [await tagDigest(a.url, 'rr/many', 'latest'), await tagDigest(b.url, 'rr/many', 'latest')];
  assert.equal(onA, onB);
  assert.ok(manifests.some((m) => m.digest === onA), `the tag names one of the pushed manifests: ${onA}`);
  // Every pushed manifest is stored, by digest, on both.
  for (const m of manifests) for (const replica of replicas) expectStatus(await send(replica.url, `/v2/rr/many/manifests/${m.digest}`, { method: 'HEAD', headers: { accept: OCI_MANIFEST } }), 200);
});
