import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { describe, expectHeader, expectStatus, type Reply } from '../helpers/assertions.ts';
import { goSha256State } from '../helpers/go-sha256.ts';
import { OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, patchChunk, putUpload, send, sha256 } from '../helpers/oci-client.ts';
import { blob, buildImage, descriptor, randomLayer, type Blob, type Image } from '../helpers/oci-image.ts';
import { beginUpload, locationOf, mediaTypeOf, packUploadState, pushImageFollowing, unpackUploadState } from '../helpers/peer-client.ts';
import { peersSkipReason, startDockerRegistry, type DockerRegistry } from '../helpers/peers.ts';
import { startRegistry } from '../helpers/registry.ts';

/*
 * Quayside and the reference registry (distribution 2.8, Debian's docker-registry) on one storage
 * root: what one writes the other serves, byte for byte, down to an upload started on one and
 * finished on the other. Then one request script against both, statuses and key headers compared.
 */

const skip = await peersSkipReason();
const options = { skip, timeout: 30_000 };

const V2 = '/docker/registry/v2';

function uploadFile(root: string, repo: string, id: string, ...rest: string[]): string {
  return join(root, V2, 'repositories', repo, '_uploads', id, ...rest);
}

async function tempRoot(t: TestContext): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'quayside-side-by-side-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  return root;
}

function smallImage(): Image {
  return buildImage([randomLayer(300 * 1024), randomLayer(1000)]);
}

/** GET and HEAD of every manifest reference and blob, tags list and catalog: all as pushed. */
async function expectServes(url: string, repo: string, image: Image, tags: readonly string[]): Promise<void> {
  const mediaType = mediaTypeOf(image.manifest);
  for (const reference of [...tags, image.manifest.digest]) {
    for (const method of ['GET', 'HEAD']) {
      const reply = await send(url, `/v2/${repo}/manifests/${reference}`, { method, headers: { accept: `${OCI_MANIFEST}, ${OCI_INDEX}` } });
      expectStatus(reply, 200);
      expectHeader(reply, 'docker-content-digest', image.manifest.digest);
      expectHeader(reply, 'content-type', mediaType);
      expectHeader(reply, 'content-length', String(image.manifest.bytes.length));
      if (method === 'GET') assert.ok(reply.body.equals(image.manifest.bytes), `manifest bytes differ\n${describe(reply)}`);
    }
  }
  for (const b of [image.config, ...image.layers]) {
    const head = await send(url, `/v2/${repo}/blobs/${b.digest}`, { method: 'HEAD' });
    expectStatus(head, 200);
    expectHeader(head, 'docker-content-digest', b.digest);
    expectHeader(head, 'content-length', String(b.bytes.length));
    const get = await send(url, `/v2/${repo}/blobs/${b.digest}`);
    expectStatus(get, 200);
    assert.ok(get.body.equals(b.bytes), `blob ${b.digest} bytes differ`);
  }
  const tagList = await send(url, `/v2/${repo}/tags/list`);
  expectStatus(tagList, 200);
  const listed = JSON.parse(tagList.body.toString()) as { name: string; tags: string[] };
  assert.deepEqual({ name: listed.name, tags: [...listed.tags].sort() }, { name: repo, tags: [...tags].sort() });
  const catalog = await send(url, '/v2/_catalog');
  expectStatus(catalog, 200);
  assert.ok((JSON.parse(catalog.body.toString()) as { repositories: string[] }).repositories.includes(repo), describe(catalog));
}

async function expectBlob(url: string, repo: string, b: Blob): Promise<void> {
  const reply = await send(url, `/v2/${repo}/blobs/${b.digest}`);
  expectStatus(reply, 200);
  expectHeader(reply, 'docker-content-digest', b.digest);
  assert.ok(reply.body.equals(b.bytes), `blob bytes differ on ${url}`);
}

test('side-by-side: an image pushed to Quayside is served by docker-registry from the same root', options, async (t) => {
  const quayside = await startRegistry(t);
  const repo = 'compat/from-quayside';
  const image = smallImage();
  await pushImageFollowing(quayside.url, repo, image, ['v1', 'v2']);

  const reference = await startDockerRegistry(t, { root: quayside.root });
  await expectServes(reference.url, repo, image, ['v1', 'v2']);
  await expectServes(quayside.url, repo, image, ['v1', 'v2']);
});

