import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { expectError, expectHeader, expectStatus, type Reply } from '../helpers/assertions.ts';
import {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  imageManifest,
  indexManifest,
  pushImageManifest,
  pushIndex,
  putManifestBytes,
  readJson,
  unknownDigest,
  type Descriptor,
  type PushedManifest,
} from '../helpers/manifest-fixtures.ts';
import { OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, pushBlob, pushManifest, send, sha256 } from '../helpers/oci-client.ts';
import { startRegistry } from '../helpers/registry.ts';
import { parseDigest } from '../../src/digest/digest.ts';
import { paths } from '../../src/storage/paths.ts';

const MIB = 1024 * 1024;

// One registry for the file (a worker pool costs ~300 ms to start); every test pushes to its own
// repository, so no test sees another's manifests or tags.
const { url, root } = await startRegistry({ after });
let repoCount = 0;
function freshRepo(): string {
  repoCount += 1;
  return `m${repoCount}/app`;
}

function expectManifestHeaders(reply: Reply, pushed: PushedManifest): void {
  expectHeader(reply, 'docker-content-digest', pushed.digest);
  expectHeader(reply, 'content-type', pushed.mediaType);
  expectHeader(reply, 'content-length', String(pushed.bytes.length));
}

/** GET returns the pushed bytes; HEAD the same headers and no body. */
async function expectServed(url: string, repo: string, reference: string, pushed: PushedManifest): Promise<void> {
  const get = await send(url, `/v2/${repo}/manifests/${reference}`);
  expectStatus(get, 200);
  expectManifestHeaders(get, pushed);
  assert.ok(get.body.equals(pushed.bytes), `GET ${reference} returned other bytes than were pushed`);
  const head = await send(url, `/v2/${repo}/manifests/${reference}`, { method: 'HEAD' });
  expectStatus(head, 200);
  expectManifestHeaders(head, pushed);
  assert.equal(head.body.length, 0, 'HEAD sent a body');
}

async function tagsOf(url: string, repo: string): Promise<string[]> {
  const reply = await send(url, `/v2/${repo}/tags/list`);
  expectStatus(reply, 200);
  return readJson<{ tags: string[] }>(reply).tags;
}

/** One push per manifest kind Quayside stores; each returns what it pushed under tag `v1`. */
const KINDS: ReadonlyArray<{ kind: string; push: (url: string, repo: string) => Promise<PushedManifest> }> = [
  { kind: 'OCI image manifest', push: (url, repo) => pushImageManifest(url, repo, 'v1') },
  { kind: 'Docker schema2 manifest', push: (url, repo) => pushImageManifest(url, repo, 'v1', { mediaType: DOCKER_MANIFEST }) },
  {
    kind: 'OCI image index',
    push: async (url, repo) => {
      const a = await pushImageManifest(url, repo, 'amd64', { config: '{"architecture":"amd64"}' });
      const b = await pushImageManifest(url, repo, 'arm64', { config: '{"architecture":"arm64"}' });
      return pushIndex(url, repo, 'v1', [a.descriptor, b.descriptor]);
    },
  },
  {
    kind: 'Docker manifest list',
    push: async (url, repo) => {
      const child = await pushImageManifest(url, repo, 'amd64', { mediaType: DOCKER_MANIFEST });
      return pushIndex(url, repo, 'v1', [child.descriptor], { mediaType: DOCKER_MANIFEST_LIST });
    },
  },
];

for (const { kind, push } of KINDS) {
  test(`PUT end-7 + GET/HEAD end-3: ${kind} by tag and by digest returns the pushed bytes, digest, length and media type`, async (t) => {
    const app = freshRepo();
    const pushed = await push(url, app);
    await expectServed(url, app, 'v1', pushed);
    await expectServed(url, app, pushed.digest, pushed);
  });
}

test('PUT end-7: by tag → 201 with Location and Docker-Content-Digest of the body, no OCI-Subject', async () => {
  const app = freshRepo();
  const bytes = Buffer.from(JSON.stringify(await imageManifest(url, app)));
  const reply = await pushManifest(url, app, 'latest', bytes.toString(), OCI_MANIFEST);
  expectStatus(reply, 201);
  expectHeader(reply, 'docker-content-digest', sha256(bytes));
  expectHeader(reply, 'location', `/v2/${app}/manifests/${sha256(bytes)}`);
  assert.equal(reply.headers.get('oci-subject'), null);
  assert.equal(reply.body.length, 0);
});

