import { setTimeout as sleep } from 'node:timers/promises';
import { KeyedQueue } from '../storage/keyed-queue.ts';

/**
 * Per-upload serial queue: the range check and the append of one upload happen under one lock,
 * so a retried or misbehaving client cannot interleave two PATCHes (STYLE §6.7). Different
 * uploads run in parallel. This is an in-process lock: stateless replicas over object storage
 * will need a storage-level condition instead (a conditional write on the checkpoint).
 */
export class UploadLocks extends KeyedQueue {
  /**
   * Runs `fn` only if nothing else runs on this upload; otherwise throws `busy()` at once. A
   * request whose body stalls would otherwise hold every later request on the upload behind it
   * for as long as its socket lives (found by the fuzz tests).
   */
  runExclusive<T>(id: string, busy: () => Error, fn: () => Promise<T>): Promise<T> {
    if (this.tails.has(id)) return Promise.reject(busy());
    return this.run(id, fn);
  }

  /** Resolves when the upload's queued operations are done, or after `maxWaitMs`, whichever is first. */
  async settled(id: string, maxWaitMs: number): Promise<void> {
    const tail = this.tails.get(id);
    if (!tail) return;
    const timeout = new AbortController();
    await Promise.race([tail, sleep(maxWaitMs, undefined, { signal: timeout.signal }).catch(() => undefined)]);
    timeout.abort();
  }
}
