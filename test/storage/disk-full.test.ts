import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { mkdir, mkdtemp, readdir, rm, rmdir, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { describe, expectError, expectHeader, expectStatus, type Reply } from '../helpers/assertions.ts';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, send, sha256, type SendOptions } from '../helpers/oci-client.ts';
import { startRegistry } from '../helpers/registry.ts';

/*
 * Disk full, for real: the registry's root is a size-limited tmpfs this test mounts (root only),
 * and a filler file written straight into the tmpfs (outside the registry's layout) takes the
 * space away and gives it back. The tmpfs is never remounted under a running registry.
 *
 * What a full disk must not do: hang a request, answer 500 or answer without a body, damage
 * anything already stored, or leave the registry unable to work once space returns.
 * ENOSPC is STORAGE_FULL: 507 with wire code UNKNOWN, "storage is full" (src/errors/codes.ts).
 *
 * The last two tests guard a fix in src/http/server.ts. When an upload fails mid-body,
 * uploads/pipeline.ts leaves its `for await` over the request, and node's stream destroyer detaches
 * the request from its socket (req.socket = null): the error must then be answered with
 * `Connection: close` (nothing will read the rest of the body), and an error that is not a
 * RegistryError (EIO, EROFS, EFBIG...) must not crash the process on the missing socket.
 */

const run = promisify(execFile);
const KiB = 1024;
const MiB = 1024 * KiB;
/** Every request is cut off after this long: a hang fails the test instead of stalling the suite. */
const REQUEST_MS = 5000;
const BIG = 8 * MiB;
/** Free space left before each push that cannot fit: enough that part of it is written. */
const SLACK = 2 * MiB;

/** `send` with a deadline; a request still running then rejects with the request named. */
async function call(url: string, path: string, options: SendOptions = {}): Promise<Reply> {
  const method = options.method ?? 'GET';
  try {
    return await send(url, path, { ...options, signal: AbortSignal.timeout(REQUEST_MS) });
  } catch (err) {
    const reason = (err as Error).name === 'AbortError' || (err as Error).name === 'TimeoutError' ? `no answer within ${REQUEST_MS} ms` : String(err);
    throw new Error(`${method} ${path}: ${reason}`, { cause: err });
  }
}

/** The answer to a write the disk cannot take: 507, an OCI body, the STORAGE_FULL row. */
function expectStorageFull(reply: Reply): void {
  expectError(reply, 507, 'UNKNOWN');
  const body = JSON.parse(reply.body.toString()) as { errors: [{ message: string }] };
  assert.equal(body.errors[0].message, 'storage is full', describe(reply));
  expectHeader(reply, 'content-type', 'application/json');
}

interface FullableDisk {
  readonly url: string;
  readonly dir: string;
  /** Rewrites the filler so exactly about `bytes` stay free (0: until the tmpfs refuses more). */
  leaveFree(bytes: number): Promise<void>;
  /** Deletes the filler: the space comes back. */
  release(): Promise<void>;
}

/**
 * A registry on its own 32 MiB tmpfs, or undefined (the test skipped) when not root or mount fails.
 * Teardown order: the registry closes, then the tmpfs is unmounted (lazily if still busy), then
 * the mount point goes. One hook does all three, so hook ordering cannot put umount first.
 */
async function registryOnTmpfs(t: TestContext): Promise<FullableDisk | undefined> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    t.skip('needs root on Linux to mount a size-limited tmpfs');
    return undefined;
  }
  const dir = await mkdtemp(join(tmpdir(), 'quayside-full-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'size=32m,mode=0700', 'tmpfs', dir]);
  } catch (err) {
    await rmdir(dir);
    const reason = String((err as { stderr?: string }).stderr ?? err).trim().split('\n')[0];
    t.skip(`cannot mount a tmpfs here (unprivileged container?): ${reason}`);
    return undefined;
  }
  let close = async (): Promise<void> => undefined;
  t.after(async () => {
    // registry.close is idempotent; with a 2 s bound so a stuck close still unmounts.
    await Promise.race([close(), new Promise<void>((resolve) => setTimeout(resolve, 2000).unref())]);
    await run('umount', [dir]).catch(() => run('umount', ['-l', dir]));
    await rmdir(dir);
  });
  const { url, registry } = await startRegistry(t, { root: dir });
  close = () => registry.close(1000);

  const filler = join(dir, 'filler');
  const free = async (): Promise<number> => {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  };
  return {
    url,
    dir,
    async leaveFree(bytes) {
      await rm(filler, { force: true });
      if (bytes === 0) {
        // dd stops with ENOSPC (exit 1) when the tmpfs is full: that is the point.
        await run('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64K']).catch(() => undefined);
      } else {
        const count = Math.floor(((await free()) - bytes) / (64 * KiB));
        if (count > 0) await run('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64K', `count=${count}`]);
      }
      const left = await free();
      assert.ok(bytes === 0 ? left === 0 : left < bytes + 64 * KiB, `wanted ${bytes} bytes free, have ${left}`);
    },
    release: () => rm(filler, { force: true }),
  };
}