test('PUT end-7: bytes are stored as pushed (whitespace and key order kept, digest of the exact body)', async () => {
  const app = freshRepo();
  const manifest = await imageManifest(url, app);
  const bytes = Buffer.from(`${JSON.stringify(manifest, null, 3)}\n\n`);
  const pushed = await putManifestBytes(url, app, 'pretty', bytes, OCI_MANIFEST);
  await expectServed(url, app, 'pretty', pushed);
});

test('PUT end-7: Content-Type with parameters and other case is the same media type', async () => {
  const app = freshRepo();
  const bytes = Buffer.from(JSON.stringify(await imageManifest(url, app)));
  const reply = await pushManifest(url, app, 'v1', bytes.toString(), 'Application/VND.OCI.image.manifest.v1+json; charset=utf-8');
  expectStatus(reply, 201);
  expectHeader(reply, 'docker-content-digest', sha256(bytes));
});

test('PUT end-7: by digest → 201, served by digest, and no tag is created', async () => {
  const app = freshRepo();
  const bytes = Buffer.from(JSON.stringify(await imageManifest(url, app)));
  const pushed = await putManifestBytes(url, app, sha256(bytes), bytes, OCI_MANIFEST);
  await expectServed(url, app, pushed.digest, pushed);
  assert.deepEqual(await tagsOf(url, app), []);
});

test('PUT end-7: by sha512 digest → 201 and the manifest is addressed by that digest', async () => {
  const app = freshRepo();
  const bytes = Buffer.from(JSON.stringify(await imageManifest(url, app)));
  const digest = `sha512:${createHash('sha512').update(bytes).digest('hex')}`;
  const reply = await pushManifest(url, app, digest, bytes.toString(), OCI_MANIFEST);
  expectStatus(reply, 201);
  expectHeader(reply, 'docker-content-digest', digest);
  expectHeader(reply, 'location', `/v2/${app}/manifests/${digest}`);
  await expectServed(url, app, digest, { digest, bytes, mediaType: OCI_MANIFEST, descriptor: { mediaType: OCI_MANIFEST, digest, size: bytes.length } });
});

test('PUT end-7: by digest with ?tag=a&tag=b tags the manifest twice', async () => {
  const app = freshRepo();
  const bytes = Buffer.from(JSON.stringify(await imageManifest(url, app)));
  const pushed = await putManifestBytes(url, app, `${sha256(bytes)}?tag=a&tag=b`, bytes, OCI_MANIFEST);
  assert.deepEqual(await tagsOf(url, app), ['a', 'b']);
  await expectServed(url, app, 'a', pushed);
  await expectServed(url, app, 'b', pushed);
});

test('PUT end-7: by tag with ?tag=extra sets both the path tag and the query tag', async () => {
  const app = freshRepo();
  const bytes = Buffer.from(JSON.stringify(await imageManifest(url, app)));
  const pushed = await putManifestBytes(url, app, 'v1?tag=extra', bytes, OCI_MANIFEST);
  assert.deepEqual(await tagsOf(url, app), ['extra', 'v1']);
  await expectServed(url, app, 'extra', pushed);
});

test('PUT end-7: pushing another manifest under an existing tag moves the tag', async () => {
  const app = freshRepo();
  const first = await pushImageManifest(url, app, 'v1', { layers: ['one'] });
  const second = await pushImageManifest(url, app, 'v1', { layers: ['two'] });
  assert.notEqual(first.digest, second.digest);
  await expectServed(url, app, 'v1', second);
  await expectServed(url, app, first.digest, first);
});

test('PUT end-7: subject that does not exist is allowed and answered with OCI-Subject', async () => {
  const app = freshRepo();
  const subject = { mediaType: OCI_MANIFEST, digest: unknownDigest('subject'), size: 123 };
  const bytes = Buffer.from(JSON.stringify(await imageManifest(url, app, { artifactType: 'application/vnd.example.sig', subject })));
  const reply = await pushManifest(url, app, sha256(bytes), bytes.toString(), OCI_MANIFEST);
  expectStatus(reply, 201);
  expectHeader(reply, 'oci-subject', subject.digest);
  expectHeader(reply, 'docker-content-digest', sha256(bytes));
});

