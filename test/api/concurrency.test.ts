import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { describe, expectError, expectHeader, expectStatus, type Reply } from '../helpers/assertions.ts';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, send, sha256, type SendOptions } from '../helpers/oci-client.ts';
import { startRegistry } from '../helpers/registry.ts';

/*
 * Many clients pushing the same thing at once (issue: "concurrent pushes of the same blob and
 * the same tag from many clients end consistent"). Everything goes over real HTTP to one
 * registry; afterwards the API and the storage layout on disk must tell the same story.
 */

const MIB = 1024 * 1024;
const CLIENTS = 16;
/** Per request: a registry that never answers fails the test instead of hanging it. */
const REQUEST_MS = 10_000;
const TEST_MS = 30_000;
/** Rounds of each tag race: an ordering race is lost in only some rounds (a third, for the one found), so one is not enough. */
const ROUNDS = 6;

/** send() with a deadline; any 5xx fails at once, with the whole response. */
async function call(base: string, path: string, options: SendOptions = {}): Promise<Reply> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${options.method ?? 'GET'} ${path}: no answer within ${REQUEST_MS} ms`)), REQUEST_MS);
  });
  try {
    const reply = await Promise.race([send(base, path, options), deadline]);
    assert.ok(reply.status < 500, `server error\n${describe(reply)}`);
    return reply;
  } finally {
    clearTimeout(timer);
  }
}

/** Awaits every client; on failure reports all of them, not just the first. */
async function everyClient<T>(label: string, tasks: readonly Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(tasks);
  const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [`client ${i}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`] : []));
  assert.equal(failures.length, 0, `${label}: ${failures.length} of ${tasks.length} clients failed\n${failures.join('\n---\n')}`);
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/**
 * Runs `loops` (pullers, deleters) for as long as `clients` take, then awaits everything and
 * reports every failure: a loop that failed mid-race is not left unobserved.
 */
async function whileRacing<T, L>(label: string, clients: () => Promise<T>, loops: (racing: () => boolean) => Promise<L>[]): Promise<{ clients: T; loops: L[] }> {
  let racing = true;
  const running = loops(() => racing);
  const done = clients().finally(() => (racing = false));
  const [result, ...rest] = await everyClient<unknown>(label, [done, ...running]);
  return { clients: result as T, loops: rest as L[] };
}

function errorCodes(reply: Reply): string[] {
  return (JSON.parse(reply.body.toString()) as { errors: { code: string }[] }).errors.map((e) => e.code);
}

// --- storage layout (test/helpers/registry.ts: the root is a fresh temp dir) -----------------

const repoDir = (root: string, repo: string): string => join(root, 'docker/registry/v2/repositories', repo);
const hexOf = (digest: string): string => digest.slice('sha256:'.length);

async function readLink(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function listDir(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Temp files putContent leaves when a write dies between create and rename. */
async function strayTempFiles(root: string): Promise<string[]> {
  const all = await readdir(root, { recursive: true });
  return all.filter((p) => p.includes('~tmp-'));
}

const tagCurrentLink = (root: string, repo: string, tag: string): string => join(repoDir(root, repo), '_manifests/tags', tag, 'current/link');
const tagIndexDir = (root: string, repo: string, tag: string): string => join(repoDir(root, repo), '_manifests/tags', tag, 'index/sha256');
const revisionLink = (root: string, repo: string, digest: string): string => join(repoDir(root, repo), '_manifests/revisions/sha256', hexOf(digest), 'link');

// --- blob pushes, one per way clients push -----------------------------------------------------

const CHUNK = 1 * MIB;

function uploadLocation(reply: Reply): string {
  const location = reply.headers.get('location');
  assert.ok(location, `no Location\n${describe(reply)}`);
  return location;
}

function withDigest(location: string, digest: string): string {
  return `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`;
}

async function startUploadAt(base: string, repo: string, uploads: string[], query = ''): Promise<Reply> {
  const reply = await call(base, `/v2/${repo}/blobs/uploads/${query}`, { method: 'POST' });
  if (reply.status === 202) uploads.push(uploadLocation(reply));
  return reply;
}

async function patchRange(base: string, location: string, chunk: Buffer, start: number): Promise<Reply> {
  return call(base, location, {
    method: 'PATCH',
    headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${start + chunk.length - 1}`, 'content-length': chunk.length },
    body: chunk,
  });
}

