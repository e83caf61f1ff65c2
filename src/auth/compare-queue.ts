import { RegistryError } from '../errors/registry-error.ts';

/**
 * Runs at most `inFlight` password checks at once and lets at most `queued` more wait.
 *
 * bcrypt.compare runs on libuv's threadpool, the same threads that serve every fs call of the
 * registry (UV_THREADPOOL_SIZE, set by bin/quayside.cjs). A flood of wrong passwords, each check tens
 * of ms of CPU, would otherwise occupy the whole pool and queue the stat()s and reads of uploads
 * and pulls behind it (issue 9). Past the queue: 429 TOOMANYREQUESTS (code-14) with Retry-After,
 * as the upload gate answers; not 401, which would tell a client with good, not yet cached
 * credentials that its password is wrong (docker login would fail instead of retrying).
 */
export class CompareQueue {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly inFlight: number,
    private readonly queued: number,
  ) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running < this.inFlight) this.running++;
    else if (this.waiting.length < this.queued) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else throw new RegistryError('TOOMANYREQUESTS', { reason: 'too many password checks at once' }, { headers: { 'retry-after': '1' } });
    try {
      return await task();
    } finally {
      // The slot passes straight to the next waiter; `running` only drops when nobody waits.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