/** Bodies that are not a manifest Quayside accepts: each → 400 MANIFEST_INVALID, nothing stored. */
const INVALID: ReadonlyArray<{ why: string; contentType: string; body: (valid: Record<string, unknown>) => string }> = [
  { why: 'not JSON', contentType: OCI_MANIFEST, body: () => '{"schemaVersion": 2, ' },
  { why: 'empty body', contentType: OCI_MANIFEST, body: () => '' },
  { why: 'a JSON array', contentType: OCI_MANIFEST, body: (m) => JSON.stringify([m]) },
  { why: 'a JSON string', contentType: OCI_MANIFEST, body: () => '"manifest"' },
  { why: 'schemaVersion 1', contentType: OCI_MANIFEST, body: (m) => JSON.stringify({ ...m, schemaVersion: 1 }) },
  { why: 'schemaVersion 3', contentType: OCI_MANIFEST, body: (m) => JSON.stringify({ ...m, schemaVersion: 3 }) },
  { why: 'schemaVersion "2" (a string)', contentType: OCI_MANIFEST, body: (m) => JSON.stringify({ ...m, schemaVersion: '2' }) },
  { why: 'no schemaVersion', contentType: OCI_MANIFEST, body: (m) => JSON.stringify({ ...m, schemaVersion: undefined }) },
  {
    why: 'Docker schema 1 media type',
    contentType: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
    body: (m) => JSON.stringify({ ...m, mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws' }),
  },
  { why: 'unknown media type (body and Content-Type agree)', contentType: 'application/vnd.example.thing+json', body: (m) => JSON.stringify({ ...m, mediaType: 'application/vnd.example.thing+json' }) },
  { why: 'body mediaType OCI, Content-Type Docker schema2', contentType: DOCKER_MANIFEST, body: (m) => JSON.stringify(m) },
  { why: 'body mediaType OCI manifest, Content-Type OCI index', contentType: OCI_INDEX, body: (m) => JSON.stringify(m) },
  { why: 'mediaType is not a string', contentType: OCI_MANIFEST, body: (m) => JSON.stringify({ ...m, mediaType: 7 }) },
  { why: 'no config', contentType: OCI_MANIFEST, body: (m) => JSON.stringify({ ...m, config: undefined }) },
  { why: 'layers is not an array', contentType: OCI_MANIFEST, body: (m) => JSON.stringify({ ...m, layers: {} }) },
  { why: 'config digest is not a digest', contentType: OCI_MANIFEST, body: (m) => JSON.stringify({ ...m, config: { ...descriptorAt(m, 'config'), digest: 'sha256:abc' } }) },
  { why: 'config digest upper-case hex', contentType: OCI_MANIFEST, body: (m) => JSON.stringify({ ...m, config: { ...descriptorAt(m, 'config'), digest: `sha256:${descriptorAt(m, 'config').digest.slice(7).toUpperCase()}` } }) },
  { why: 'layer digest with an unknown algorithm', contentType: OCI_MANIFEST, body: (m) => JSON.stringify({ ...m, layers: [{ mediaType: OCI_LAYER, digest: `md5:${'a'.repeat(32)}`, size: 1 }] }) },
  { why: 'layer digest missing', contentType: OCI_MANIFEST, body: (m) => JSON.stringify({ ...m, layers: [{ mediaType: OCI_LAYER, size: 1 }] }) },
  { why: 'layer size negative', contentType: OCI_MANIFEST, body: (m) => JSON.stringify({ ...m, layers: [{ ...descriptorAt(m, 'config'), mediaType: OCI_LAYER, size: -1 }] }) },
  { why: 'layer size not an integer', contentType: OCI_MANIFEST, body: (m) => JSON.stringify({ ...m, layers: [{ ...descriptorAt(m, 'config'), mediaType: OCI_LAYER, size: 1.5 }] }) },
  { why: 'layer size a string', contentType: OCI_MANIFEST, body: (m) => JSON.stringify({ ...m, layers: [{ ...descriptorAt(m, 'config'), mediaType: OCI_LAYER, size: '3' }] }) },
  { why: 'layer without mediaType', contentType: OCI_MANIFEST, body: (m) => JSON.stringify({ ...m, layers: [{ digest: descriptorAt(m, 'config').digest, size: 1 }] }) },
  { why: 'subject digest invalid', contentType: OCI_MANIFEST, body: (m) => JSON.stringify({ ...m, subject: { mediaType: OCI_MANIFEST, digest: 'sha256:zz', size: 1 } }) },
  { why: 'annotations with a non-string value', contentType: OCI_MANIFEST, body: (m) => JSON.stringify({ ...m, annotations: { a: 1 } }) },
  { why: 'index manifests is not an array', contentType: OCI_INDEX, body: () => JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: 'none' }) },
  { why: 'index child digest invalid', contentType: OCI_INDEX, body: () => JSON.stringify(indexManifest([{ mediaType: OCI_MANIFEST, digest: 'sha256:', size: 10 }])) },
];

