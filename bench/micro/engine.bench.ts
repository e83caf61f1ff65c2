import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { Sha256Engine } from '../../src/digest/engine.ts';
import { nativeEngine } from '../../src/digest/native-engine.ts';
import { wasmEngine } from '../../src/digest/wasm-engine.ts';
import { batched, newBench, perMiB, rowsOf, runIfMain, type Extra, type MicroSuite } from './harness.ts';

/**
 * src/digest/engine.ts and its implementations (native-engine.ts over OpenSSL's SHA256_CTX,
 * wasm-engine.ts over hash-wasm): update throughput, and what one checkpoint costs, save() on
 * the PATCH that ends a batch and resume() on the next. node:crypto is the reference for update
 * (it has no resumable state; its copy() is the nearest thing to a checkpoint).
 */
const MiB = 1024 * 1024;
const BIG = randomBytes(MiB);
const SMALL = randomBytes(4096);
/** 1 MiB + 100 bytes: a checkpoint with a partly filled pending block, as most are. */
const ODD = randomBytes(MiB + 100);

function engines(): Sha256Engine[] {
  return nativeEngine instanceof Error ? [wasmEngine] : [nativeEngine, wasmEngine];
}

/** One engine must give node:crypto's digest, straight and across a save/resume in mid-block. */
async function check(engine: Sha256Engine): Promise<void> {
  const abc = await engine.fresh();
  abc.update(Buffer.from('abc'));
  assert.equal(abc.digestHex(), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', `${engine.name}: sha256('abc')`);

  const expected = createHash('sha256').update(ODD).digest('hex');
  const first = await engine.fresh();
  first.update(ODD.subarray(0, 777_777));
  const checkpoint = first.save();
  assert.equal(first.length, 777_777, `${engine.name}: length`);
  const resumed = await engine.resume(checkpoint);
  assert.ok(resumed, `${engine.name}: resume of its own checkpoint`);
  assert.equal(resumed.length, 777_777, `${engine.name}: resumed length`);
  resumed.update(ODD.subarray(777_777));
  assert.equal(resumed.digestHex(), expected, `${engine.name}: digest across save/resume`);
  first.update(ODD.subarray(777_777));
  assert.equal(first.digestHex(), expected, `${engine.name}: hasher still usable after save()`);
}

export const suite: MicroSuite = {
  name: 'sha256',
  source: 'src/digest/engine.ts (native-engine.ts, wasm-engine.ts)',
  async run(options) {
    if (nativeEngine instanceof Error) console.warn(`native engine unavailable: ${nativeEngine.message}`);
    const list = engines();
    for (const engine of list) await check(engine);
    // Checkpoints are engine-neutral: one written by each engine resumes in the other.
    if (list.length === 2) {
      const [a, b] = list as [Sha256Engine, Sha256Engine];
      for (const [from, to] of [[a, b], [b, a]] as const) {
        const h = await from.fresh();
        h.update(ODD);
        const other = await to.resume(h.save());
        assert.ok(other);
        assert.equal(other.digestHex(), createHash('sha256').update(ODD).digest('hex'), `${from.name} → ${to.name}`);
      }
    }

    const bench = newBench(options);
    const extras = new Map<string, Extra>();
    for (const engine of list) {
      const streaming = await engine.fresh();
      const small = await engine.fresh();
      const saver = await engine.fresh();
      saver.update(ODD);
      const checkpoint = saver.save();
      bench.add(`${engine.name}: update 1 MiB`, () => streaming.update(BIG));
      extras.set(`${engine.name}: update 1 MiB`, perMiB(MiB));
      bench.add(`${engine.name}: update 4 KiB`, batched(50, () => small.update(SMALL)));
      extras.set(`${engine.name}: update 4 KiB`, perMiB(4096));
      bench.add(`${engine.name}: save() checkpoint`, batched(20, () => saver.save()));
      bench.add(`${engine.name}: resume(checkpoint)`, async () => {
        const hasher = await engine.resume(checkpoint);
        if (hasher === undefined) throw new Error(`${engine.name}: resume failed`);
        return hasher;
      });
    }
    const reference = createHash('sha256');
    const referenceSmall = createHash('sha256');
    bench.add('node:crypto: update 1 MiB', () => reference.update(BIG));
    extras.set('node:crypto: update 1 MiB', perMiB(MiB));
    bench.add('node:crypto: update 4 KiB', batched(50, () => referenceSmall.update(SMALL)));
    extras.set('node:crypto: update 4 KiB', perMiB(4096));
    bench.add('node:crypto: copy() (no resumable state; nearest to a checkpoint)', batched(20, () => reference.copy()));
    await bench.run();
    return rowsOf(suite, bench, extras);
  },
};

await runIfMain(import.meta.url, suite);