test('side-by-side: an image pushed to docker-registry is served by Quayside from the same root', options, async (t) => {
  const root = await tempRoot(t);
  const reference = await startDockerRegistry(t, { root });
  const repo = 'compat/from-distribution';
  const image = smallImage();
  await pushImageFollowing(reference.url, repo, image, ['v1', 'v2']);

  const quayside = await startRegistry(t, { root });
  await expectServes(quayside.url, repo, image, ['v1', 'v2']);
  await expectServes(reference.url, repo, image, ['v1', 'v2']);
});

/*
 * The chunk sizes are not multiples of 64, so each checkpoint carries a partly filled SHA-256
 * block: the part of the format that goes wrong first.
 */
const FIRST = 1024 * 1024 + 13;
const SECOND = 512 * 1024 + 7;

test('side-by-side: an upload started on docker-registry is finished on Quayside, which resumes from the Go hash state', options, async (t) => {
  const quayside = await startRegistry(t);
  const reference = await startDockerRegistry(t, { root: quayside.root });
  const repo = 'compat/handoff-to-quayside';
  const bytes = randomBytes(FIRST + SECOND);
  const digest = sha256(bytes);

  const { location, uuid } = await beginUpload(reference.url, repo);
  const first = await patchChunk(reference.url, location, bytes.subarray(0, FIRST), 0);
  expectStatus(first, 202);
  expectHeader(first, 'range', `0-${FIRST - 1}`);
  // distribution's own checkpoint, checked against an independent SHA-256.
  const theirs = await readFile(uploadFile(quayside.root, repo, uuid, 'hashstates', 'sha256', String(FIRST)));
  assert.deepEqual(theirs, goSha256State(bytes.subarray(0, FIRST)), 'distribution wrote a hash state other than Go MarshalBinary of the first chunk');

  // Quayside needs no _state: the upload lives in storage, found by the id alone.
  const path = `/v2/${repo}/blobs/uploads/${uuid}`;
  const status = await send(quayside.url, path);
  expectStatus(status, 204);
  expectHeader(status, 'range', `0-${FIRST - 1}`);
  const second = await patchChunk(quayside.url, path, bytes.subarray(FIRST), FIRST);
  expectStatus(second, 202);
  expectHeader(second, 'range', `0-${bytes.length - 1}`);
  const ours = await readFile(uploadFile(quayside.root, repo, uuid, 'hashstates', 'sha256', String(bytes.length)));
  assert.deepEqual(ours, goSha256State(bytes), 'Quayside did not continue the hash from distribution’s state');

  const done = await putUpload(quayside.url, path, digest);
  expectStatus(done, 201);
  expectHeader(done, 'docker-content-digest', digest);
  await expectBlob(quayside.url, repo, { digest, bytes });
  await expectBlob(reference.url, repo, { digest, bytes });
});

test('side-by-side: an upload started on Quayside is finished on docker-registry, which resumes from Quayside’s checkpoint', options, async (t) => {
  const quayside = await startRegistry(t);
  const reference = await startDockerRegistry(t, { root: quayside.root });
  const repo = 'compat/handoff-to-distribution';
  const bytes = randomBytes(FIRST + SECOND);
  const digest = sha256(bytes);

  const { location, uuid } = await beginUpload(quayside.url, repo);
  expectStatus(await patchChunk(quayside.url, location, bytes.subarray(0, FIRST), 0), 202);
  const ours = await readFile(uploadFile(quayside.root, repo, uuid, 'hashstates', 'sha256', String(FIRST)));
  assert.deepEqual(ours, goSha256State(bytes.subarray(0, FIRST)), 'Quayside’s checkpoint is not Go MarshalBinary of the first chunk');

  // distribution 2.8 finds the upload through the signed `_state` token of its own Location.
  const startedAt = (await readFile(uploadFile(quayside.root, repo, uuid, 'startedat'), 'utf8')).trim();
  const token = packUploadState(reference.secret, { Name: repo, UUID: uuid, Offset: FIRST, StartedAt: startedAt });
  const path = `/v2/${repo}/blobs/uploads/${uuid}?_state=${encodeURIComponent(token)}`;
  const second = await patchChunk(reference.url, path, bytes.subarray(FIRST), FIRST);
  expectStatus(second, 202);
  expectHeader(second, 'range', `0-${bytes.length - 1}`);
  // Had distribution not loaded our checkpoint, it would have hashed the second chunk alone and
  // stored that state at offset SECOND (blobwriter_resumable.go: resumeDigest finds no state at
  // the file size, resets, and Write ignores errResumableDigestNotAvailable).
  const theirs = await readFile(uploadFile(quayside.root, repo, uuid, 'hashstates', 'sha256', String(bytes.length)));
  assert.deepEqual(theirs, goSha256State(bytes), 'distribution did not continue the hash from Quayside’s checkpoint');

  const done = await putUpload(reference.url, locationOf(second), digest);
  expectStatus(done, 201);
  expectHeader(done, 'docker-content-digest', digest);
  await expectBlob(reference.url, repo, { digest, bytes });
  await expectBlob(quayside.url, repo, { digest, bytes });
});

