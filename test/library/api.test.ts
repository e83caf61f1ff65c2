import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { bcrypt } from 'hash-wasm';
import { ConfigError, createRegistry, type BlobEvent, type ManifestEvent, type Registry, type RegistryOptions, type RequestEvent } from '../../src/index.ts';
import { expectError, expectStatus } from '../helpers/assertions.ts';
import { pushImageManifest, readJson } from '../helpers/manifest-fixtures.ts';
import { patchChunk, pushBlob, pushImage, putUpload, send, sha256, startUpload } from '../helpers/oci-client.ts';

/*
 * The library API (src/index.ts) over real HTTP: every upload form on the inmemory driver, the
 * reads after them, GC, events, and the options. test/library/example.test.ts is the short version.
 */
const MiB = 1024 * 1024;

async function start(t: Pick<TestContext, 'after'>, options: RegistryOptions = {}): Promise<Registry> {
  const registry = await createRegistry(options);
  t.after(() => registry.close());
  return registry;
}

/** Polls until `check` holds (request events follow the answer), failing after 30 s. */
async function eventually(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`never: ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

test('library inmemory: chunked upload across batches with an out-of-order chunk (416), resumed from GET, then pulled with Range', async (t) => {
  const registry = await start(t);
  assert.equal(registry.storage, 'inmemory');
  assert.equal(registry.rootdirectory, undefined);
  // More than one 4 MiB batch per PATCH, and cuts that fall inside batches.
  const bytes = randomBytes(9 * MiB + 123);
  const location = await startUpload(registry.url, 'mem/chunked');
  expectStatus(await patchChunk(registry.url, location, bytes.subarray(0, 5 * MiB + 1), 0), 202);
  expectError(await patchChunk(registry.url, location, bytes.subarray(6 * MiB, 7 * MiB), 6 * MiB), 416, 'BLOB_UPLOAD_INVALID');
  const status = await send(registry.url, location);
  expectStatus(status, 204);
  assert.equal(status.headers.get('range'), `0-${5 * MiB}`);
  expectStatus(await patchChunk(registry.url, location, bytes.subarray(5 * MiB + 1), 5 * MiB + 1), 202);
  const digest = sha256(bytes);
  expectError(await putUpload(registry.url, location, sha256('something else')), 400, 'DIGEST_INVALID');
  expectStatus(await putUpload(registry.url, location, digest), 201);
  const pulled = await send(registry.url, `/v2/mem/chunked/blobs/${digest}`);
  expectStatus(pulled, 200);
  assert.equal(sha256(pulled.body), digest);
  const range = await send(registry.url, `/v2/mem/chunked/blobs/${digest}`, { headers: { range: 'bytes=4194300-4194309' } });
  expectStatus(range, 206);
  assert.deepEqual(range.body, bytes.subarray(4194300, 4194310));
  expectError(await send(registry.url, location), 404, 'BLOB_UPLOAD_UNKNOWN');
});

test('library inmemory: streamed PATCH, monolithic POST ?digest=, last chunk in the PUT, sha512, cross-repository mount, DELETE of an upload', async (t) => {
  const registry = await start(t);
  const { url } = registry;
  const streamed = randomBytes(5 * MiB + 7);
  const location = await startUpload(url, 'mem/streamed');
  const pieces = Array.from({ length: 6 }, (_, i) => streamed.subarray(i * MiB, (i + 1) * MiB));
  expectStatus(await send(url, location, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream' }, body: Readable.from(pieces) }), 202);
  expectStatus(await putUpload(url, location, sha256(streamed)), 201);

  const small = Buffer.from('monolithic in memory');
  const mono = await send(url, `/v2/mem/mono/blobs/uploads/?digest=${sha256(small)}`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'content-length': small.length }, body: small });
  expectStatus(mono, 201);

  const tail = Buffer.from('the last chunk rides in the PUT');
  const inPut = await startUpload(url, 'mem/input');
  expectStatus(await putUpload(url, inPut, sha256(tail), tail), 201);

  const long = Buffer.from('sha512 is hashed over the stored chunks');
  const sha512 = `sha512:${createHash('sha512').update(long).digest('hex')}`;
  const upload512 = await startUpload(url, 'mem/sha512');
  expectStatus(await patchChunk(url, upload512, long, 0), 202);
  expectStatus(await putUpload(url, upload512, sha512), 201);
  assert.deepEqual((await send(url, `/v2/mem/sha512/blobs/${sha512}`)).body, long);

  const mounted = await send(url, `/v2/mem/other/blobs/uploads/?mount=${sha256(small)}&from=mem/mono`, { method: 'POST' });
  expectStatus(mounted, 201);
  assert.deepEqual((await send(url, `/v2/mem/other/blobs/${sha256(small)}`)).body, small);

  const cancelled = await startUpload(url, 'mem/cancel');
  expectStatus(await patchChunk(url, cancelled, Buffer.from('abc'), 0), 202);
  expectStatus(await send(url, cancelled, { method: 'DELETE' }), 204);
  expectError(await send(url, cancelled), 404, 'BLOB_UPLOAD_UNKNOWN');
  expectError(await send(url, '/v2/mem/cancel/blobs/uploads/not-an-upload-id!'), 404, 'BLOB_UPLOAD_UNKNOWN');
});

test('library inmemory: catalog, tags, referrers, manifest DELETE, and garbageCollect() removing what nothing references', async (t) => {
  const registry = await start(t, { delete: true });
  const { url } = registry;
  const image = await pushImage(url, 'mem/app', 'v1', ['layer one']);
  await pushImage(url, 'mem/app', 'v2', ['layer two']);
  const subject = await pushImageManifest(url, 'mem/app', 'base');
  const signature = await pushImageManifest(url, 'mem/app', 'sig', { artifactType: 'application/vnd.example.signature.v1', layers: ['signature'], subject: subject.descriptor });
  const orphan = await pushBlob(url, 'mem/app', randomBytes(1000));

  assert.deepEqual(readJson((await send(url, '/v2/_catalog'))), { repositories: ['mem/app'] });
  assert.deepEqual(readJson((await send(url, '/v2/mem/app/tags/list'))), { name: 'mem/app', tags: ['base', 'sig', 'v1', 'v2'] });
  const referrers = readJson<{ manifests: { digest: string }[] }>(await send(url, `/v2/mem/app/referrers/${subject.descriptor.digest}`));
  assert.deepEqual(referrers.manifests.map((m) => m.digest), [signature.descriptor.digest]);

  expectStatus(await send(url, '/v2/mem/app/manifests/v2', { method: 'DELETE' }), 202);
  const report = await registry.garbageCollect({ graceMs: 0, deleteUntagged: true });
  assert.ok(report.blobsDeleted.includes(orphan), `the orphan is collected: ${JSON.stringify(report)}`);
  expectError(await send(url, `/v2/mem/app/blobs/${orphan}`), 404, 'BLOB_UNKNOWN');
  expectStatus(await send(url, '/v2/mem/app/manifests/v1'), 200);
  for (const layer of image.manifest['layers'] as { digest: string }[]) expectStatus(await send(url, `/v2/mem/app/blobs/${layer.digest}`, { method: 'HEAD' }), 200);
});

test('library events: request (method, route, status, duration), blob (push, mount), manifest (with its tags); nothing after the listener goes', async (t) => {
  const registry = await start(t);
  const requests: RequestEvent[] = [];
  const blobs: BlobEvent[] = [];
  const manifests: ManifestEvent[] = [];
  const onRequest = (event: RequestEvent): void => void requests.push(event);
  registry.on('request', onRequest);
  registry.on('blob', (event) => blobs.push(event));
  registry.on('manifest', (event) => manifests.push(event));

  const pushed = await pushImage(registry.url, 'ev/app', 'v1', ['layer']);
  const layer = (pushed.manifest['layers'] as { digest: string; size: number }[])[0];
  assert.ok(layer);
  expectStatus(await send(registry.url, `/v2/ev/copy/blobs/uploads/?mount=${layer.digest}&from=ev/app`, { method: 'POST' }), 201);
  expectError(await send(registry.url, '/v2/ev/app/manifests/missing'), 404, 'MANIFEST_UNKNOWN');

  assert.deepEqual(blobs.at(-1), { action: 'mount', repository: 'ev/copy', digest: layer.digest, size: layer.size, mediaType: 'application/octet-stream', fromRepository: 'ev/app' });
  assert.deepEqual(blobs.filter((b) => b.action === 'push').map((b) => b.repository), ['ev/app', 'ev/app']);
  assert.deepEqual(manifests, [{ action: 'push', repository: 'ev/app', digest: pushed.digest, size: pushed.bytes.length, mediaType: 'application/vnd.oci.image.manifest.v1+json', tags: ['v1'] }]);

  await eventually('the 404 is heard', () => requests.some((r) => r.status === 404));
  const missing = requests.find((r) => r.status === 404);
  assert.equal(missing?.method, 'GET');
  assert.equal(missing?.path, '/v2/ev/app/manifests/missing');
  assert.equal(typeof missing?.route, 'string');
  assert.ok((missing?.durationMs ?? -1) >= 0);
  assert.ok(requests.some((r) => r.method === 'PUT' && r.status === 201 && r.path === '/v2/ev/app/manifests/v1'));

  registry.off('request', onRequest);
  const heard = requests.length;
  expectStatus(await send(registry.url, '/v2/'), 200);
  assert.equal(requests.length, heard);
});

test('library options: tempdir storage is a fresh filesystem root removed on close(); close() is idempotent', async () => {
  const registry = await createRegistry({ storage: 'tempdir' });
  const root = registry.rootdirectory;
  assert.ok(root !== undefined && existsSync(root), `root ${root}`);
  assert.equal(registry.storage, `filesystem ${root}`);
  const digest = await pushBlob(registry.url, 'tmp/app', 'on disk');
  assert.ok(existsSync(join(root, 'docker/registry/v2/blobs/sha256', digest.slice(7, 9), digest.slice(7), 'data')));
  const first = registry.close();
  assert.equal(registry.close(), first);
  await first;
  assert.equal(existsSync(root), false);
  await assert.rejects(registry.garbageCollect(), /closed/);
  await assert.rejects(fetch(`${registry.url}/v2/`));
});

test('library options: a config tree (or file) underneath, the options over it; REGISTRY_* only through `env`', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'quayside-lib-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.yml');
  await writeFile(file, `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true\n`);

  // The file's filesystem and delete.enabled; host and port the library's defaults.
  const fromFile = await start(t, { config: file });
  assert.equal(fromFile.rootdirectory, join(dir, 'data'));
  assert.match(fromFile.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const digest = await pushBlob(fromFile.url, 'cfg/app', 'x');
  expectStatus(await send(fromFile.url, `/v2/cfg/app/blobs/${digest}`, { method: 'DELETE' }), 202);

  // The storage option replaces the file's driver and keeps its settings beside it.
  const over = await start(t, { config: file, storage: 'inmemory' });
  assert.equal(over.storage, 'inmemory');
  const again = await pushBlob(over.url, 'cfg/app', 'y');
  expectStatus(await send(over.url, `/v2/cfg/app/blobs/${again}`, { method: 'DELETE' }), 202);

  // The host's environment is not read; `env` is.
  process.env['REGISTRY_STORAGE_DELETE_ENABLED'] = 'true';
  t.after(() => delete process.env['REGISTRY_STORAGE_DELETE_ENABLED']);
  const plain = await start(t);
  const blob = await pushBlob(plain.url, 'env/app', 'z');
  expectError(await send(plain.url, `/v2/env/app/blobs/${blob}`, { method: 'DELETE' }), 405, 'UNSUPPORTED');
  const withEnv = await start(t, { env: { REGISTRY_STORAGE_DELETE_ENABLED: 'true' } });
  const other = await pushBlob(withEnv.url, 'env/app', 'z');
  expectStatus(await send(withEnv.url, `/v2/env/app/blobs/${other}`, { method: 'DELETE' }), 202);
});

test('library options: auth.htpasswd, a port of the caller\'s, and bad options refused with a ConfigError before anything starts', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'quayside-lib-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const htpasswd = join(dir, 'htpasswd');
  const hash = await bcrypt({ password: 's3cret', salt: randomBytes(16), costFactor: 5 });
  await writeFile(htpasswd, `alice:${hash.replace(/^\$2[ab]\$/, '$2y$')}\n`);
  const guarded = await start(t, { auth: { htpasswd: { path: htpasswd } } });
  expectError(await send(guarded.url, '/v2/'), 401, 'UNAUTHORIZED');
  expectStatus(await send(guarded.url, '/v2/', { headers: { authorization: `Basic ${Buffer.from('alice:s3cret').toString('base64')}` } }), 200);

  // A port taken from one registry, given to the next once it is free.
  const first = await createRegistry();
  const port = first.port;
  await first.close();
  const fixed = await start(t, { port });
  assert.equal(fixed.port, port);
  assert.equal(fixed.host, `127.0.0.1:${port}`);

  await assert.rejects(createRegistry({ config: { storage: { filesytem: {} } } }), (err: unknown) => err instanceof ConfigError && /storage\.filesytem/.test(err.message));
  await assert.rejects(createRegistry({ config: join(dir, 'absent.yml') }), ConfigError);
  await assert.rejects(createRegistry({ logLevel: 'loud' as 'error' }), ConfigError);
});
