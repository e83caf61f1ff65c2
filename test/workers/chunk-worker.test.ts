import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { wasmEngine } from '../../src/digest/wasm-engine.ts';
import { createDriver } from '../../src/storage/factory.ts';
import { paths } from '../../src/storage/paths.ts';
import { createUpload } from '../../src/uploads/session.ts';
import { checkpointsAtOrBelow } from '../../src/uploads/checkpoints.ts';
import { createChunkPool, defaultWorkerCount } from '../../src/workers/pool.ts';

function owned(bytes: Buffer): Uint8Array {
  const copy = new Uint8Array(new ArrayBuffer(bytes.length));
  copy.set(bytes);
  return copy;
}

test('chunk worker: consecutive chunks in different pools (a restart between each) hash as one stream', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'quayside-worker-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const params = { filesystem: { rootdirectory: root } };
  const driver = createDriver(params);
  const ref = await createUpload(driver, 'w/repo');
  const parts = [randomBytes(100_000), randomBytes(63), randomBytes(0), randomBytes(64_001)];

  let offset = 0;
  for (const part of parts) {
    // A fresh pool each time: no worker remembers anything; the checkpoint comes from storage.
    const pool = createChunkPool(params, 'wasm', 1);
    const result = await pool.appendChunk({ repo: ref.repo, id: ref.id, offset, bytes: owned(part), checkpoint: null, persist: true });
    await pool.close();
    assert.ok(result.ok);
    offset = result.offset;
  }
  const whole = Buffer.concat(parts);
  assert.equal(offset, whole.length);
  assert.ok((await readFile(join(root, paths.uploadData(ref.repo, ref.id)))).equals(whole));
  const [latest] = await checkpointsAtOrBelow(driver, ref.repo, ref.id, whole.length);
  assert.equal(latest?.offset, whole.length);
  const hasher = await wasmEngine.resume(latest?.bytes ?? new Uint8Array(0));
  assert.equal(hasher?.digestHex(), createHash('sha256').update(whole).digest('hex'));
});

test('chunk worker: an offset past the stored data comes back as a tagged result, not a throw', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'quayside-worker-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const params = { filesystem: { rootdirectory: root } };
  const ref = await createUpload(createDriver(params), 'w/repo');
  const pool = createChunkPool(params, 'wasm', 1);
  t.after(() => pool.close());
  const result = await pool.appendChunk({ repo: ref.repo, id: ref.id, offset: 10, bytes: owned(randomBytes(5)), checkpoint: null, persist: false });
  assert.deepEqual(result, { ok: false, reason: 'offset-mismatch', size: 0 });
});

test('chunk worker: without a usable checkpoint it re-hashes the stored data (the slow, correct path)', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'quayside-worker-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const params = { filesystem: { rootdirectory: root } };
  const driver = createDriver(params);
  const ref = await createUpload(driver, 'w/repo');
  const pool = createChunkPool(params, 'native', 2);
  t.after(() => pool.close());
  const a = randomBytes(5000);
  const b = randomBytes(777);
  const first = await pool.appendChunk({ repo: ref.repo, id: ref.id, offset: 0, bytes: owned(a), checkpoint: null, persist: true });
  assert.ok(first.ok);
  // Damage the stored checkpoint: the next chunk must still produce the right digest.
  await driver.putContent(paths.uploadHashState(ref.repo, ref.id, a.length), 'not a checkpoint');
  const second = await pool.appendChunk({ repo: ref.repo, id: ref.id, offset: a.length, bytes: owned(b), checkpoint: null, persist: true });
  assert.ok(second.ok);
  const hasher = await wasmEngine.resume(second.checkpoint);
  assert.equal(hasher?.digestHex(), createHash('sha256').update(Buffer.concat([a, b])).digest('hex'));
  const { hex } = await pool.hashUpload({ repo: ref.repo, id: ref.id, size: a.length + b.length, algorithm: 'sha256' });
  assert.equal(hex, createHash('sha256').update(Buffer.concat([a, b])).digest('hex'));
});

test('chunk pool: workers: 0 sizes the pool to the engine (native: one beside the event loop on 2 cores, at most 2; wasm: one per core)', () => {
  assert.equal(defaultWorkerCount('native', 1), 1);
  assert.equal(defaultWorkerCount('native', 2), 1);
  assert.equal(defaultWorkerCount('native', 3), 2);
  assert.equal(defaultWorkerCount('native', 64), 2);
  assert.equal(defaultWorkerCount('wasm', 1), 1);
  assert.equal(defaultWorkerCount('wasm', 2), 2);
  assert.equal(defaultWorkerCount('wasm', 8), 8);
});