/** containerd / oras: Content-Range chunks, then an empty PUT. */
async function finishChunked(base: string, location: string, blob: Buffer, digest: string): Promise<Reply> {
  let at = 0;
  let current = location;
  while (at < blob.length) {
    const chunk = blob.subarray(at, at + CHUNK);
    const reply = await patchRange(base, current, chunk, at);
    expectStatus(reply, 202);
    expectHeader(reply, 'range', `0-${at + chunk.length - 1}`);
    current = uploadLocation(reply);
    at += chunk.length;
  }
  return call(base, withDigest(current, digest), { method: 'PUT', headers: { 'content-length': 0 } });
}

interface BlobClient {
  readonly kind: string;
  push(base: string, repo: string, blob: Buffer, digest: string, uploads: string[]): Promise<Reply>;
}

const chunkedClient: BlobClient = {
  kind: 'chunked PATCH + PUT',
  async push(base, repo, blob, digest, uploads) {
    const start = await startUploadAt(base, repo, uploads);
    expectStatus(start, 202);
    return finishChunked(base, uploadLocation(start), blob, digest);
  },
};

const streamedClient: BlobClient = {
  kind: 'streamed PATCH (docker)',
  async push(base, repo, blob, digest, uploads) {
    const start = await startUploadAt(base, repo, uploads);
    expectStatus(start, 202);
    async function* pieces(): AsyncGenerator<Buffer> {
      for (let at = 0; at < blob.length; at += 256 * 1024) yield blob.subarray(at, at + 256 * 1024);
    }
    const patch = await call(base, uploadLocation(start), { method: 'PATCH', headers: { 'transfer-encoding': 'chunked' }, body: pieces() });
    expectStatus(patch, 202);
    expectHeader(patch, 'range', `0-${blob.length - 1}`);
    return call(base, withDigest(uploadLocation(patch), digest), { method: 'PUT', headers: { 'content-length': 0 } });
  },
};

const lastChunkInPutClient: BlobClient = {
  kind: 'chunked PATCH, last chunk with the PUT',
  async push(base, repo, blob, digest, uploads) {
    const start = await startUploadAt(base, repo, uploads);
    expectStatus(start, 202);
    const cut = 2 * MIB;
    const patch = await patchRange(base, uploadLocation(start), blob.subarray(0, cut), 0);
    expectStatus(patch, 202);
    const rest = blob.subarray(cut);
    return call(base, withDigest(uploadLocation(patch), digest), {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${cut}-${blob.length - 1}`, 'content-length': rest.length },
      body: rest,
    });
  },
};

const monolithicClient: BlobClient = {
  kind: 'monolithic POST ?digest=',
  async push(base, repo, blob, digest) {
    return call(base, `/v2/${repo}/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'content-length': blob.length },
      body: blob,
    });
  },
};

/** Mounts from `source` at once: 201 when the source has the blob by now, else a 202 upload to finish. */
function mountNowClient(source: string): BlobClient {
  return {
    kind: `mount from ${source}, racing its push`,
    async push(base, repo, blob, digest, uploads) {
      const reply = await startUploadAt(base, repo, uploads, `?mount=${digest}&from=${source}`);
      if (reply.status === 201) return reply;
      expectStatus(reply, 202);
      return finishChunked(base, uploadLocation(reply), blob, digest);
    },
  };
}

/** Mounts from `source` once its push has finished: must be a real mount (201). */
function mountAfterClient(source: string, sourceDone: Promise<unknown>): BlobClient {
  return {
    kind: `mount from ${source} after its push`,
    async push(base, repo, _blob, digest, uploads) {
      await sourceDone;
      const reply = await startUploadAt(base, repo, uploads, `?mount=${digest}&from=${source}`);
      expectStatus(reply, 201);
      return reply;
    },
  };
}

