import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatUploadRange, parseBlobRange, parseContentRange } from '../../src/http/headers.ts';

test('parseContentRange: the spec form and the RFC 9110 form; everything else undefined', () => {
  const good: [string, { start: number; end: number }][] = [
    ['0-0', { start: 0, end: 0 }],
    ['0-1023', { start: 0, end: 1023 }],
    ['1024-2047', { start: 1024, end: 2047 }],
    [' 5-9 ', { start: 5, end: 9 }],
    ['bytes 0-9/*', { start: 0, end: 9 }],
    ['bytes 0-9/10', { start: 0, end: 9 }],
  ];
  for (const [value, range] of good) assert.deepEqual(parseContentRange(value), range, value);
  for (const bad of ['', '-', '5-', '-5', '9-5', 'a-b', '0-1-2', 'bytes=0-9', '0 - 9', '1e3-2e3', '0x1-0x2', '99999999999999999-99999999999999999']) {
    assert.equal(parseContentRange(bad), undefined, bad);
  }
});

test('formatUploadRange: 0-<last byte>, and 0-0 for an empty upload (as distribution)', () => {
  assert.equal(formatUploadRange(0), '0-0');
  assert.equal(formatUploadRange(1), '0-0');
  assert.equal(formatUploadRange(1000), '0-999');
});

test('parseBlobRange: single byte ranges; unusable headers are ignored; out-of-range is unsatisfiable', () => {
  assert.deepEqual(parseBlobRange(undefined, 10), { kind: 'none' });
  assert.deepEqual(parseBlobRange('bytes=0-4', 10), { kind: 'range', range: { start: 0, end: 4 } });
  assert.deepEqual(parseBlobRange('bytes=5-', 10), { kind: 'range', range: { start: 5, end: 9 } });
  assert.deepEqual(parseBlobRange('bytes=-3', 10), { kind: 'range', range: { start: 7, end: 9 } });
  assert.deepEqual(parseBlobRange('bytes=-30', 10), { kind: 'range', range: { start: 0, end: 9 } });
  assert.deepEqual(parseBlobRange('bytes=8-100', 10), { kind: 'range', range: { start: 8, end: 9 } });
  assert.deepEqual(parseBlobRange('bytes=10-', 10), { kind: 'unsatisfiable' });
  assert.deepEqual(parseBlobRange('bytes=-0', 10), { kind: 'unsatisfiable' });
  for (const ignored of ['bytes=0-1,3-4', 'items=0-1', 'bytes=5-2', 'bytes=-', 'garbage']) {
    assert.deepEqual(parseBlobRange(ignored, 10), { kind: 'none' }, ignored);
  }
});
