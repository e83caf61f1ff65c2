import { setTimeout as delay } from 'node:timers/promises';

/**
 * What the lock can tell about the request writing to an upload, asked again each time a
 * waiter looks (issue 9):
 * - 'idle': its client is connected, its body is being read and nothing has arrived for a
 *   while. A live client that stalls: waiting for it could take as long as its socket lives.
 * - 'busy': its body is arriving, or is not being read just now (a batch is with a worker, or
 *   a buffer is awaited). A close may then sit unread in the kernel: nothing reads the socket
 *   until the batch comes back, so "still connected" is not yet known.
 * - 'finishing': its body has all arrived, or its client is gone (the socket closed or was
 *   destroyed). It lets go as soon as what arrived is durable (end-13), without the client.
 */
export type WriterState = 'idle' | 'busy' | 'finishing';

/** Asked for the holder's state whenever a waiter looks; cheap, and may keep its own samples. */
export type Writer = () => WriterState;

export interface LockWaits {
  /** How long a request waits for a 'busy' holder before it is refused. */
  readonly busyMs: number;
  /** How long it waits once the holder is 'finishing' (its remainder is being made durable). */
  readonly finishingMs: number;
  /** How often a waiter looks at the holder again. */
  readonly recheckMs: number;
}

/**
 * A dead client's own connection must not make its reconnect "busy" (issue 9): keeping the
 * bytes that arrived takes a worker task and an fdatasync after the close, seconds on a loaded
 * disk. A live, stalled writer is given up on at once, as before (fuzz: a stalled body must not
 * hold the upload for as long as its socket lives).
 */
export const defaultLockWaits: LockWaits = { busyMs: 3000, finishingMs: 10_000, recheckMs: 20 };

/**
 * The waits for a server that closes connections silent for `idleTimeoutMs` (limits.idletimeout;
 * 0 = never): a waiting request sends nothing, so it waits at most half of that, or its own
 * connection would be cut before it is answered.
 */
export function lockWaitsWithin(idleTimeoutMs: number): LockWaits {
  if (idleTimeoutMs <= 0) return defaultLockWaits;
  const most = Math.floor(idleTimeoutMs / 2);
  return { ...defaultLockWaits, busyMs: Math.min(defaultLockWaits.busyMs, most), finishingMs: Math.min(defaultLockWaits.finishingMs, most) };
}

interface Hold {
  readonly writer: Writer;
  readonly released: Promise<void>;
}

/**
 * Per-upload exclusive lock: the range check and the append of one upload happen under it, so a
 * retried or misbehaving client cannot interleave two PATCHes (STYLE §6.7). Different uploads
 * run in parallel. This is an in-process lock: stateless replicas over object storage will need
 * a storage-level condition instead (a conditional write on the checkpoint).
 *
 * distribution has no such lock (two writers race on the file); ours refuses a second writer,
 * but only once the first is known to be alive: a request whose writer is gone or still busy
 * waits, bounded, for it to let go.
 */
export class UploadLocks {
  private readonly holds = new Map<string, Hold>();

  constructor(private readonly waits: LockWaits = defaultLockWaits) {}

  /**
   * Runs `fn` holding the upload, described to later requests by `writer`. When another request
   * holds it, waits as `released` does; still held after that → throws `busy()`.
   */
  async runExclusive<T>(id: string, writer: Writer, busy: () => Error, fn: () => Promise<T>): Promise<T> {
    let letGo = (): void => undefined;
    const hold: Hold = { writer, released: new Promise<void>((resolve) => (letGo = resolve)) };
    if (!(await this.waitFor(id, () => this.holds.set(id, hold)))) throw busy();
    try {
      return await fn();
    } finally {
      this.holds.delete(id);
      letGo();
    }
  }

  /**
   * True once nothing holds the upload; false when its holder is alive and idle, or did not let go
   * within the wait its state allows.
   */
  released(id: string): Promise<boolean> {
    return this.waitFor(id, () => undefined);
  }

  /**
   * Waits for the upload to be free and calls `take` in the same turn as it finds it so: several
   * waiters woken by one release then cannot all take it. The wait allowed only grows: a holder
   * seen 'finishing' once keeps that allowance when it reads 'busy' again. An 'idle' holder ends
   * the wait at any point: its socket was read from with nothing arriving, so it is alive.
   */
  private async waitFor(id: string, take: () => void): Promise<boolean> {
    const started = Date.now();
    let allowed = 0;
    for (let hold = this.holds.get(id); hold !== undefined; hold = this.holds.get(id)) {
      const state = hold.writer();
      if (state === 'idle') return false;
      allowed = Math.max(allowed, state === 'finishing' ? this.waits.finishingMs : this.waits.busyMs);
      const left = started + allowed - Date.now();
      if (left <= 0) return false;
      const recheck = new AbortController();
      await Promise.race([hold.released, delay(Math.min(left, this.waits.recheckMs), undefined, { signal: recheck.signal }).catch(() => undefined)]);
      recheck.abort();
    }
    take();
    return true;
  }

  /** Resolves when every held upload has been let go (graceful shutdown). */
  async idle(): Promise<void> {
    await Promise.all([...this.holds.values()].map((hold) => hold.released));
  }
}