/**
 * Pushes one fresh ~3 MiB blob from CLIENTS clients at once, client i into `targets[i]`, cycling
 * through every way of pushing; one more client pushes it to a source repository the mounting
 * clients mount from. Then checks every repository through the API and on disk.
 */
async function raceSameBlob(base: string, root: string, targets: readonly string[]): Promise<void> {
  const blob = randomBytes(3 * MIB + 12_345);
  const digest = sha256(blob);
  const source = 'side/base';
  const uploads: string[] = [];

  const sourcePush = chunkedClient.push(base, source, blob, digest, uploads).then((reply) => {
    expectStatus(reply, 201);
    return reply;
  });
  const kinds = [chunkedClient, streamedClient, lastChunkInPutClient, monolithicClient, mountNowClient(source), mountAfterClient(source, sourcePush)];
  const clients = targets.map((repo, i) => {
    const client = kinds[i % kinds.length] as BlobClient;
    return client.push(base, repo, blob, digest, uploads).then((reply) => {
      const why = `client ${i} (${client.kind}) into ${repo}`;
      assert.equal(reply.status, 201, `${why}\n${describe(reply)}`);
      assert.equal(reply.headers.get('docker-content-digest'), digest, `${why}\n${describe(reply)}`);
      assert.equal(reply.headers.get('location'), `/v2/${repo}/blobs/${digest}`, `${why}\n${describe(reply)}`);
    });
  });
  // A puller reads the blob throughout: it is absent or whole, never partial.
  const puller = async (racing: () => boolean): Promise<void> => {
    while (racing()) {
      const get = await call(base, `/v2/${targets[0]}/blobs/${digest}`);
      if (get.status === 404) expectError(get, 404, 'BLOB_UNKNOWN');
      else assert.ok(get.status === 200 && get.body.equals(blob), `GET mid-race: ${get.status}, ${get.body.length} bytes`);
    }
  };
  await whileRacing('same blob', () => everyClient<unknown>('pushes', [sourcePush, ...clients]), (racing) => [puller(racing)]);

  // Through the API: every repository serves exactly these bytes.
  for (const repo of new Set([source, ...targets])) {
    const head = await call(base, `/v2/${repo}/blobs/${digest}`, { method: 'HEAD' });
    expectStatus(head, 200);
    expectHeader(head, 'content-length', String(blob.length));
    expectHeader(head, 'docker-content-digest', digest);
    const get = await call(base, `/v2/${repo}/blobs/${digest}`);
    expectStatus(get, 200);
    expectHeader(get, 'docker-content-digest', digest);
    assert.ok(get.body.equals(blob), `GET ${repo} returned other bytes (${get.body.length} bytes, ${sha256(get.body)})`);
  }
  // Every upload any client started is gone: committed, none left half-way.
  for (const location of uploads) expectError(await call(base, location), 404, 'BLOB_UPLOAD_UNKNOWN');

  // On disk: one blob with these bytes, a link per repository, no upload directories, no temp files.
  const data = await readFile(join(root, 'docker/registry/v2/blobs/sha256', hexOf(digest).slice(0, 2), hexOf(digest), 'data'));
  assert.ok(data.equals(blob), 'the stored blob differs from the pushed bytes');
  for (const repo of new Set([source, ...targets])) {
    assert.equal(await readLink(join(repoDir(root, repo), '_layers/sha256', hexOf(digest), 'link')), digest, `layer link in ${repo}`);
    assert.deepEqual(await listDir(join(repoDir(root, repo), '_uploads')), [], `upload directories left in ${repo}/_uploads`);
  }
  assert.deepEqual(await strayTempFiles(root), [], 'temp files left in the storage root');
}

test('same blob, 16 clients into one repository at once (chunked, streamed, last chunk in PUT, monolithic, mount) → all 201, one consistent blob, no uploads left', { timeout: TEST_MS }, async (t) => {
  const { url, root } = await startRegistry(t);
  await raceSameBlob(url, root, Array.from({ length: CLIENTS }, () => 'shared/app'));
});

test('same blob, 16 clients into 8 repositories at once → all 201, every repository serves it, no uploads left', { timeout: TEST_MS }, async (t) => {
  const { url, root } = await startRegistry(t);
  await raceSameBlob(url, root, Array.from({ length: CLIENTS }, (_, i) => `spread/r${i % 8}`));
});