/** POST → one PATCH → PUT; the blob is created. */
async function pushBlob(url: string, repo: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  const location = await startUpload(url, repo);
  expectStatus(await patchChunk(url, location, bytes, 0), 202);
  expectStatus(await commit(url, location, digest), 201);
  return digest;
}

async function startUpload(url: string, repo: string): Promise<string> {
  const reply = await call(url, `/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  expectStatus(reply, 202);
  return reply.headers.get('location') ?? '';
}

function patchChunk(url: string, location: string, chunk: Buffer, start: number): Promise<Reply> {
  return call(url, location, {
    method: 'PATCH',
    headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${start + chunk.length - 1}`, 'content-length': chunk.length },
    body: chunk,
  });
}

/** A streamed PATCH (docker's way): chunked transfer coding, no Content-Range, 256 KiB pieces. */
function patchStreamed(url: string, location: string, bytes: Buffer): Promise<Reply> {
  async function* pieces(): AsyncGenerator<Buffer> {
    for (let at = 0; at < bytes.length; at += 256 * KiB) yield bytes.subarray(at, at + 256 * KiB);
  }
  return call(url, location, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' }, body: pieces() });
}

function commit(url: string, location: string, digest: string): Promise<Reply> {
  return call(url, `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`, { method: 'PUT', headers: { 'content-length': 0 } });
}

/** end-4b: the whole blob in the POST. */
function postMonolithic(url: string, repo: string, bytes: Buffer): Promise<Reply> {
  return call(url, `/v2/${repo}/blobs/uploads/?digest=${sha256(bytes)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'content-length': bytes.length },
    body: bytes,
  });
}

function putManifest(url: string, repo: string, reference: string, bytes: Buffer): Promise<Reply> {
  return call(url, `/v2/${repo}/manifests/${reference}`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: bytes });
}

/** The bytes of the last `Range: 0-N` an upload reported, as a count. */
function rangeSize(reply: Reply): number {
  const match = /^0-(\d+)$/.exec(reply.headers.get('range') ?? '');
  assert.ok(match, `no Range\n${describe(reply)}`);
  return Number(match[1]) + 1;
}

interface StoredImage {
  readonly repo: string;
  readonly tag: string;
  readonly manifest: Buffer;
  readonly config: Buffer;
  readonly layers: readonly Buffer[];
}

/** A config and two layers (one of 1 MiB), then a manifest under `tag`. */
async function pushImage(url: string, repo: string, tag: string): Promise<StoredImage> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const layers = [randomBytes(MiB), randomBytes(100 * KiB)];
  for (const blob of [config, ...layers]) await pushBlob(url, repo, blob);
  const manifest = imageManifest(config, layers);
  expectStatus(await putManifest(url, repo, tag, manifest), 201);
  return { repo, tag, manifest, config, layers };
}

function imageManifest(config: Buffer, layers: readonly Buffer[], annotations?: Record<string, string>): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: OCI_LAYER, digest: sha256(l), size: l.length })),
      ...(annotations ? { annotations } : {}),
    }),
  );
}

/** The image reads back byte for byte, by tag and by digest; every blob re-hashes to its digest. */
async function expectIntact(url: string, image: StoredImage): Promise<void> {
  for (const reference of [image.tag, sha256(image.manifest)]) {
    const reply = await call(url, `/v2/${image.repo}/manifests/${reference}`, { headers: { accept: OCI_MANIFEST } });
    expectStatus(reply, 200);
    expectHeader(reply, 'docker-content-digest', sha256(image.manifest));
    assert.ok(reply.body.equals(image.manifest), `manifest ${reference} changed\n${describe(reply)}`);
  }
  for (const bytes of [image.config, ...image.layers]) {
    const digest = sha256(bytes);
    const reply = await call(url, `/v2/${image.repo}/blobs/${digest}`);
    expectStatus(reply, 200);
    assert.equal(reply.body.length, bytes.length, `blob ${digest} length`);
    assert.equal(sha256(reply.body), digest, `blob ${digest} no longer hashes to its digest`);
  }
}

/** HEAD of a blob: 404 while it is not there, its size once it is. */
async function expectBlob(url: string, repo: string, bytes: Buffer, present: boolean): Promise<void> {
  const reply = await call(url, `/v2/${repo}/blobs/${sha256(bytes)}`, { method: 'HEAD' });
  if (!present) {
    expectStatus(reply, 404);
    return;
  }
  expectStatus(reply, 200);
  expectHeader(reply, 'content-length', String(bytes.length));
  const got = await call(url, `/v2/${repo}/blobs/${sha256(bytes)}`);
  assert.equal(sha256(got.body), sha256(bytes));
}

/** Where the blob store keeps these bytes (src/storage/paths.ts), inside the tmpfs. */
function blobFile(dir: string, bytes: Buffer): string {
  const hex = sha256(bytes).slice('sha256:'.length);
  return join(dir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

/** Temp files a failed write left behind (storage/filesystem/driver.ts marks them '~tmp-'). */
async function leftoverTempFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.filter((name) => name.includes('~tmp-'));
}

test('disk full: blob pushes that do not fit answer 507 with a body; stored data is intact; the same pushes succeed once space returns', { timeout: 30_000 }, async (t) => {
  const disk = await registryOnTmpfs(t);
  if (!disk) return;
  const { url } = disk;
  const repo = 'full/blobs';
  const image = await pushImage(url, repo, 'v1');

  // Chunked (containerd, oras): the first chunk fits, the next is larger than what is free.
  const chunked = randomBytes(BIG);
  const chunkedAt = await startUpload(url, repo);
  await disk.leaveFree(SLACK);
  expectStatus(await patchChunk(url, chunkedAt, chunked.subarray(0, MiB), 0), 202);
  expectStorageFull(await patchChunk(url, chunkedAt, chunked.subarray(MiB), MiB));
  const chunkedStatus = await call(url, chunkedAt);
  expectStatus(chunkedStatus, 204);
  const kept = rangeSize(chunkedStatus);
  // At least the chunk that was accepted; what else it reports is data it really holds (checked on resume).
  assert.ok(kept >= MiB && kept < BIG, `chunked upload reports ${kept} bytes`);

  // Streamed (docker): one PATCH with the whole layer, no length.
  const streamed = randomBytes(BIG);
  await disk.leaveFree(SLACK);
  const streamedAt = await startUpload(url, repo);
  expectStorageFull(await patchStreamed(url, streamedAt, streamed));
  expectStatus(await call(url, streamedAt), 204);

  // Monolithic (end-4b): the whole blob in the POST.
  const monolithic = randomBytes(BIG);
  await disk.leaveFree(SLACK);
  expectStorageFull(await postMonolithic(url, repo, monolithic));

  // No byte free at all: starting an upload has nothing to write its startedat into.
  await disk.leaveFree(0);
  expectStorageFull(await call(url, `/v2/${repo}/blobs/uploads/`, { method: 'POST' }));

  // Nothing stored was touched, and no digest that failed is visible, partially or at all.
  await expectIntact(url, image);
  for (const blob of [chunked, streamed, monolithic]) {
    await expectBlob(url, repo, blob, false);
    assert.ok(!existsSync(blobFile(disk.dir, blob)), 'a blob that failed to upload is in the blob store');
  }
  expectStatus(await call(url, '/v2/'), 200);

  // Space returns: the failed uploads go on (or are cancelled), and the same pushes succeed.
  await disk.release();
  const resumeAt = rangeSize(await call(url, chunkedAt));
  expectStatus(await patchChunk(url, chunkedAt, chunked.subarray(resumeAt), resumeAt), 202);
  expectStatus(await commit(url, chunkedAt, sha256(chunked)), 201);
  await expectBlob(url, repo, chunked, true);

  expectStatus(await call(url, streamedAt, { method: 'DELETE' }), 204);
  expectError(await call(url, streamedAt), 404, 'BLOB_UPLOAD_UNKNOWN');
  const streamedAgain = await startUpload(url, repo);
  expectStatus(await patchStreamed(url, streamedAgain, streamed), 202);
  expectStatus(await commit(url, streamedAgain, sha256(streamed)), 201);
  await expectBlob(url, repo, streamed, true);

  expectStatus(await postMonolithic(url, repo, monolithic), 201);
  await expectBlob(url, repo, monolithic, true);

  await expectIntact(url, image);
  assert.deepEqual(await leftoverTempFiles(disk.dir), [], 'temp files left behind by failed writes');
});

test('disk full: finishing an upload and putting a manifest with no byte free answer 507 with a body; the tag keeps its manifest; both succeed once space returns', { timeout: 30_000 }, async (t) => {
  const disk = await registryOnTmpfs(t);
  if (!disk) return;
  const { url } = disk;
  const repo = 'full/manifests';
  const image = await pushImage(url, repo, 'v1');

  // An upload whose bytes are all in, waiting for its PUT.
  const layer = randomBytes(300 * KiB);
  const location = await startUpload(url, repo);
  expectStatus(await patchChunk(url, location, layer, 0), 202);

  await disk.leaveFree(0);
  // The commit has link files to write: no room.
  expectStorageFull(await commit(url, location, sha256(layer)));
  // Not in the repository; the upload still holds all its bytes, so the PUT can be retried.
  await expectBlob(url, repo, layer, false);
  expectHeader(await call(url, location), 'range', `0-${layer.length - 1}`);

  // A new manifest for the existing tag: its bytes are the first thing to write, and find no room.
  const replacement = imageManifest(image.config, image.layers, { 'org.example.attempt': 'while full' });
  expectStorageFull(await putManifest(url, repo, image.tag, replacement));
  // ...and by digest, under a new name.
  expectStorageFull(await putManifest(url, repo, sha256(replacement), replacement));

  await expectIntact(url, image);
  expectError(await call(url, `/v2/${repo}/manifests/${sha256(replacement)}`), 404, 'MANIFEST_UNKNOWN');

  await disk.release();
  expectStatus(await commit(url, location, sha256(layer)), 201);
  await expectBlob(url, repo, layer, true);
  expectStatus(await putManifest(url, repo, image.tag, replacement), 201);
  const reply = await call(url, `/v2/${repo}/manifests/${image.tag}`, { headers: { accept: OCI_MANIFEST } });
  expectStatus(reply, 200);
  assert.ok(reply.body.equals(replacement));
  // The old manifest is still there by digest.
  await expectIntact(url, { ...image, tag: sha256(image.manifest) });
  assert.deepEqual(await leftoverTempFiles(disk.dir), [], 'temp files left behind by failed writes');
});

/**
 * A streamed PATCH over a keep-alive connection (docker, containerd and every Go client keep
 * connections alive). Resolves with the reply, and whether the connection was let go (the body
 * written out, or the socket closed) within `settleMs` of the reply.
 */
function patchStreamedKeepAlive(url: string, location: string, bytes: Buffer, agent: Agent, settleMs: number): Promise<{ reply: Reply; settled: boolean }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request(new URL(location, url), { method: 'PATCH', agent, headers: { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' }, signal: AbortSignal.timeout(REQUEST_MS) }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        answered = true;
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
        const reply: Reply = { status: res.statusCode ?? 0, headers, body: Buffer.concat(parts), method: 'PATCH', url: location };
        const timer = setTimeout(() => resolve({ reply, settled: false }), settleMs);
        const done = (): void => {
          clearTimeout(timer);
          resolve({ reply, settled: true });
        };
        if (req.writableFinished || req.destroyed) done();
        else {
          req.once('finish', done);
          req.once('close', done);
        }
      });
    });
    // Once the answer is in, an error writing the rest of the body is the connection closing: settled.
    req.on('error', (err) => (answered ? undefined : reject(err)));
    void (async () => {
      for (let at = 0; at < bytes.length; at += 256 * KiB) {
        if (req.destroyed) return;
        if (!req.write(bytes.subarray(at, at + 256 * KiB))) await new Promise((r) => req.once('drain', r));
      }
      req.end();
    })();
  });
}

test(
  'disk full: a keep-alive client that streams a layer into a full disk gets the 507, and its connection is closed or drained, not left stalled',
  { timeout: 30_000 },
  async (t) => {
    const disk = await registryOnTmpfs(t);
    if (!disk) return;
    const { url } = disk;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    await disk.leaveFree(SLACK);
    const location = await startUpload(url, 'full/keepalive');
    // Far more than the socket buffers hold, so the client is still writing when the answer comes.
    const { reply, settled } = await patchStreamedKeepAlive(url, location, Buffer.alloc(64 * MiB, 7), agent, 2000);
    expectStorageFull(reply);
    assert.ok(settled, 'the registry answered 507 but neither read the rest of the body nor closed the connection: the client is stuck writing it');
  },
);

test(
  'storage error that is not ENOSPC, mid-upload: the PATCH gets 500 with an OCI body and the registry keeps serving',
  { timeout: 30_000 },
  async (t) => {
    // Small batches, so the worker's failure surfaces while the body is still being read.
    const { url, root } = await startRegistry(t, { pipeline: { batchSize: 64 * KiB } });
    const location = await startUpload(url, 'io/error');
    const id = location.split('/').at(-1) ?? '';
    // The upload's data file is a directory: the worker's reads and writes of it fail with EISDIR,
    // an error the worker has no tagged result for, as EIO, EROFS or EFBIG would be (a real EIO
    // needs a failing device; the path through the worker and the pipeline is the same).
    await mkdir(join(root, 'docker/registry/v2/repositories/io/error/_uploads', id, 'data'));
    const reply = await patchStreamed(url, location, Buffer.alloc(4 * MiB, 1));
    expectError(reply, 500, 'UNKNOWN');
    expectStatus(await call(url, '/v2/'), 200);
    const bytes = randomBytes(300 * KiB);
    await pushBlob(url, 'io/error', bytes);
    await expectBlob(url, 'io/error', bytes, true);
  },
);