test('peer-client: packUploadState makes the token docker-registry makes', options, async (t) => {
  const reference = await startDockerRegistry(t, { root: await tempRoot(t) });
  const reply = await send(reference.url, '/v2/compat/token/blobs/uploads/', { method: 'POST' });
  expectStatus(reply, 202);
  const token = new URL(reply.headers.get('location') ?? '', reference.url).searchParams.get('_state') ?? '';
  const state = unpackUploadState(reference.secret, token);
  assert.equal(state.Name, 'compat/token');
  assert.equal(state.UUID, reply.headers.get('docker-upload-uuid'));
  assert.equal(packUploadState(reference.secret, state), token);
});

/* ------------------------------------------------------------------------------------------ */
/* One request script, both registries.                                                        */
/* ------------------------------------------------------------------------------------------ */

const KEY_HEADERS = ['docker-distribution-api-version', 'docker-content-digest', 'content-length', 'content-type', 'location', 'docker-upload-uuid', 'range', 'link'] as const;

interface Peer {
  readonly name: 'docker-registry' | 'quayside';
  readonly url: string;
  /** Per-peer values an earlier step left for a later one (an upload's Location). */
  readonly saved: Map<string, string>;
}

interface Step {
  readonly name: string;
  run(peer: Peer): Promise<Reply>;
}

interface Observation {
  readonly status: number;
  readonly headers: ReadonlySet<string>;
  readonly code: string | undefined;
}

function observe(reply: Reply): Observation {
  let code: string | undefined;
  if (reply.headers.get('content-type')?.startsWith('application/json') && reply.body.length > 0) {
    try {
      code = (JSON.parse(reply.body.toString()) as { errors?: { code?: string }[] }).errors?.[0]?.code;
    } catch {
      code = 'unparseable JSON';
    }
  }
  return { status: reply.status, headers: new Set(KEY_HEADERS.filter((h) => reply.headers.has(h))), code };
}

/*
 * Known differences: steps where docker-registry 2.8 and Quayside answer differently, why, and
 * the status Quayside must give there. Every other step must agree on status, error code and
 * which key headers are present.
 */
