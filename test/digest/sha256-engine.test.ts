import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { wasmEngine } from '../../src/digest/wasm-engine.ts';
import { nativeEngine } from '../../src/digest/native-engine.ts';
import { CHECKPOINT_SIZE, decodeCheckpoint, encodeCheckpoint } from '../../src/digest/sha256-checkpoint.ts';
import type { Sha256Engine } from '../../src/digest/engine.ts';

const engines: readonly Sha256Engine[] = [wasmEngine, ...(nativeEngine instanceof Error ? [] : [nativeEngine])];

test('sha256 engines: the native engine is built here (npm ci runs node-gyp)', () => {
  // CI machines have python3, make and g++: a missing native engine there is a regression.
  assert.ok(!(nativeEngine instanceof Error), `native engine failed to load: ${String(nativeEngine)}`);
});

test('sha256 engines: a checkpoint saved by one engine resumes in the other', async () => {
  if (nativeEngine instanceof Error) return;
  for (const [from, to] of [[wasmEngine, nativeEngine], [nativeEngine, wasmEngine]] as const) {
    for (const size of [0, 1, 63, 64, 65, 1000, 100_000]) {
      const data = randomBytes(size + 77);
      const head = await from.fresh();
      head.update(data.subarray(0, size));
      const resumed = await to.resume(head.save());
      assert.ok(resumed, `${from.name} → ${to.name} at ${size}`);
      resumed.update(data.subarray(size));
      assert.equal(resumed.digestHex(), createHash('sha256').update(data).digest('hex'), `${from.name} → ${to.name} at ${size}`);
    }
  }
});

/** A deterministic PRNG so a failing split can be reproduced from the seed in the message. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

for (const engine of engines) {
  test(`sha256 engine ${engine.name}: save/resume at random splits equals node:crypto`, async () => {
    for (let seed = 1; seed <= 150; seed++) {
      const random = mulberry32(seed);
      const data = randomBytes(Math.floor(random() * 3000));
      let hasher = await engine.fresh();
      let at = 0;
      while (at < data.length) {
        const n = Math.floor(random() * 200);
        hasher.update(data.subarray(at, at + n));
        at += n;
        const resumed = await engine.resume(hasher.save());
        assert.ok(resumed, `seed ${seed}: checkpoint did not load`);
        hasher = resumed;
        assert.equal(hasher.length, Math.min(at, data.length));
      }
      assert.equal(hasher.digestHex(), createHash('sha256').update(data).digest('hex'), `seed ${seed}`);
    }
  });

  test(`sha256 engine ${engine.name}: tails of 0, 1, 55, 56, 63 and 64 bytes around block edges`, async () => {
    for (const base of [0, 64, 128, 1 << 16]) {
      for (const tail of [0, 1, 55, 56, 63, 64]) {
        const data = randomBytes(base + tail);
        const head = await engine.fresh();
        head.update(data.subarray(0, base));
        const resumed = await engine.resume(head.save());
        assert.ok(resumed);
        resumed.update(data.subarray(base));
        assert.equal(resumed.digestHex(), createHash('sha256').update(data).digest('hex'), `base ${base} tail ${tail}`);
      }
    }
  });

  test(`sha256 engine ${engine.name}: a checkpoint that is not one → undefined, never a throw`, async () => {
    const good = (await engine.fresh()).save();
    const badMagic = Uint8Array.from(good);
    badMagic[0] = 0;
    for (const bad of [new Uint8Array(0), new Uint8Array(108), badMagic, good.subarray(0, 100), new Uint8Array(116)]) {
      assert.equal(await engine.resume(bad), undefined);
    }
  });
}

test('checkpoint format: Go crypto/sha256 MarshalBinary layout, as distribution stores it', async () => {
  const hasher = await wasmEngine.fresh();
  hasher.update(Buffer.from('abc'));
  const checkpoint = hasher.save();
  assert.equal(checkpoint.length, CHECKPOINT_SIZE);
  const expected = Buffer.alloc(108);
  expected.write('sha\x03', 0, 'latin1');
  // Under one block nothing is compressed yet: h is still the SHA-256 initial value (FIPS 180-4 §5.3.3).
  const iv = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
  iv.forEach((word, i) => expected.writeUInt32BE(word, 4 + i * 4));
  expected.write('abc', 36, 'latin1');
  expected.writeBigUInt64BE(3n, 100);
  assert.deepEqual(Buffer.from(checkpoint), expected);
  const decoded = decodeCheckpoint(checkpoint);
  assert.ok(decoded);
  assert.deepEqual(Buffer.from(encodeCheckpoint(decoded)), expected);
});
