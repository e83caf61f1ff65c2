import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { casUploadState, uploadDataPath, loadUploadState, UploadConflictError, UploadUnknownError } from '../../src/storage/s3/upload-state.ts';
import { openUploadWriter, startUpload, writerTestHooks } from '../../src/storage/s3/upload-writer.ts';
import { makeS3Driver, s3Unavailable } from '../helpers/s3.ts';

const MiB = 1024 * 1024;
/** S3's floor: the smallest part size, so the tests move few bytes. */
const CHUNK = 5 * MiB;
const REPO = 'lib/app';

function md5(bytes: Buffer): string {
  return createHash('md5').update(bytes).digest('hex');
}

/** S3's multipart ETag: md5 of the concatenated part md5s, then "-<count>". */
function multipartEtag(parts: Buffer[]): string {
  return `"${createHash('md5').update(Buffer.concat(parts.map((p) => createHash('md5').update(p).digest()))).digest('hex')}-${parts.length}"`;
}

async function readAll(driver: Awaited<ReturnType<typeof makeS3Driver>>, path: string): Promise<Buffer> {
  return driver.getContent(path);
}

describe('s3 upload writer (one state object, CAS, uniform parts)', { skip: s3Unavailable }, () => {
  test('s3 upload writer: parts are all chunksize (ListParts), the tail goes last, the blob is the bytes with the multipart ETag', async (t) => {
    const driver = await makeS3Driver(t);
    await startUpload(driver, REPO, 'u1', { chunksize: CHUNK });
    const data = randomBytes(12 * MiB + 12345);
    const w = await openUploadWriter(driver, REPO, 'u1');
    // Uneven appends: part boundaries must not follow them.
    for (let at = 0; at < data.length; at += 3 * MiB + 7) await w.append(data.subarray(at, Math.min(at + 3 * MiB + 7, data.length)));
    assert.equal(await w.flush('ckpt-1'), data.length);
    const { state } = await loadUploadState(driver, REPO, 'u1');
    assert.equal(state.offset, data.length);
    assert.equal(state.checkpoint, 'ckpt-1');
    assert.ok(state.multipart !== null);
    const listed = await driver.client.listAllParts(driver.layout.key(uploadDataPath(REPO, 'u1')), state.multipart.uploadId);
    assert.deepEqual(listed.map((p) => p.size), [CHUNK, CHUNK]);
    assert.equal(state.tail?.size, data.length - 2 * CHUNK);
    const result = await (await openUploadWriter(driver, REPO, 'u1')).commit('/blobs/b1/data');
    assert.equal(result.existed, false);
    assert.equal(result.size, data.length);
    assert.deepEqual(await readAll(driver, '/blobs/b1/data'), data);
    // CopyObject keeps the multipart ETag on RGW? Either the composed one or a plain md5: both name these bytes.
    assert.ok(result.etag === multipartEtag([data.subarray(0, CHUNK), data.subarray(CHUNK, 2 * CHUNK), data.subarray(2 * CHUNK)]) || result.etag === `"${md5(data)}"`, result.etag);
    await assert.rejects(openUploadWriter(driver, REPO, 'u1'), UploadUnknownError);
    assert.deepEqual(await driver.list('/'), ['blobs'], 'the upload left nothing behind');
  });

  test('s3 upload writer: a tail is carried across two writer instances (two replicas), each opened from storage alone', async (t) => {
    const driver = await makeS3Driver(t);
    await startUpload(driver, REPO, 'u2', { chunksize: CHUNK });
    const data = randomBytes(11 * MiB + 3);
    const cuts = [0, 2 * MiB, 4 * MiB + 1, 9 * MiB, 11 * MiB + 3];
    for (let i = 0; i + 1 < cuts.length; i++) {
      // A new writer per request, as a replica would: nothing kept in memory between them.
      const w = await openUploadWriter(driver, REPO, 'u2');
      assert.equal(w.offset, cuts[i]);
      await w.append(data.subarray(cuts[i], cuts[i + 1]));
      assert.equal(await w.flush(`after-${i}`), cuts[i + 1]);
    }
    const { state } = await loadUploadState(driver, REPO, 'u2');
    assert.deepEqual(state.multipart?.parts.map((p) => p.size), [CHUNK, CHUNK]);
    assert.equal(state.tail?.size, data.length - 2 * CHUNK);
    const tails = (await driver.list(`/docker/registry/v2/repositories/${REPO}/_uploads/u2/tail`));
    assert.equal(tails.length, 1, `replaced tails are deleted: ${tails.join(', ')}`);
    await (await openUploadWriter(driver, REPO, 'u2')).commit('/blobs/b2/data');
    assert.deepEqual(await readAll(driver, '/blobs/b2/data'), data);
  });

  test('s3 upload writer: parts a dead writer uploaded but never acknowledged are left out of the blob (RGW refuses a Complete that skips them)', async (t) => {
    const driver = await makeS3Driver(t);
    await startUpload(driver, REPO, 'orphans', { chunksize: CHUNK });
    const data = randomBytes(13 * MiB + 5);
    const first = await openUploadWriter(driver, REPO, 'orphans');
    await first.append(data.subarray(0, 6 * MiB));
    await first.flush('at-6');
    // A writer that uploads two whole parts of garbage, then dies before its flush.
    const dead = await openUploadWriter(driver, REPO, 'orphans');
    await dead.append(randomBytes(10 * MiB));
    const live = await openUploadWriter(driver, REPO, 'orphans');
    assert.equal(live.offset, 6 * MiB);
    await live.append(data.subarray(6 * MiB));
    assert.equal(await live.flush('at-end'), data.length);
    const { state } = await loadUploadState(driver, REPO, 'orphans');
    assert.deepEqual(state.multipart?.parts.map((p) => p.number), [1, 4], 'the dead writer took numbers 2 and 3');
    const result = await (await openUploadWriter(driver, REPO, 'orphans')).commit('/blobs/orphans/data');
    assert.equal(result.size, data.length);
    assert.deepEqual(await readAll(driver, '/blobs/orphans/data'), data);
    assert.deepEqual(await driver.list(`/docker/registry/v2/repositories/${REPO}/_uploads/orphans`), []);
  });

  test('s3 upload writer: a multipart upload a dead writer created but never recorded is aborted by the commit, on both commit paths', async (t) => {
    const driver = await makeS3Driver(t);
    for (const [id, size] of [['leak-small', 100 * 1024], ['leak-parts', 7 * MiB]] as const) {
      await startUpload(driver, REPO, id, { chunksize: CHUNK });
      const dataKey = driver.layout.key(uploadDataPath(REPO, id));
      await driver.client.createMultipartUpload(dataKey); // the writer died before its CAS
      const w = await openUploadWriter(driver, REPO, id);
      await w.append(randomBytes(size));
      await w.flush('end');
      await (await openUploadWriter(driver, REPO, id)).commit(`/blobs/${id}/data`);
      assert.deepEqual(await driver.client.listMultipartUploads(dataKey), [], `${id}: no multipart upload outlives the upload`);
    }
  });

  test('s3 upload writer: a stale writer is refused (flush and part upload) once another advanced the state; acknowledged bytes stay', async (t) => {
    const driver = await makeS3Driver(t);
    await startUpload(driver, REPO, 'u3', { chunksize: CHUNK });
    const a = await openUploadWriter(driver, REPO, 'u3');
    const b = await openUploadWriter(driver, REPO, 'u3');
    const good = randomBytes(6 * MiB);
    await a.append(good);
    assert.equal(await a.flush('a'), good.length);
    // b still holds version 1: a small append would only touch the tail, the flush must lose.
    await b.append(randomBytes(1000));
    await assert.rejects(b.flush('b'), (err: unknown) => err instanceof UploadConflictError && err.reason === 'stale');
    // A stale writer whose bytes fill a part is refused before it uploads one (the part-number CAS).
    const c = await openUploadWriter(driver, REPO, 'u3');
    const d = await openUploadWriter(driver, REPO, 'u3');
    await c.append(randomBytes(100));
    assert.equal(await c.flush('c'), good.length + 100);
    await assert.rejects(d.append(randomBytes(CHUNK)), UploadConflictError);
    const { state } = await loadUploadState(driver, REPO, 'u3');
    assert.equal(state.offset, good.length + 100);
    assert.equal(state.checkpoint, 'c');
    const r = await (await openUploadWriter(driver, REPO, 'u3')).commit('/blobs/b3/data');
    assert.equal(r.size, good.length + 100);
    assert.deepEqual((await readAll(driver, '/blobs/b3/data')).subarray(0, good.length), good);
  });

  test('s3 upload writer: concurrent writers of one version: exactly one flush wins, the blob is its bytes', async (t) => {
    const driver = await makeS3Driver(t);
    await startUpload(driver, REPO, 'u4', { chunksize: CHUNK });
    const writers = await Promise.all(Array.from({ length: 6 }, () => openUploadWriter(driver, REPO, 'u4')));
    const bodies = writers.map(() => randomBytes(64 * 1024));
    await Promise.all(writers.map((w, i) => w.append(bodies[i] as Buffer)));
    const results = await Promise.allSettled(writers.map((w, i) => w.flush(`w${i}`)));
    const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    assert.equal(won.length, 1, JSON.stringify(results.map((r) => r.status === 'rejected' ? String(r.reason) : r.value)));
    for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof UploadConflictError, String(r.reason));
    await (await openUploadWriter(driver, REPO, 'u4')).commit('/blobs/b4/data');
    assert.deepEqual(await readAll(driver, '/blobs/b4/data'), bodies[won[0] as number]);
  });

  test('s3 upload writer: commit checks the parts with ListParts page by page (max-parts=1 here, past-1000 in production)', async (t) => {
    const driver = await makeS3Driver(t);
    await startUpload(driver, REPO, 'u5', { chunksize: CHUNK });
    const data = randomBytes(3 * CHUNK);
    const w = await openUploadWriter(driver, REPO, 'u5');
    await w.append(data);
    await w.flush(null);
    const { state } = await loadUploadState(driver, REPO, 'u5');
    assert.ok(state.multipart !== null);
    const key = driver.layout.key(uploadDataPath(REPO, 'u5'));
    const page = await driver.client.listParts(key, state.multipart.uploadId, { maxParts: 2 });
    assert.equal(page.parts.length, 2);
    assert.equal(page.nextPartNumberMarker, page.parts[1]?.partNumber);
    const all = await driver.client.listAllParts(key, state.multipart.uploadId, 1);
    assert.deepEqual(all.map((p) => p.partNumber), state.multipart.parts.map((p) => p.number));
    writerTestHooks.listPartsPageSize = 1;
    t.after(() => {
      delete writerTestHooks.listPartsPageSize;
    });
    const r = await (await openUploadWriter(driver, REPO, 'u5')).commit('/blobs/b5/data');
    assert.equal(r.size, data.length);
    assert.deepEqual(await readAll(driver, '/blobs/b5/data'), data);
  });

  test('s3 upload writer: under one part the tail is copied whole; an empty upload commits an empty blob', async (t) => {
    const driver = await makeS3Driver(t);
    await startUpload(driver, REPO, 'small', { chunksize: CHUNK });
    const data = randomBytes(300 * 1024);
    const w = await openUploadWriter(driver, REPO, 'small');
    await w.append(data);
    await w.flush(null);
    const r = await (await openUploadWriter(driver, REPO, 'small')).commit('/blobs/small/data');
    assert.equal(r.etag, `"${md5(data)}"`);
    assert.deepEqual(await readAll(driver, '/blobs/small/data'), data);
    await startUpload(driver, REPO, 'empty', { chunksize: CHUNK });
    const e = await (await openUploadWriter(driver, REPO, 'empty')).commit('/blobs/empty/data');
    assert.equal(e.size, 0);
  });

  test('s3 upload writer: an existing blob wins; the upload is dropped', async (t) => {
    const driver = await makeS3Driver(t);
    const first = randomBytes(1000);
    await driver.putContent('/blobs/x/data', first);
    await startUpload(driver, REPO, 'u6', { chunksize: CHUNK });
    const w = await openUploadWriter(driver, REPO, 'u6');
    await w.append(randomBytes(CHUNK + 10));
    await w.flush(null);
    const r = await (await openUploadWriter(driver, REPO, 'u6')).commit('/blobs/x/data');
    assert.equal(r.existed, true);
    assert.deepEqual(await readAll(driver, '/blobs/x/data'), first);
    assert.deepEqual(await driver.list('/'), ['blobs']);
  });

  test('s3 upload writer: cancel aborts the multipart upload and leaves no object behind', async (t) => {
    const driver = await makeS3Driver(t);
    await startUpload(driver, REPO, 'u7', { chunksize: CHUNK });
    const w = await openUploadWriter(driver, REPO, 'u7');
    await w.append(randomBytes(CHUNK + 4096));
    await w.flush(null);
    const { state } = await loadUploadState(driver, REPO, 'u7');
    assert.ok(state.multipart !== null);
    // And one no state names: a writer that died after CreateMultipartUpload, before its CAS.
    const dataKey = driver.layout.key(uploadDataPath(REPO, 'u7'));
    const orphan = await driver.client.createMultipartUpload(dataKey);
    await driver.client.uploadPart(dataKey, orphan, 99, randomBytes(1024));
    await (await openUploadWriter(driver, REPO, 'u7')).cancel();
    assert.deepEqual(await driver.list('/'), []);
    assert.deepEqual(await driver.client.listMultipartUploads(driver.layout.key('/')), []);
    await assert.rejects(driver.client.listParts(driver.layout.key(uploadDataPath(REPO, 'u7')), state.multipart.uploadId), /NoSuchUpload|NoSuchKey/); // RGW 16.2 says NoSuchKey, AWS NoSuchUpload
    await assert.rejects(openUploadWriter(driver, REPO, 'u7'), UploadUnknownError);
  });

  test('s3 upload writer: a commit that died after its committing CAS is finished by the next; appends are refused meanwhile', async (t) => {
    const driver = await makeS3Driver(t);
    await startUpload(driver, REPO, 'u8', { chunksize: CHUNK });
    const data = randomBytes(CHUNK + 777);
    const w = await openUploadWriter(driver, REPO, 'u8');
    await w.append(data);
    await w.flush('x');
    // The first step of a commit, done by hand: then "the replica died".
    const loaded = await loadUploadState(driver, REPO, 'u8');
    await casUploadState(driver, REPO, 'u8', loaded, { ...loaded.state, version: loaded.state.version + 1, committing: true, nextPart: loaded.state.nextPart + 1 });
    const late = await openUploadWriter(driver, REPO, 'u8');
    await assert.rejects(late.append(randomBytes(10)), (err: unknown) => err instanceof UploadConflictError && err.reason === 'committing');
    // Two commits at once (a retried PUT on another replica): both succeed, one blob.
    const [r1, r2] = await Promise.all([openUploadWriter(driver, REPO, 'u8').then((x) => x.commit('/blobs/b8/data')), openUploadWriter(driver, REPO, 'u8').then((x) => x.commit('/blobs/b8/data'))]);
    assert.equal(r1.size, data.length);
    assert.equal(r2.size, data.length);
    assert.deepEqual(await readAll(driver, '/blobs/b8/data'), data);
    assert.deepEqual(await driver.list('/'), ['blobs']);
  });

  test('s3 upload writer: an upload id is created once (If-None-Match: *)', async (t) => {
    const driver = await makeS3Driver(t);
    await startUpload(driver, REPO, 'once', { chunksize: CHUNK });
    await assert.rejects(startUpload(driver, REPO, 'once', { chunksize: CHUNK }), (err: unknown) => err instanceof UploadConflictError && err.reason === 'exists');
    await assert.rejects(startUpload(driver, REPO, 'tiny', { chunksize: MiB }), RangeError);
  });
});