interface Known {
  readonly quayside: number;
  readonly why: string;
}
const KNOWN_DIFFERENCES: Readonly<Record<string, Known>> = {
  'GET tags list ?n=1 (two tags: Link)': { quayside: 200, why: 'end-8b: n limits the list and Link points to the rest; distribution 2.8 ignores n on tags/list' },
  'GET manifest, bad digest (sha256:zz)': { quayside: 400, why: 'distribution 2.8 answers 500 UNKNOWN (its bug); code-4 DIGEST_INVALID is the spec code' },
  'GET manifest, Accept: docker v2 only': {
    quayside: 200,
    why: 'distribution 2.8 hides an OCI manifest from a client whose Accept lacks the OCI type (404); the spec only says clients SHOULD send Accept, and Quayside serves what is stored, with its Content-Type',
  },
  'DELETE upload': { quayside: 204, why: 'distribution adds Docker-Upload-UUID, which the spec does not ask for on cancel' },
  'GET upload, unknown id, no _state': {
    quayside: 404,
    why: 'distribution 2.8 needs its signed _state token to find an upload (else BLOB_UPLOAD_INVALID); Quayside finds uploads by id alone: code-3 BLOB_UPLOAD_UNKNOWN',
  },
  'POST upload ?digest= (monolithic)': { quayside: 201, why: 'end-4b is optional: distribution 2.8 ignores ?digest= on POST and opens a session (202); Quayside completes the upload (201)' },
  'PUT manifest, invalid tag': { quayside: 400, why: 'distribution’s router does not match the path (bare 404); Quayside parses the reference and answers TAG_INVALID' },
  'GET referrers': { quayside: 200, why: 'the OCI 1.1 referrers API (end-12a) does not exist in distribution 2.8' },
  'GET unknown route': { quayside: 404, why: 'distribution answers a bare text/plain 404; Quayside keeps an OCI JSON error body (UNSUPPORTED)' },
  'DELETE /v2/': { quayside: 405, why: 'distribution’s base route ignores the method (200); Quayside answers 405 UNSUPPORTED' },
  'DELETE manifest by tag': { quayside: 202, why: 'OCI 1.1 end-9 allows deleting a tag; distribution 2.8 deletes by digest only (400 DIGEST_INVALID)' },
  'DELETE blob': { quayside: 202, why: 'Quayside adds Docker-Content-Digest to the 202; the spec neither asks for it nor forbids it' },
};

