import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { parseDigest } from '../../src/digest/digest.ts';
import { FilesystemDriver } from '../../src/storage/filesystem/driver.ts';
import { paths } from '../../src/storage/paths.ts';
import { writeCommitRecord } from '../../src/uploads/session.ts';
import { expectError, expectHeader, expectStatus } from '../helpers/assertions.ts';
import { patchChunk, putUpload, send, sha256, startUpload } from '../helpers/oci-client.ts';
import { startRegistry } from '../helpers/registry.ts';

/*
 * A commit (PUT ?digest=, end-6) writes its commit record, moves the upload's data into the blob
 * store, links the blob, then removes the upload. A process killed between the move and the
 * removal leaves an upload without data. These tests build exactly that state with the commit's
 * own first two steps, on a stopped registry, then restart it on the same root: the client's
 * retried PUT must finish the commit, and a PATCH must be able to continue the upload.
 * test/crash finds these states by killing a real process; here each one is pinned down.
 */

const REPO = 'crash/interrupted';

interface Staged {
  readonly url: string;
  readonly root: string;
  readonly location: string;
  readonly blob: Buffer;
}

/** An upload holding `blob` (all acknowledged by 202s), then a commit of `digest` killed after the move. */
async function stageInterruptedCommit(t: TestContext, blob: Buffer, digest: string, options: { dropCheckpoints?: boolean; withoutRecord?: boolean } = {}): Promise<Staged> {
  const root = await mkdtemp(join(tmpdir(), 'quayside-interrupted-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const first = await startRegistry(t, { root });
  const location = await startUpload(first.url, REPO);
  expectStatus(await patchChunk(first.url, location, blob, 0), 202);
  await first.registry.close(1000);

  const id = location.slice(location.lastIndexOf('/') + 1);
  const driver = new FilesystemDriver(root);
  // Bytes that arrived without their 202 are in the data file but have no checkpoint yet: a
  // status request reports them, and a PUT commits them.
  if (options.dropCheckpoints) await rm(join(root, paths.uploadHashStates(REPO, id)), { recursive: true, force: true });
  if (!options.withoutRecord) await writeCommitRecord(driver, { repo: REPO, id }, { digest, size: blob.length });
  await driver.move(paths.uploadData(REPO, id), paths.blobData(parseDigest(digest)));

  const second = await startRegistry(t, { root });
  return { url: second.url, root, location, blob };
}

async function expectBlob(url: string, digest: string, blob: Buffer): Promise<void> {
  const reply = await send(url, `/v2/${REPO}/blobs/${digest}`);
  expectStatus(reply, 200);
  assert.ok(reply.body.equals(blob), 'the blob reads back byte for byte');
}

async function uploadsLeft(root: string): Promise<string[]> {
  return readdir(join(root, paths.repository(REPO), '_uploads')).catch(() => []);
}

test('interrupted commit: status reports the committed size, the retried PUT answers 201 and links the blob', async (t) => {
  const blob = randomBytes(300_000);
  const digest = sha256(blob);
  const { url, root, location } = await stageInterruptedCommit(t, blob, digest);
  const status = await send(url, location);
  expectStatus(status, 204);
  expectHeader(status, 'range', `0-${blob.length - 1}`);
  // Not linked yet: the kill came before the link.
  expectError(await send(url, `/v2/${REPO}/blobs/${digest}`, { method: 'HEAD' }), 404);
  const put = await putUpload(url, location, digest);
  expectStatus(put, 201);
  expectHeader(put, 'docker-content-digest', digest);
  await expectBlob(url, digest, blob);
  assert.deepEqual(await uploadsLeft(root), []);
  expectError(await send(url, location), 404, 'BLOB_UPLOAD_UNKNOWN');
});

test('interrupted commit of bytes that had no checkpoint (data ahead of the last one): the record alone finishes it', async (t) => {
  // The state the kill test found (seeds 206, 102): GET said 0-0 and the retried PUT hashed nothing.
  const blob = randomBytes(53_274);
  const digest = sha256(blob);
  const { url, location } = await stageInterruptedCommit(t, blob, digest, { dropCheckpoints: true });
  expectHeader(await send(url, location), 'range', `0-${blob.length - 1}`);
  expectStatus(await putUpload(url, location, digest), 201);
  await expectBlob(url, digest, blob);
});

test('interrupted commit: a PUT with another digest is DIGEST_INVALID and changes nothing', async (t) => {
  const blob = randomBytes(100_000);
  const digest = sha256(blob);
  const { url, location } = await stageInterruptedCommit(t, blob, digest);
  expectError(await putUpload(url, location, sha256(randomBytes(10))), 400, 'DIGEST_INVALID');
  expectStatus(await putUpload(url, location, digest), 201);
  await expectBlob(url, digest, blob);
});

test('interrupted commit: a PATCH continues the upload from the committed size, the final PUT is the whole content', async (t) => {
  const head = randomBytes(200_000);
  const tail = randomBytes(70_001);
  const { url, location } = await stageInterruptedCommit(t, head, sha256(head), { dropCheckpoints: true });
  const patch = await patchChunk(url, location, tail, head.length);
  expectStatus(patch, 202);
  expectHeader(patch, 'range', `0-${head.length + tail.length - 1}`);
  const whole = Buffer.concat([head, tail]);
  expectStatus(await putUpload(url, location, sha256(whole)), 201);
  await expectBlob(url, sha256(whole), whole);
});

test('interrupted commit of a sha512 digest: the record names it, the retried PUT answers 201', async (t) => {
  const blob = randomBytes(150_000);
  const digest = `sha512:${createHash('sha512').update(blob).digest('hex')}`;
  const { url, location } = await stageInterruptedCommit(t, blob, digest);
  expectHeader(await send(url, location), 'range', `0-${blob.length - 1}`);
  expectStatus(await putUpload(url, location, digest), 201);
  await expectBlob(url, digest, blob);
});

test('interrupted commit left by a version without the record: the last checkpoint still finishes it', async (t) => {
  const blob = randomBytes(120_000);
  const digest = sha256(blob);
  const { url, location } = await stageInterruptedCommit(t, blob, digest, { withoutRecord: true });
  expectHeader(await send(url, location), 'range', `0-${blob.length - 1}`);
  expectStatus(await putUpload(url, location, digest), 201);
  await expectBlob(url, digest, blob);
});
