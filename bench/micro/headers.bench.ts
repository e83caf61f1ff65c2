import assert from 'node:assert/strict';
import { parseBlobRange, parseContentRange } from '../../src/http/headers.ts';
import { batched, newBench, rowsOf, runIfMain, type MicroSuite } from './harness.ts';

/** src/http/headers.ts: a PATCH chunk's Content-Range and a blob GET's Range. */
const SIZE = 64 * 1024 * 1024;

export const suite: MicroSuite = {
  name: 'headers',
  source: 'src/http/headers.ts',
  async run(options) {
    assert.deepEqual(parseContentRange('0-4095'), { start: 0, end: 4095 });
    assert.deepEqual(parseContentRange('bytes 33554432-67108863/*'), { start: 33554432, end: 67108863 });
    assert.equal(parseContentRange('bytes=0-10'), undefined);
    assert.equal(parseContentRange('10-5'), undefined);
    assert.deepEqual(parseBlobRange('bytes=0-1023', SIZE), { kind: 'range', range: { start: 0, end: 1023 } });
    assert.deepEqual(parseBlobRange('bytes=-500', SIZE), { kind: 'range', range: { start: SIZE - 500, end: SIZE - 1 } });
    assert.deepEqual(parseBlobRange(`bytes=${SIZE}-`, SIZE), { kind: 'unsatisfiable' });
    assert.deepEqual(parseBlobRange(undefined, SIZE), { kind: 'none' });

    const bench = newBench(options);
    bench
      .add("parseContentRange '0-4095' (spec form)", batched(1000, () => parseContentRange('0-4095')))
      .add("parseContentRange 'bytes 33554432-67108863/*' (RFC form)", batched(1000, () => parseContentRange('bytes 33554432-67108863/*')))
      .add("parseContentRange 'bytes=0-10' (refused)", batched(1000, () => parseContentRange('bytes=0-10')))
      .add("parseBlobRange 'bytes=0-1023'", batched(1000, () => parseBlobRange('bytes=0-1023', SIZE)))
      .add("parseBlobRange 'bytes=-500' (suffix)", batched(1000, () => parseBlobRange('bytes=-500', SIZE)))
      .add('parseBlobRange (no header)', batched(1000, () => parseBlobRange(undefined, SIZE)));
    await bench.run();
    return rowsOf(suite, bench);
  },
};

await runIfMain(import.meta.url, suite);