function buildScript(repo: string, image: Image, secret: string): Step[] {
  const config = image.config.digest;
  const manifest = image.manifest.digest;
  const unknownDigest = sha256(`not pushed ${repo}`);
  const extra = blob(Buffer.from(`monolithic ${repo}`));
  const missingBlobManifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: descriptor(OCI_CONFIG, image.config),
    layers: [{ mediaType: OCI_LAYER, digest: unknownDigest, size: 1 }],
  });
  const accept = { accept: `${OCI_MANIFEST}, ${OCI_INDEX}` };
  const put = (reference: string, body: string, type = OCI_MANIFEST) => (p: Peer) => send(p.url, `/v2/${repo}/manifests/${reference}`, { method: 'PUT', headers: { 'content-type': type }, body });
  const get = (path: string, method = 'GET', headers: Record<string, string> = {}) => (p: Peer) => send(p.url, path, { method, headers });
  const fakeUuid = '00000000-0000-4000-8000-000000000000';
  const fakeState = packUploadState(secret, { Name: repo, UUID: fakeUuid, Offset: 0, StartedAt: '2024-01-01T00:00:00Z' });
  const saved = (p: Peer, key: string): string => {
    const value = p.saved.get(key);
    if (value === undefined) throw new Error(`${p.name}: no ${key} saved by an earlier step`);
    return value;
  };
  const startUpload = (key: string) => async (p: Peer) => {
    const reply = await send(p.url, `/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    if (reply.status === 202) p.saved.set(key, locationOf(reply));
    return reply;
  };

  return [
    { name: 'GET /v2/', run: get('/v2/') },
    { name: 'HEAD /v2/', run: get('/v2/', 'HEAD') },
    { name: 'GET catalog', run: get('/v2/_catalog') },
    { name: 'GET tags list', run: get(`/v2/${repo}/tags/list`) },
    { name: 'GET tags list ?n=1 (two tags: Link)', run: get(`/v2/${repo}/tags/list?n=1`) },
    { name: 'GET tags list, unknown repository', run: get('/v2/compat/nothing-here/tags/list') },
    { name: 'GET manifest by tag', run: get(`/v2/${repo}/manifests/v1`, 'GET', accept) },
    { name: 'HEAD manifest by tag', run: get(`/v2/${repo}/manifests/v1`, 'HEAD', accept) },
    { name: 'GET manifest by digest', run: get(`/v2/${repo}/manifests/${manifest}`, 'GET', accept) },
    { name: 'GET manifest, unknown tag', run: get(`/v2/${repo}/manifests/nope`, 'GET', accept) },
    { name: 'HEAD manifest, unknown tag', run: get(`/v2/${repo}/manifests/nope`, 'HEAD', accept) },
    { name: 'GET manifest, unknown digest', run: get(`/v2/${repo}/manifests/${unknownDigest}`, 'GET', accept) },
    { name: 'GET manifest, unknown repository', run: get(`/v2/compat/nothing-here/manifests/v1`, 'GET', accept) },
    { name: 'GET manifest, bad digest (sha256:zz)', run: get(`/v2/${repo}/manifests/sha256:zz`, 'GET', accept) },
    { name: 'GET manifest, Accept: docker v2 only', run: get(`/v2/${repo}/manifests/v1`, 'GET', { accept: 'application/vnd.docker.distribution.manifest.v2+json' }) },
    { name: 'GET blob', run: get(`/v2/${repo}/blobs/${config}`) },
    { name: 'HEAD blob', run: get(`/v2/${repo}/blobs/${config}`, 'HEAD') },
    { name: 'GET blob, Range bytes=0-9', run: get(`/v2/${repo}/blobs/${config}`, 'GET', { range: 'bytes=0-9' }) },
    { name: 'GET blob, unknown digest', run: get(`/v2/${repo}/blobs/${unknownDigest}`) },
    { name: 'HEAD blob, unknown digest', run: get(`/v2/${repo}/blobs/${unknownDigest}`, 'HEAD') },
    { name: 'GET blob, unknown repository', run: get(`/v2/compat/nothing-here/blobs/${config}`) },
    { name: 'GET blob, bad digest (sha256:1234…, 40 hex)', run: get(`/v2/${repo}/blobs/sha256:${'1234'.repeat(10)}`) },
    { name: 'GET blob, bad digest (sha256:zz)', run: get(`/v2/${repo}/blobs/sha256:zz`) },
    { name: 'POST upload', run: startUpload('upload') },
    { name: 'GET upload status', run: (p) => get(saved(p, 'upload'))(p) },
    { name: 'PATCH upload chunk', run: async (p) => {
      const reply = await patchChunk(p.url, saved(p, 'upload'), Buffer.from('0123456789'), 0);
      if (reply.status === 202) p.saved.set('upload', locationOf(reply));
      return reply;
    } },
    { name: 'PUT upload, wrong digest', run: (p) => putUpload(p.url, saved(p, 'upload'), unknownDigest) },
    { name: 'POST upload (to cancel)', run: startUpload('cancel') },
    { name: 'DELETE upload', run: (p) => send(p.url, saved(p, 'cancel'), { method: 'DELETE' }) },
    { name: 'GET upload, cancelled', run: (p) => get(saved(p, 'cancel'))(p) },
    { name: 'GET upload, unknown id + valid _state', run: get(`/v2/${repo}/blobs/uploads/${fakeUuid}?_state=${encodeURIComponent(fakeState)}`) },
    { name: 'PATCH upload, unknown id + valid _state', run: (p) => patchChunk(p.url, `/v2/${repo}/blobs/uploads/${fakeUuid}?_state=${encodeURIComponent(fakeState)}`, Buffer.from('x'), 0) },
    { name: 'GET upload, unknown id, no _state', run: get(`/v2/${repo}/blobs/uploads/${fakeUuid}`) },
    { name: 'POST upload ?digest= (monolithic)', run: (p) => send(p.url, `/v2/${repo}/blobs/uploads/?digest=${extra.digest}`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'content-length': extra.bytes.length }, body: extra.bytes }) },
    { name: 'POST upload ?mount=&from=', run: (p) => send(p.url, `/v2/${repo}-mounted/blobs/uploads/?mount=${config}&from=${repo}`, { method: 'POST' }) },
    { name: 'POST upload ?mount= of an unknown blob', run: (p) => send(p.url, `/v2/${repo}-mounted/blobs/uploads/?mount=${unknownDigest}&from=${repo}`, { method: 'POST' }) },
    { name: 'PUT manifest, a layer not pushed', run: put('broken', missingBlobManifest) },
    { name: 'PUT manifest, invalid JSON', run: put('broken', '{"schemaVersion":2,') },
    { name: 'PUT manifest, tag v3', run: put('v3', image.manifest.bytes.toString()) },
    { name: 'PUT manifest, invalid tag', run: put('-bad-tag', image.manifest.bytes.toString()) },
    { name: 'PUT manifest by digest, body with another digest', run: put(unknownDigest, image.manifest.bytes.toString()) },
    { name: 'GET referrers', run: get(`/v2/${repo}/referrers/${manifest}`) },
    { name: 'GET unknown route', run: get('/v2/compat/not/a/route') },
    { name: 'DELETE /v2/', run: get('/v2/', 'DELETE') },
    { name: 'DELETE manifest by tag', run: get(`/v2/${repo}/manifests/v3`, 'DELETE') },
    { name: 'DELETE manifest by digest', run: get(`/v2/${repo}/manifests/${manifest}`, 'DELETE') },
    { name: 'GET manifest by deleted digest', run: get(`/v2/${repo}/manifests/${manifest}`, 'GET', accept) },
    { name: 'GET manifest by tag of deleted digest', run: get(`/v2/${repo}/manifests/v1`, 'GET', accept) },
    { name: 'DELETE manifest, unknown digest', run: get(`/v2/${repo}/manifests/${unknownDigest}`, 'DELETE') },
    { name: 'DELETE blob', run: get(`/v2/${repo}/blobs/${config}`, 'DELETE') },
    { name: 'HEAD deleted blob', run: get(`/v2/${repo}/blobs/${config}`, 'HEAD') },
    { name: 'DELETE blob, unknown digest', run: get(`/v2/${repo}/blobs/${unknownDigest}`, 'DELETE') },
  ];
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function show(o: Observation): string {
  return `${o.status}${o.code ? ` ${o.code}` : ''} [${[...o.headers].map((h) => h.replace(/^docker-distribution-api-version$/, 'api-version')).join(', ')}]`;
}

test('side-by-side: one request script against docker-registry and Quayside answers alike', options, async (t) => {
  const quayside = await startRegistry(t);
  const reference: DockerRegistry = await startDockerRegistry(t, { root: await tempRoot(t) });
  const repo = 'compat/script';
  const image = smallImage();
  const peers: Peer[] = [
    { name: 'docker-registry', url: reference.url, saved: new Map() },
    { name: 'quayside', url: quayside.url, saved: new Map() },
  ];
  for (const peer of peers) await pushImageFollowing(peer.url, repo, image, ['v1', 'v2']);

  const script = buildScript(repo, image, reference.secret);
  const names = new Set(script.map((s) => s.name));
  assert.deepEqual(Object.keys(KNOWN_DIFFERENCES).filter((n) => !names.has(n)), [], 'KNOWN_DIFFERENCES names a step the script does not have');

  const rows: { step: string; 'docker-registry': string; quayside: string; why: string }[] = [];
  const problems: string[] = [];
  for (const step of script) {
    const ref = observe(await step.run(peers[0] as Peer));
    const ours = observe(await step.run(peers[1] as Peer));
    if (process.env['QUAYSIDE_COMPAT_ALL']) console.log(`${step.name.padEnd(48)} ${show(ref).padEnd(90)} ${show(ours)}`);
    if (ref.code === ours.code && show(ref) === show(ours)) continue;
    const known = KNOWN_DIFFERENCES[step.name];
    rows.push({ step: step.name, 'docker-registry': show(ref), quayside: show(ours), why: known ? clip(known.why, 90) : 'NOT EXPECTED' });
    if (!known) problems.push(`${step.name}: docker-registry ${show(ref)} vs Quayside ${show(ours)}`);
    else if (ours.status !== known.quayside) problems.push(`${step.name}: Quayside ${show(ours)}, expected status ${known.quayside}`);
  }
  if (rows.length > 0) {
    console.log('side-by-side differences (docker-registry 2.8 vs Quayside):');
    console.table(rows);
  }
  assert.deepEqual(problems, [], 'differences from docker-registry beyond the known ones');
});

test('side-by-side: a 204 from Quayside carries no Content-Length (RFC 9110 §8.6), as docker-registry’s do', async (t) => {
  const { url } = await startRegistry(t);
  const { location } = await beginUpload(url, 'compat/no-content');
  const reply = await send(url, location);
  expectStatus(reply, 204);
  assert.equal(reply.headers.get('content-length'), null, describe(reply));
});
