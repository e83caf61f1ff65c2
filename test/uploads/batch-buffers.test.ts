import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { nativeAddon } from '../../src/native/addon.ts';
import { BatchBuffers } from '../../src/uploads/batch-buffers.ts';

/*
 * Batch memory is shared: past `limit` buffers out, an upload with a batch still in flight waits
 * to fill its next one; an upload with nothing in flight never waits (a stalled client must not
 * hold up the others), and a waiter goes on as soon as its own batch comes back.
 */

async function settledWithin<T>(promise: Promise<T>): Promise<T | 'pending'> {
  for (let i = 0; i < 5; i++) await turn();
  return Promise.race([promise, Promise.resolve('pending' as const)]);
}

test('batch buffers: under the limit every acquire is immediate; at it, an upload with a batch in flight waits for a release', async () => {
  const buffers = new BatchBuffers(8192, 2);
  const a = await buffers.acquireNext(0, () => true);
  const b = await buffers.acquireNext(0, () => true);
  const waiting = buffers.acquireNext(0, () => true);
  assert.equal(await settledWithin(waiting), 'pending');
  buffers.release(a);
  const c = await waiting;
  assert.equal(c.length, 8192);
  assert.equal(c.buffer, a.buffer, 'the released buffer is reused, not a new allocation');
  buffers.release(b);
  buffers.release(c);
});

test('batch buffers: an upload with nothing in flight never waits, whatever is out', async () => {
  const buffers = new BatchBuffers(8192, 1);
  const held = buffers.acquire(0); // a stalled client's half-filled batch
  const first = await settledWithin(buffers.acquireNext(0, () => false));
  assert.notEqual(first, 'pending');
  buffers.release(held);
});

test('batch buffers: a waiter whose own batch comes back goes on, even if another release woke someone else first', async () => {
  const buffers = new BatchBuffers(8192, 1);
  let ownInFlight = true;
  const own = buffers.acquire(0);
  const other = buffers.acquire(0);
  const waiting = buffers.acquireNext(0, () => ownInFlight);
  assert.equal(await settledWithin(waiting), 'pending');
  ownInFlight = false; // its worker task ended: the pipeline releases the batch at that moment
  buffers.release(own);
  assert.notEqual(await settledWithin(waiting), 'pending');
  buffers.release(other);
});

test('batch buffers: each view starts at an address congruent to its file offset modulo 4096 (O_DIRECT)', (t) => {
  const addon = nativeAddon;
  if (addon instanceof Error) return t.skip(`native addon not loaded: ${addon.message}`);
  const buffers = new BatchBuffers(16384, 4);
  for (const offset of [0, 1, 4095, 4096, 12345]) {
    const view = buffers.acquire(offset);
    assert.equal(view.length, 16384);
    assert.equal(addon.addressMod(view, 4096), offset % 4096, `offset ${offset}`);
    buffers.release(view);
  }
});

test('batch buffers: past twice the limit, an upload with nothing in flight gets a small batch at once (stalled crowds hold little)', async () => {
  const buffers = new BatchBuffers(64 * 4096, 2);
  const held = [buffers.acquire(0), buffers.acquire(0), await buffers.acquireNext(0, () => false), await buffers.acquireNext(0, () => false)];
  assert.ok(held.every((view) => view.length === 64 * 4096), 'up to twice the limit: full-size batches');
  const small = await settledWithin(buffers.acquireNext(0, () => false));
  assert.notEqual(small, 'pending');
  assert.equal((small as Uint8Array).length, 4 * 4096);
  for (const view of [...held, small as Uint8Array]) buffers.release(view);
  const full = await buffers.acquireNext(0, () => true);
  assert.equal(full.length, 64 * 4096, 'under the limit again: full-size batches');
  buffers.release(full);
});