// --- manifests and tags --------------------------------------------------------------------------

interface Pushed {
  readonly digest: string;
  readonly bytes: Buffer;
}

async function pushSmallBlob(base: string, repo: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  const reply = await call(base, `/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: 'POST', headers: { 'content-length': bytes.length }, body: bytes });
  expectStatus(reply, 201);
  return digest;
}

/** `count` image manifests differing only in their config (pushed here), sharing one layer. */
async function makeManifests(base: string, repo: string, label: string, count: number): Promise<Pushed[]> {
  const layer = Buffer.from('one layer shared by every manifest');
  const layerDigest = await pushSmallBlob(base, repo, layer);
  return everyClient(
    'push configs',
    Array.from({ length: count }, async (_, i) => {
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', quayside: `${label}-${i}` }));
      const manifest = {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: await pushSmallBlob(base, repo, config), size: config.length },
        layers: [{ mediaType: OCI_LAYER, digest: layerDigest, size: layer.length }],
      };
      const bytes = Buffer.from(JSON.stringify(manifest));
      return { digest: sha256(bytes), bytes };
    }),
  );
}

async function putManifest(base: string, repo: string, reference: string, pushed: Pushed): Promise<void> {
  const reply = await call(base, `/v2/${repo}/manifests/${reference}`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: pushed.bytes });
  expectStatus(reply, 201);
  expectHeader(reply, 'docker-content-digest', pushed.digest);
}

/** Four ways a client ends up with `tag` on its manifest. */
async function pushTagged(base: string, repo: string, tag: string, pushed: Pushed, i: number): Promise<void> {
  switch (i % 4) {
    case 0:
      return putManifest(base, repo, tag, pushed);
    case 1:
      return putManifest(base, repo, `${pushed.digest}?tag=${tag}`, pushed);
    case 2:
      await putManifest(base, repo, pushed.digest, pushed);
      return putManifest(base, repo, tag, pushed);
    default:
      return putManifest(base, repo, `client-${i}?tag=${tag}`, pushed);
  }
}

/** A reader pulling the tag during the race: whatever it gets is a whole pushed manifest. */
async function readDuringRace(base: string, repo: string, tag: string, known: ReadonlyMap<string, Buffer>, racing: () => boolean): Promise<void> {
  while (racing()) {
    const get = await call(base, `/v2/${repo}/manifests/${tag}`);
    if (get.status === 404) {
      expectError(get, 404, 'MANIFEST_UNKNOWN');
    } else {
      expectStatus(get, 200);
      const digest = get.headers.get('docker-content-digest') ?? '';
      assert.equal(sha256(get.body), digest, `GET ${tag} mid-race: body and Docker-Content-Digest disagree\n${describe(get)}`);
      assert.ok(known.get(digest)?.equals(get.body), `GET ${tag} mid-race returned a manifest nobody pushed\n${describe(get)}`);
    }
    const list = await call(base, `/v2/${repo}/tags/list`);
    assert.ok(list.status === 200 || list.status === 404, describe(list));
  }
}

async function tagsOf(base: string, repo: string): Promise<string[]> {
  const reply = await call(base, `/v2/${repo}/tags/list`);
  expectStatus(reply, 200);
  return (JSON.parse(reply.body.toString()) as { tags: string[] }).tags;
}

/** GET and HEAD by tag agree with each other, with the pushed bytes, and with the link on disk. */
async function expectTagServes(base: string, root: string, repo: string, tag: string, candidates: readonly Pushed[], why: string): Promise<Pushed> {
  const get = await call(base, `/v2/${repo}/manifests/${tag}`);
  expectStatus(get, 200);
  const served = candidates.find((p) => p.bytes.equals(get.body));
  assert.ok(served, `${why}: GET ${tag} returned none of the manifests pushed\n${describe(get)}`);
  expectHeader(get, 'docker-content-digest', served.digest);
  const head = await call(base, `/v2/${repo}/manifests/${tag}`, { method: 'HEAD' });
  expectStatus(head, 200);
  expectHeader(head, 'docker-content-digest', served.digest);
  const onDisk = await readLink(tagCurrentLink(root, repo, tag));
  assert.equal(onDisk, served.digest, `${why}: GET ${tag} serves ${served.digest}, but tags/${tag}/current/link says ${onDisk}`);
  return served;
}

/** Each manifest by digest: the pushed bytes, and its revision link on disk. */
async function expectEveryManifest(base: string, root: string, repo: string, manifests: readonly Pushed[], why: string): Promise<void> {
  for (const m of manifests) {
    const get = await call(base, `/v2/${repo}/manifests/${m.digest}`);
    expectStatus(get, 200);
    assert.ok(get.body.equals(m.bytes), `${why}: GET ${m.digest} returned other bytes`);
    assert.equal(await readLink(revisionLink(root, repo, m.digest)), m.digest, `${why}: revision link of ${m.digest}`);
  }
}

test('same tag, 16 clients push different manifests at once (by tag, ?tag=, digest then tag), 6 rounds → the tag is one of them, everywhere', { timeout: TEST_MS }, async (t) => {
  const { url, root } = await startRegistry(t);
  const repo = 'race/app';
  const tag = 'latest';
  const all: Pushed[] = [];
  const known = new Map<string, Buffer>();
  for (let round = 0; round < ROUNDS; round++) {
    const why = `round ${round}`;
    const manifests = await makeManifests(url, repo, `r${round}`, CLIENTS);
    for (const m of manifests) known.set(m.digest, m.bytes);
    all.push(...manifests);
    await whileRacing(
      why,
      () => everyClient('pushes', manifests.map((m, i) => pushTagged(url, repo, tag, m, i))),
      (racing) => [readDuringRace(url, repo, tag, known, racing)],
    );

    await expectTagServes(url, root, repo, tag, manifests, why);
    const tags = await tagsOf(url, repo);
    assert.equal(tags.filter((x) => x === tag).length, 1, `${why}: tags list ${JSON.stringify(tags)}`);
    assert.equal(new Set(tags).size, tags.length, `${why}: duplicate tags in ${JSON.stringify(tags)}`);
    for (let i = 3; i < CLIENTS; i += 4) assert.ok(tags.includes(`client-${i}`), `${why}: client-${i} missing from ${JSON.stringify(tags)}`);
    // The tag's index holds every digest it has pointed at, over all rounds.
    assert.deepEqual(await listDir(tagIndexDir(root, repo, tag)), all.map((m) => hexOf(m.digest)).sort(), `${why}: tags/${tag}/index`);
    await expectEveryManifest(url, root, repo, manifests, why);
  }
  // Later rounds took nothing away from earlier ones.
  await expectEveryManifest(url, root, repo, all, 'after all rounds');
  assert.deepEqual(await strayTempFiles(root), [], 'temp files left in the storage root');
});

test('same tag with DELETEs mixed in (tag and digest), 6 rounds → the tag is gone or serves a manifest that exists by digest; API and disk agree', { timeout: TEST_MS }, async (t) => {
  const { url, root } = await startRegistry(t);
  const repo = 'race/del';
  const tag = 'latest';
  const known = new Map<string, Buffer>();
  const survivors: Pushed[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const why = `round ${round}`;
    const manifests = await makeManifests(url, repo, `d${round}`, 12);
    for (const m of manifests) known.set(m.digest, m.bytes);
    // Manifests 0 and 1 are deleted by digest while they are being pushed.
    const doomed = manifests.slice(0, 2);
    survivors.push(...manifests.slice(2));
    // Deleters keep deleting (the tag, and the doomed manifests by digest) until `stopAfter`
    // pushes are done, fewer each round. A tag DELETE retries while pushes write into the tag's
    // directory, so its last one often lands after every push: most rounds end with no tag.
    let finished = 0;
    const stopAfter = manifests.length - (round % 4) * 3;
    const deleteLoop = async (path: string, racing: () => boolean): Promise<Reply[]> => {
      const replies: Reply[] = [];
      while (racing() && finished < stopAfter) replies.push(await call(url, path, { method: 'DELETE' }));
      return replies;
    };
    const { loops } = await whileRacing(
      why,
      () => everyClient('pushes', manifests.map((m, i) => pushTagged(url, repo, tag, m, i).finally(() => finished++))),
      (racing) => [
        deleteLoop(`/v2/${repo}/manifests/${tag}`, racing),
        deleteLoop(`/v2/${repo}/manifests/${tag}`, racing),
        ...doomed.map((m) => deleteLoop(`/v2/${repo}/manifests/${m.digest}`, racing)),
        readDuringRace(url, repo, tag, known, racing).then(() => []),
      ],
    );
    for (const reply of loops.flat()) {
      if (reply.status === 404) expectError(reply, 404, 'MANIFEST_UNKNOWN');
      else expectStatus(reply, 202);
    }

    // The tag: gone, or a manifest that exists by digest, with the link on disk saying the same.
    const tags = await tagsOf(url, repo);
    assert.ok(tags.filter((x) => x === tag).length <= 1, `${why}: tags list ${JSON.stringify(tags)}`);
    const get = await call(url, `/v2/${repo}/manifests/${tag}`);
    if (get.status === 404) {
      expectError(get, 404, 'MANIFEST_UNKNOWN');
      const link = await readLink(tagCurrentLink(root, repo, tag));
      // Acceptable only if the link is absent or names a revision that is gone (a dangling tag).
      if (link !== undefined) assert.equal(await readLink(revisionLink(root, repo, link)), undefined, `${why}: GET ${tag} is 404, but its link names ${link}, which is in the repository`);
    } else {
      const served = await expectTagServes(url, root, repo, tag, manifests, why);
      const byDigest = await call(url, `/v2/${repo}/manifests/${served.digest}`);
      expectStatus(byDigest, 200);
      assert.ok(byDigest.body.equals(served.bytes));
      assert.ok(tags.includes(tag), `${why}: GET ${tag} serves ${served.digest} but the tags list ${JSON.stringify(tags)} lacks it`);
    }
    // Every manifest of the round: served by digest exactly when its revision link is on disk.
    for (const m of manifests) {
      const byDigest = await call(url, `/v2/${repo}/manifests/${m.digest}`);
      const onDisk = await readLink(revisionLink(root, repo, m.digest));
      if (byDigest.status === 404) {
        expectError(byDigest, 404, 'MANIFEST_UNKNOWN');
        assert.equal(onDisk, undefined, `${why}: GET ${m.digest} is 404 but its revision link is on disk`);
      } else {
        expectStatus(byDigest, 200);
        assert.ok(byDigest.body.equals(m.bytes), `${why}: GET ${m.digest} returned other bytes`);
        assert.equal(onDisk, m.digest, `${why}: GET ${m.digest} is 200 but its revision link is not on disk`);
      }
    }
  }
  // Deleting the doomed manifests took nothing else away.
  await expectEveryManifest(url, root, repo, survivors, 'after all rounds');
  assert.deepEqual(await strayTempFiles(root), [], 'temp files left in the storage root');
});

// --- one upload, many writers ------------------------------------------------------------------

test('same upload, 8 writers PATCH the same offset at once, 3 rounds → exactly one 202 each round, the rest 416; racing PUTs → one 201 with the right digest', { timeout: TEST_MS }, async (t) => {
  const { url, root } = await startRegistry(t);
  const repo = 'one/upload';
  const uploads: string[] = [];
  const start = await startUploadAt(url, repo, uploads);
  expectStatus(start, 202);
  const location = uploadLocation(start);
  let expected = Buffer.alloc(0);
  for (let round = 0; round < 3; round++) {
    const at = expected.length;
    const chunks = Array.from({ length: 8 }, (_, i) => randomBytes(512 * 1024 + round * 1000 + i));
    const replies = await everyClient(`round ${round}`, chunks.map((chunk) => patchRange(url, location, chunk, at)));
    const winners = replies.flatMap((r, i) => (r.status === 202 ? [i] : []));
    const summary = `round ${round}: ${replies.map((r) => r.status).join(' ')}`;
    assert.equal(winners.length, 1, summary);
    const winner = winners[0] as number;
    const chunk = chunks[winner] as Buffer;
    expectHeader(replies[winner] as Reply, 'range', `0-${at + chunk.length - 1}`);
    for (const [i, reply] of replies.entries()) {
      if (i === winner) continue;
      assert.equal(reply.status, 416, `${summary}\n${describe(reply)}`);
      assert.deepEqual(errorCodes(reply), ['BLOB_UPLOAD_INVALID'], describe(reply));
    }
    expected = Buffer.concat([expected, chunk]);
    const status = await call(url, location);
    expectStatus(status, 204);
    expectHeader(status, 'range', `0-${expected.length - 1}`);
  }

  const digest = sha256(expected);
  const puts = await everyClient('PUTs', Array.from({ length: 4 }, () => call(url, withDigest(location, digest), { method: 'PUT', headers: { 'content-length': 0 } })));
  const created = puts.filter((r) => r.status === 201);
  assert.equal(created.length, 1, `PUTs: ${puts.map((r) => r.status).join(' ')}`);
  expectHeader(created[0] as Reply, 'docker-content-digest', digest);
  for (const reply of puts) {
    if (reply.status === 201) continue;
    // Refused while the winner holds the upload (416), or after it committed (404).
    assert.ok(reply.status === 416 || reply.status === 404, describe(reply));
    assert.deepEqual(errorCodes(reply), [reply.status === 416 ? 'BLOB_UPLOAD_INVALID' : 'BLOB_UPLOAD_UNKNOWN'], describe(reply));
  }
  const blob = await call(url, `/v2/${repo}/blobs/${digest}`);
  expectStatus(blob, 200);
  assert.ok(blob.body.equals(expected), 'the blob is not the winning chunks in order');
  expectError(await call(url, location), 404, 'BLOB_UPLOAD_UNKNOWN');
  assert.deepEqual(await listDir(join(repoDir(root, repo), '_uploads')), [], 'upload directory left behind');
});

test('an upload cancelled (DELETE) while its PUT commits, 40 rounds → the PUT is 201 with the blob stored or 404 BLOB_UPLOAD_UNKNOWN, never a 5xx; no upload folder is left (found by the fuzz suite under load)', { timeout: TEST_MS }, async (t) => {
  const { url, root } = await startRegistry(t);
  const repo = 'race/cancel';
  const uploads: string[] = [];
  const outcomes: Record<string, number> = {};
  for (let round = 0; round < 40; round++) {
    const location = uploadLocation(await startUploadAt(url, repo, uploads));
    const body = randomBytes(64 + round);
    const digest = sha256(body);
    // The last bytes ride on the PUT (as the fuzz's counterexample did); the DELETE follows after
    // 0-9 ms, so that rounds land in different steps of the PUT (its append, hash, move) or after it.
    const [put, del] = await Promise.all([
      call(url, withDigest(location, digest), { method: 'PUT', headers: { 'content-type': 'application/octet-stream', 'content-length': body.length }, body }),
      new Promise((resolve) => setTimeout(resolve, round % 10)).then(() => call(url, location, { method: 'DELETE' })),
    ]);
    const key = `PUT ${put.status} DELETE ${del.status}`;
    outcomes[key] = (outcomes[key] ?? 0) + 1;
    if (put.status === 201) {
      const blob = await call(url, `/v2/${repo}/blobs/${digest}`);
      expectStatus(blob, 200);
      assert.ok(blob.body.equals(body), `round ${round}: the blob acknowledged is not the bytes sent`);
    } else {
      expectError(put, 404, 'BLOB_UPLOAD_UNKNOWN');
    }
    // DELETE found it (204) or the commit had already finished it (404).
    if (del.status !== 204) expectError(del, 404, 'BLOB_UPLOAD_UNKNOWN');
    expectError(await call(url, location), 404, 'BLOB_UPLOAD_UNKNOWN');
  }
  t.diagnostic(`outcomes ${JSON.stringify(outcomes)}`);
  assert.deepEqual(await listDir(join(repoDir(root, repo), '_uploads')), [], `upload folder left behind (outcomes ${JSON.stringify(outcomes)})`);
});
