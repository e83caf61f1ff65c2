import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { copyBytes, nativeAddon, portableCopyBytes, type CopyBytes } from '../../src/native/addon.ts';

/*
 * Upload bodies are copied chunk by chunk into SharedArrayBuffer batches (uploads/batch-reader.ts).
 * The addon's memcpy replaces V8's relaxed-atomic copy there; both must place exactly the same
 * bytes, at any offsets, and refuse what does not fit instead of writing past the end.
 */

test('copy: the native addon provides copy (npm ci builds it here)', () => {
  assert.ok(!(nativeAddon instanceof Error), `addon not loaded: ${nativeAddon instanceof Error ? nativeAddon.message : ''}`);
  assert.equal(copyBytes, nativeAddon.copy);
});

for (const [name, copy] of [['native', copyBytes], ['portable', portableCopyBytes]] as const satisfies readonly (readonly [string, CopyBytes])[]) {
  test(`copy (${name}): any slice of a Buffer into a SharedArrayBuffer view at any offset, nothing else touched`, () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9000 }), fc.nat(), fc.nat(), fc.nat(), fc.nat(), (size, a, b, c, d) => {
        const target = new Uint8Array(new SharedArrayBuffer(size + 64), 17, size);
        const source = randomBytes((a % 9000) + 1);
        const start = b % source.length;
        const end = start + (c % (source.length - start + 1));
        const length = end - start;
        if (length > size) return;
        const at = d % (size - length + 1);
        const expected = new Uint8Array(size);
        expected.set(source.subarray(start, end), at);
        copy(target, at, source, start, end);
        assert.deepEqual(Buffer.from(target), Buffer.from(expected));
      }),
      { numRuns: 300 },
    );
  });
}

test('copy (native): out-of-bounds arguments are a RangeError and write nothing', () => {
  const addon = nativeAddon;
  if (addon instanceof Error) return;
  const target = new Uint8Array(new SharedArrayBuffer(16));
  const source = Buffer.alloc(8, 0xff);
  for (const [at, start, end] of [[9, 0, 8], [-1, 0, 1], [0, 4, 2], [0, 0, 9], [0, -1, 2]] as const) {
    assert.throws(() => addon.copy(target, at, source, start, end), RangeError, `copy(at ${at}, ${start}-${end})`);
  }
  assert.ok(target.every((b) => b === 0));
  assert.throws(() => (addon.copy as unknown as (...args: unknown[]) => void)(target, 0), TypeError);
});
