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
import { createChunkPool } from '../../src/workers/pool.ts';

function owned(bytes: Buffer): Uint8Array {
  const copy = new Uint8Array(new ArrayBuffer(bytes.length));
  copy.set(bytes);
  return copy;
}

const sha256Hex = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

test('chunk pool: close() with tasks in flight lets every accepted task finish, then refuses new ones', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'quayside-pool-close-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const params = { filesystem: { rootdirectory: root } };
  const driver = createDriver(params);
  const pool = createChunkPool(params, 'native', 2);
  t.after(() => pool.close());
  // Enough work that the tasks are still with the workers when close() is called: 6 × 4 MiB
  // written, made durable and hashed, and one hash of a batch only (the S3 path).
  const parts = Array.from({ length: 6 }, () => randomBytes(4 * 1024 * 1024));
  const refs = await Promise.all(parts.map(() => createUpload(driver, 'pool/close')));
  const appends = parts.map((part, i) => pool.appendChunk({ repo: refs[i]?.repo ?? '', id: refs[i]?.id ?? '', offset: 0, bytes: owned(part), checkpoint: null, persist: true }));
  const hashOnly = pool.hashChunk({ offset: 0, bytes: owned(parts[0] ?? Buffer.alloc(0)), checkpoint: null });

  const closed = pool.close();
  assert.equal(pool.close(), closed, 'close() is idempotent: the same promise');
  await assert.rejects(pool.hashChunk({ offset: 0, bytes: owned(randomBytes(10)), checkpoint: null }), /closed/);

  // Not one accepted task is rejected (piscina's close would reject them after closeTimeout; destroy() at once).
  const results = await Promise.all([...appends, hashOnly]);
  await closed;
  for (const [i, part] of parts.entries()) {
    const result = results[i];
    assert.ok(result?.ok, `append ${i}: ${JSON.stringify(result)}`);
    assert.equal(result.offset, part.length);
    const ref = refs[i];
    assert.ok(ref);
    assert.ok((await readFile(join(root, paths.uploadData(ref.repo, ref.id)))).equals(part), `upload ${i}'s data`);
    assert.equal((await wasmEngine.resume(result.checkpoint))?.digestHex(), sha256Hex(part), `upload ${i}'s checkpoint`);
  }
  const hashed = results[parts.length];
  assert.ok(hashed?.ok);
  assert.equal((await wasmEngine.resume(hashed.checkpoint))?.digestHex(), sha256Hex(parts[0] ?? Buffer.alloc(0)));
  // Nothing of the pool is left to report: no threads, and no piscina behind it.
  assert.equal(pool.stats().threads, 0);
  assert.equal(pool.started, false);
});

test('chunk pool: close() of a pool that never ran a task starts nothing', async () => {
  const pool = createChunkPool({ inmemory: {} }, 'native', 1);
  await pool.close();
  assert.equal(pool.started, false);
  pool.start();
  assert.equal(pool.started, false, 'start() after close() does nothing');
  await assert.rejects(pool.hashChunk({ offset: 0, bytes: new Uint8Array(1), checkpoint: null }), /closed/);
});
