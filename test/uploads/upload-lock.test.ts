import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UploadLocks, type WriterState } from '../../src/uploads/upload-lock.ts';

/** Waits generous enough for a loaded machine; no test below waits for a bound to pass unless it says so. */
const waits = { busyMs: 30_000, finishingMs: 30_000, recheckMs: 5 };
const busy = (): Error => new Error('busy');

/** Takes the upload for a writer in `state`; resolves once it holds it. */
async function holdUntilReleased(locks: UploadLocks, id: string, state: () => WriterState): Promise<{ release: () => void; done: Promise<void> }> {
  let release = (): void => undefined;
  let held = (): void => undefined;
  const holding = new Promise<void>((resolve) => (held = resolve));
  const done = locks.runExclusive(id, state, busy, () => {
    held();
    return new Promise<void>((resolve) => (release = resolve));
  });
  await holding;
  return { release: () => release(), done };
}

test('upload lock: a live writer that has stalled ("idle") → a second request is refused at once', async () => {
  const locks = new UploadLocks(waits);
  const holder = await holdUntilReleased(locks, 'u', () => 'idle');
  await assert.rejects(locks.runExclusive('u', () => 'busy', busy, async () => 'second'), /busy/);
  assert.equal(await locks.released('u'), false);
  holder.release();
  await holder.done;
});

test('upload lock: a writer whose client is gone ("finishing") is waited for; the next request then gets in', async () => {
  const locks = new UploadLocks(waits);
  const holder = await holdUntilReleased(locks, 'u', () => 'finishing');
  const second = locks.runExclusive('u', () => 'busy', busy, async () => 'second');
  setImmediate(() => holder.release());
  assert.equal(await second, 'second');
  await holder.done;
});

test('upload lock: a writer still busy past its bound → refused', async () => {
  const locks = new UploadLocks({ busyMs: 50, finishingMs: 50, recheckMs: 5 });
  const holder = await holdUntilReleased(locks, 'u', () => 'busy');
  await assert.rejects(locks.runExclusive('u', () => 'busy', busy, async () => 'second'), /busy/);
  holder.release();
  await holder.done;
});

test('upload lock: several waiters woken by one release → one at a time gets in, never two at once', async () => {
  const locks = new UploadLocks(waits);
  const holder = await holdUntilReleased(locks, 'u', () => 'finishing');
  let inside = 0;
  let most = 0;
  const waiters = Array.from({ length: 5 }, () =>
    locks.runExclusive('u', () => 'finishing', busy, async () => {
      inside++;
      most = Math.max(most, inside);
      await new Promise((resolve) => setImmediate(resolve));
      inside--;
    }),
  );
  holder.release();
  await Promise.all([holder.done, ...waiters]);
  assert.equal(most, 1);
});