function descriptorAt(manifest: Record<string, unknown>, key: string): { mediaType: string; digest: string; size: number } {
  return manifest[key] as { mediaType: string; digest: string; size: number };
}

test('PUT end-7: invalid manifests → 400 MANIFEST_INVALID and nothing is stored', async (t) => {
  const app = freshRepo();
  const valid = await imageManifest(url, app);
  for (const { why, contentType, body } of INVALID) {
    await t.test(why, async () => {
      const bytes = body(valid);
      expectError(await pushManifest(url, app, 'bad', bytes, contentType), 400, 'MANIFEST_INVALID');
      expectError(await send(url, `/v2/${app}/manifests/${sha256(bytes)}`), 404, 'MANIFEST_UNKNOWN');
    });
  }
  expectError(await send(url, `/v2/${app}/manifests/bad`), 404, 'MANIFEST_UNKNOWN');
  assert.deepEqual(await tagsOf(url, app), []);
});

test('PUT end-7: manifest referencing a missing layer → 400 MANIFEST_BLOB_UNKNOWN', async () => {
  const app = freshRepo();
  const manifest = await imageManifest(url, app);
  const missing = { mediaType: OCI_LAYER, digest: unknownDigest('layer'), size: 5 };
  const reply = await pushManifest(url, app, 'v1', { ...manifest, layers: [...(manifest['layers'] as unknown[]), missing] });
  expectError(reply, 400, 'MANIFEST_BLOB_UNKNOWN');
  expectError(await send(url, `/v2/${app}/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
});

test('PUT end-7: manifest referencing a missing config → 400 MANIFEST_BLOB_UNKNOWN', async () => {
  const app = freshRepo();
  const manifest = await imageManifest(url, app);
  const reply = await pushManifest(url, app, 'v1', { ...manifest, config: { mediaType: OCI_CONFIG, digest: unknownDigest('config'), size: 2 } });
  expectError(reply, 400, 'MANIFEST_BLOB_UNKNOWN');
});

test('PUT end-7: a layer pushed only to another repository → 400 MANIFEST_BLOB_UNKNOWN', async () => {
  const app = freshRepo();
  const manifest = await imageManifest(url, `${app}-other`);
  const config = await pushBlob(url, app, '{"os":"linux"}');
  const reply = await pushManifest(url, app, 'v1', { ...manifest, config: { mediaType: OCI_CONFIG, digest: config, size: 14 } });
  expectError(reply, 400, 'MANIFEST_BLOB_UNKNOWN');
});

test('PUT end-7: index whose child manifest is missing → 400 MANIFEST_BLOB_UNKNOWN', async () => {
  const app = freshRepo();
  const present = await pushImageManifest(url, app, 'amd64');
  const missing = { mediaType: OCI_MANIFEST, digest: unknownDigest('child'), size: 300 };
  expectError(await pushManifest(url, app, 'v1', indexManifest([present.descriptor, missing])), 400, 'MANIFEST_BLOB_UNKNOWN');
  // A child that exists only in another repository is just as missing here.
  const elsewhere = await pushImageManifest(url, `${app}-other`, 'v1', { layers: ['elsewhere'] });
  expectError(await pushManifest(url, app, 'v1', indexManifest([elsewhere.descriptor])), 400, 'MANIFEST_BLOB_UNKNOWN');
  expectError(await send(url, `/v2/${app}/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
});

test('PUT end-7: digest reference that does not match the body → 400 DIGEST_INVALID, nothing stored', async () => {
  const app = freshRepo();
  const bytes = Buffer.from(JSON.stringify(await imageManifest(url, app)));
  const wrong = sha256('some other body');
  expectError(await pushManifest(url, app, wrong, bytes.toString(), OCI_MANIFEST), 400, 'DIGEST_INVALID');
  const wrong512 = `sha512:${createHash('sha512').update(`${app}-other`).digest('hex')}`;
  expectError(await pushManifest(url, app, wrong512, bytes.toString(), OCI_MANIFEST), 400, 'DIGEST_INVALID');
  expectError(await send(url, `/v2/${app}/manifests/${wrong}`), 404, 'MANIFEST_UNKNOWN');
  expectError(await send(url, `/v2/${app}/manifests/${sha256(bytes)}`), 404, 'MANIFEST_UNKNOWN');
});

test('PUT end-7: body over 4 MiB → 413 MANIFEST_INVALID; exactly 4 MiB is accepted', async () => {
  const app = freshRepo();
  const manifest = await imageManifest(url, app);
  const padded = (total: number): Buffer => {
    const shell = Buffer.from(JSON.stringify({ ...manifest, annotations: { pad: '' } })).length;
    return Buffer.from(JSON.stringify({ ...manifest, annotations: { pad: 'x'.repeat(total - shell) } }));
  };
  const over = padded(4 * MIB + 1);
  assert.equal(over.length, 4 * MIB + 1);
  expectError(await pushManifest(url, app, 'big', over.toString(), OCI_MANIFEST), 413, 'MANIFEST_INVALID');
  expectError(await send(url, `/v2/${app}/manifests/big`), 404, 'MANIFEST_UNKNOWN');

  const limit = padded(4 * MIB);
  assert.equal(limit.length, 4 * MIB);
  const pushed = await putManifestBytes(url, app, 'big', limit, OCI_MANIFEST);
  await expectServed(url, app, 'big', pushed);
});

test('GET/HEAD end-3: unknown tag or digest → 404 MANIFEST_UNKNOWN (HEAD without a body)', async () => {
  const app = freshRepo();
  await pushImageManifest(url, app, 'v1');
  for (const reference of ['v2', unknownDigest('manifest'), `sha512:${'0'.repeat(128)}`]) {
    expectError(await send(url, `/v2/${app}/manifests/${reference}`), 404, 'MANIFEST_UNKNOWN');
    const head = await send(url, `/v2/${app}/manifests/${reference}`, { method: 'HEAD' });
    expectStatus(head, 404);
    assert.equal(head.body.length, 0, 'HEAD sent a body');
  }
  expectError(await send(url, '/v2/never/pushed/manifests/v1'), 404, 'MANIFEST_UNKNOWN');
});

test('GET end-3: a blob digest is not a manifest in the repository → 404 MANIFEST_UNKNOWN', async () => {
  const app = freshRepo();
  const layer = await pushBlob(url, app, '{"looks":"like json"}');
  expectError(await send(url, `/v2/${app}/manifests/${layer}`), 404, 'MANIFEST_UNKNOWN');
});

test('PUT end-7: a tag outside the spec grammar in the path → 400 TAG_INVALID, nothing stored', async () => {
  const app = freshRepo();
  const bytes = JSON.stringify(await imageManifest(url, app));
  for (const tag of ['-leading-dash', '.leading-dot', '.INVALID_MANIFEST_NAME', 'x'.repeat(129), 'a+b', 'a%20b']) {
    expectError(await pushManifest(url, app, tag, bytes, OCI_MANIFEST), 400, 'TAG_INVALID');
  }
  assert.deepEqual(await tagsOf(url, app), []);
});

test('GET/HEAD end-3: a reference that is neither a tag nor a digest → 404 MANIFEST_UNKNOWN (OCI conformance ".INVALID_MANIFEST_NAME")', async () => {
  const app = freshRepo();
  await pushImageManifest(url, app, 'v1');
  for (const reference of ['.INVALID_MANIFEST_NAME', '-leading-dash', 'x'.repeat(129), 'a+b', 'a%20b']) {
    for (const method of ['GET', 'HEAD']) expectError(await send(url, `/v2/${app}/manifests/${reference}`, { method }), 404, 'MANIFEST_UNKNOWN');
  }
  // Also in a repository that does not exist: the same 404, never NAME_UNKNOWN or a 400.
  expectError(await send(url, `/v2/${app}-none/manifests/.INVALID_MANIFEST_NAME`), 404, 'MANIFEST_UNKNOWN');
});

test('GET/HEAD/PUT end-3/end-7 (code-4): a reference that looks like a digest but is malformed → 400 DIGEST_INVALID', async () => {
  const app = freshRepo();
  const bytes = JSON.stringify(await imageManifest(url, app));
  for (const reference of ['sha256:totallywrong', 'sha256:', 'md5:0123456789abcdef0123456789abcdef']) {
    expectError(await send(url, `/v2/${app}/manifests/${reference}`), 400, 'DIGEST_INVALID');
    expectError(await send(url, `/v2/${app}/manifests/${reference}`, { method: 'HEAD' }), 400, 'DIGEST_INVALID');
    expectError(await pushManifest(url, app, reference, bytes, OCI_MANIFEST), 400, 'DIGEST_INVALID');
  }
});

test('PUT end-7: invalid ?tag= → 400 TAG_INVALID and the manifest is not stored', async () => {
  const app = freshRepo();
  const bytes = Buffer.from(JSON.stringify(await imageManifest(url, app)));
  for (const query of ['tag=ok&tag=-bad', 'tag=', `tag=${'y'.repeat(129)}`, 'tag=a/b']) {
    expectError(await pushManifest(url, app, `${sha256(bytes)}?${query}`, bytes.toString(), OCI_MANIFEST), 400, 'TAG_INVALID');
  }
  expectError(await send(url, `/v2/${app}/manifests/${sha256(bytes)}`), 404, 'MANIFEST_UNKNOWN');
  expectError(await send(url, `/v2/${app}/manifests/ok`), 404, 'MANIFEST_UNKNOWN');
});

test('DELETE end-9: by digest → 202; the manifest and every tag on it are gone, other tags stay', async () => {
  const app = freshRepo();
  const doomed = await pushImageManifest(url, app, 'v1', { layers: ['doomed'] });
  await putManifestBytes(url, app, 'also-v1', doomed.bytes, OCI_MANIFEST);
  const kept = await pushImageManifest(url, app, 'v2', { layers: ['kept'] });

  const reply = await send(url, `/v2/${app}/manifests/${doomed.digest}`, { method: 'DELETE' });
  expectStatus(reply, 202);
  assert.equal(reply.body.length, 0);
  expectError(await send(url, `/v2/${app}/manifests/${doomed.digest}`), 404, 'MANIFEST_UNKNOWN');
  expectError(await send(url, `/v2/${app}/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
  expectError(await send(url, `/v2/${app}/manifests/also-v1`), 404, 'MANIFEST_UNKNOWN');
  assert.deepEqual(await tagsOf(url, app), ['v2']);
  await expectServed(url, app, 'v2', kept);
  expectError(await send(url, `/v2/${app}/manifests/${doomed.digest}`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
});

test('DELETE end-9: by tag → 202; the tag is gone, the manifest stays by digest and under its other tags', async () => {
  const app = freshRepo();
  const pushed = await pushImageManifest(url, app, 'v1');
  await putManifestBytes(url, app, 'stable', pushed.bytes, OCI_MANIFEST);

  expectStatus(await send(url, `/v2/${app}/manifests/v1`, { method: 'DELETE' }), 202);
  expectError(await send(url, `/v2/${app}/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
  assert.deepEqual(await tagsOf(url, app), ['stable']);
  await expectServed(url, app, pushed.digest, pushed);
  await expectServed(url, app, 'stable', pushed);
  expectError(await send(url, `/v2/${app}/manifests/v1`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
});

test('DELETE end-9: by digest in one repository leaves the same manifest in another; it can be pushed again', async () => {
  const app = freshRepo();
  const first = await pushImageManifest(url, app, 'v1');
  const copy = await pushImageManifest(url, `${app}-copy`, 'v1');
  assert.equal(first.digest, copy.digest);
  expectStatus(await send(url, `/v2/${app}/manifests/${first.digest}`, { method: 'DELETE' }), 202);
  expectError(await send(url, `/v2/${app}/manifests/${first.digest}`), 404, 'MANIFEST_UNKNOWN');
  await expectServed(url, `${app}-copy`, 'v1', copy);
  await putManifestBytes(url, app, 'again', first.bytes, OCI_MANIFEST);
  await expectServed(url, app, 'again', first);
  await expectServed(url, app, first.digest, first);
  expectError(await send(url, `/v2/${app}/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
});

test('DELETE end-9: unknown tag or digest, or a reference outside the tag grammar → 404 MANIFEST_UNKNOWN; a malformed digest → 400 DIGEST_INVALID', async () => {
  const app = freshRepo();
  await pushImageManifest(url, app, 'v1');
  expectError(await send(url, `/v2/${app}/manifests/nope`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
  expectError(await send(url, `/v2/${app}/manifests/${unknownDigest('delete')}`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
  // As distribution (its route does not match: 404): nothing can be stored under such a name.
  expectError(await send(url, `/v2/${app}/manifests/-bad`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
  expectError(await send(url, `/v2/${app}/manifests/.INVALID_MANIFEST_NAME`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
  expectError(await send(url, `/v2/${app}/manifests/sha256:123`, { method: 'DELETE' }), 400, 'DIGEST_INVALID');
  expectError(await send(url, `/v2/${app}/manifests/sha256:totallywrong`, { method: 'DELETE' }), 400, 'DIGEST_INVALID');
});

test('DELETE end-9: deletes disabled → 405 UNSUPPORTED and the manifest is untouched', async (t) => {
  // Its own registry: the switch is per registry.
  const { url } = await startRegistry(t, { deleteEnabled: false });
  const app = 'app';
  const pushed = await pushImageManifest(url, app, 'v1');
  expectError(await send(url, `/v2/${app}/manifests/${pushed.digest}`, { method: 'DELETE' }), 405, 'UNSUPPORTED');
  expectError(await send(url, `/v2/${app}/manifests/v1`, { method: 'DELETE' }), 405, 'UNSUPPORTED');
  await expectServed(url, app, 'v1', pushed);
  await expectServed(url, app, pushed.digest, pushed);
});

test('PUT end-7: a Docker schema 2 manifest or list without mediaType → 400 MANIFEST_INVALID (it could not be served back as pushed)', async () => {
  const repo = 'no-media-type';
  const manifest = await imageManifest(url, repo);
  delete manifest['mediaType'];
  const body = JSON.stringify(manifest);
  expectError(await pushManifest(url, repo, 'docker', body, 'application/vnd.docker.distribution.manifest.v2+json'), 400, 'MANIFEST_INVALID');
  expectError(await pushManifest(url, repo, 'list', JSON.stringify({ schemaVersion: 2, manifests: [] }), 'application/vnd.docker.distribution.manifest.list.v2+json'), 400, 'MANIFEST_INVALID');
  // OCI makes the field a SHOULD: the same body as an OCI manifest is fine and served as one.
  expectStatus(await pushManifest(url, repo, 'oci', body, OCI_MANIFEST), 201);
  expectHeader(await send(url, `/v2/${repo}/manifests/oci`), 'content-type', OCI_MANIFEST);
});

/** When a link was last written or touched (gc/garbage-collect.ts reads the same), after setting it an hour back. */
async function agedLink(repo: string, digest: string): Promise<() => Promise<number>> {
  const link = join(root, paths.layerLink(repo, parseDigest(digest)));
  const anHourAgo = new Date(Date.now() - 3_600_000);
  await utimes(link, anHourAgo, anHourAgo);
  return async () => (await stat(link)).mtimeMs;
}

test('PUT end-7 (code-6): more than 10 000 descriptors (manifests.maxReferences) → 400 MANIFEST_INVALID with the count, before any storage work', async () => {
  const app = freshRepo();
  const manifest = await imageManifest(url, app, { layers: ['shared layer'] });
  const layer = (manifest['layers'] as Descriptor[])[0] as Descriptor;
  const mtime = await agedLink(app, layer.digest);
  const untouched = await mtime();
  // config + 10 000 layers, the last of them never pushed: the count is refused, not the blob.
  const layers = [...Array.from({ length: 9_999 }, () => layer), { mediaType: OCI_LAYER, digest: unknownDigest('over the limit'), size: 1 }];
  const reply = await pushManifest(url, app, 'over', JSON.stringify({ ...manifest, layers }), OCI_MANIFEST);
  expectError(reply, 400, 'MANIFEST_INVALID');
  const detail = readJson<{ errors: [{ detail: { references: number; limit: number; reason: string } }] }>(reply).errors[0].detail;
  assert.deepEqual([detail.references, detail.limit], [10_001, 10_000]);
  assert.match(detail.reason, /10001 descriptors.*at most 10000/);
  assert.equal(await mtime(), untouched, 'a refused manifest touched the links of what it references');
  expectError(await send(url, `/v2/${app}/manifests/over`), 404, 'MANIFEST_UNKNOWN');

  // An index counts its manifests the same way.
  const child = await pushImageManifest(url, app, 'child');
  const index = indexManifest(Array.from({ length: 10_001 }, () => child.descriptor));
  expectError(await pushManifest(url, app, 'over-index', JSON.stringify(index), OCI_INDEX), 400, 'MANIFEST_INVALID');
});

test('PUT end-7: 10 000 descriptors, at the limit, naming one blob thousands of times → 201; the link is touched (GC keeps it) and the manifest served', async () => {
  const app = freshRepo();
  const manifest = await imageManifest(url, app, { layers: ['repeated layer'] });
  const layer = (manifest['layers'] as Descriptor[])[0] as Descriptor;
  const mtime = await agedLink(app, layer.digest);
  const aged = await mtime();
  const bytes = Buffer.from(JSON.stringify({ ...manifest, layers: Array.from({ length: 9_999 }, () => layer) }));
  const pushed = await putManifestBytes(url, app, 'at-limit', bytes, OCI_MANIFEST);
  assert.ok((await mtime()) > aged, 'the PUT did not touch the link of the layer it references');
  await expectServed(url, app, 'at-limit', pushed);
});

test('PUT end-7 (code-5): many distinct references, one missing in the middle → 400 MANIFEST_BLOB_UNKNOWN naming it; nothing stored', async () => {
  const app = freshRepo();
  const manifest = await imageManifest(url, app, { layers: Array.from({ length: 40 }, (_, i) => `distinct layer ${i}`) });
  const layers = [...(manifest['layers'] as Descriptor[])];
  const missing = unknownDigest(`missing among many ${app}`);
  layers.splice(17, 0, { mediaType: OCI_LAYER, digest: missing, size: 3 }, { mediaType: OCI_LAYER, digest: unknownDigest(`second missing ${app}`), size: 3 });
  const reply = await pushManifest(url, app, 'gap', JSON.stringify({ ...manifest, layers }), OCI_MANIFEST);
  expectError(reply, 400, 'MANIFEST_BLOB_UNKNOWN');
  // The first missing in document order is named, however the checks ran.
  assert.equal(readJson<{ errors: [{ detail: { digest: string } }] }>(reply).errors[0].detail.digest, missing);
  expectError(await send(url, `/v2/${app}/manifests/gap`), 404, 'MANIFEST_UNKNOWN');
});

test('PUT end-7 (code-5): a layer whose data vanished from storage (another process, GC) → 400 MANIFEST_BLOB_UNKNOWN, even right after a read cached it', async () => {
  const app = freshRepo();
  const manifest = await imageManifest(url, app, { layers: ['about to vanish'] });
  const layer = (manifest['layers'] as Descriptor[])[0] as Descriptor;
  expectStatus(await send(url, `/v2/${app}/blobs/${layer.digest}`, { method: 'HEAD' }), 200); // fills the link cache
  await rm(join(root, paths.blobData(parseDigest(layer.digest))));
  const reply = await pushManifest(url, app, 'vanished', JSON.stringify(manifest), OCI_MANIFEST);
  expectError(reply, 400, 'MANIFEST_BLOB_UNKNOWN');
  assert.equal(readJson<{ errors: [{ detail: { digest: string } }] }>(reply).errors[0].detail.digest, layer.digest);
});

test('PUT end-7 (code-6): quayside.limits.manifestreferences from the config sets the limit (3 here: config + 3 layers → 400, config + 2 → 201)', async (t) => {
  const small = await startRegistry(t, { config: { limits: { manifestreferences: 3 } } });
  const manifest = await imageManifest(small.url, 'limited/app', { layers: ['one', 'two', 'three'] });
  const refused = await pushManifest(small.url, 'limited/app', 'v3', JSON.stringify(manifest), OCI_MANIFEST);
  expectError(refused, 400, 'MANIFEST_INVALID');
  assert.equal(readJson<{ errors: [{ detail: { limit: number } }] }>(refused).errors[0].detail.limit, 3);
  const fewer = { ...manifest, layers: (manifest['layers'] as Descriptor[]).slice(0, 2) };
  expectStatus(await pushManifest(small.url, 'limited/app', 'v2', JSON.stringify(fewer), OCI_MANIFEST), 201);
});
