import { finished, type Readable } from 'node:stream';
import { copyBytes } from '../native/addon.ts';
import { bodyBytesRead } from './body-memory.ts';

const EMPTY = new Uint8Array(0);

/**
 * Cuts a request body into fixed-size batches in buffers from `acquire` (uploads/batch-buffers.ts),
 * which is told the stream offset each batch starts at (for its memory alignment).
 *
 * Driven by 'data' events, not `for await`: a 1 GiB body arrives as ~16,000 socket reads of
 * ≤ 64 KiB, and the async iterator spent a promise, a microtask and a generator resumption on
 * each. Here a chunk is copied in the same call that node:http delivers it. Reading pauses while
 * a batch is handed over or a buffer is awaited, which is the backpressure on the socket: one
 * batch fills while the previous one is written.
 *
 * Not a Writable behind stream.pipeline() (issue 9 asked): pipeline() destroys the request when
 * the sink fails, and a refused body (413 over limits.uploadsize, 507 disk full) must instead
 * stay paused so the answer still reaches the client, with Connection: close (test/api/limits,
 * test/storage/disk-full). pipe() would keep it, but only adds a Writable's buffering and
 * per-chunk callback on top of the same 'data' events: the per-chunk machinery the move from
 * for-await removed (bench/RESULTS.md: 15 % less CPU per GiB). A Writable was not built and
 * measured here (issue 9's time box); this reader was, and it stays. The two ways this reader
 * regressed (a chunk's rest lost when the client left mid-handover; the last batch settled apart
 * from the others) are pinned by the end-13 "every byte that reached the registry is kept" and
 * the limits.idletimeout tests.
 */
export class BatchReader {
  private current: Uint8Array | undefined;
  private filled = 0;
  private offset: number;

  constructor(
    private readonly body: Readable,
    private readonly acquire: (offset: number) => Uint8Array | Promise<Uint8Array>,
    startOffset: number,
  ) {
    this.offset = startOffset;
  }

  /**
   * Reads the body to its end, handing `consume` each full batch and then the last partial one.
   * Rejects when the body fails (the client went away) or `consume` does, but never while a
   * `consume` is still running: the caller may then clean up knowing no batch is in hand.
   */
  readAll(consume: (batch: Uint8Array) => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const body = this.body;
      let waiting = false;
      let ended = false;
      let failure: { error: unknown } | undefined;
      const settle = (error?: { error: unknown }): void => {
        body.off('data', onData);
        stopWatching();
        if (error) reject(error.error);
        else resolve();
      };
      const fail = (error: unknown): void => {
        failure ??= { error };
        if (!waiting) settle(failure);
      };
      // Copies what fits; when a batch fills or a buffer must be awaited, pauses the body and
      // continues from the same place once that is done.
      const pump = (chunk: Uint8Array, from: number): void => {
        let read = from;
        while (read < chunk.length) {
          if (this.current === undefined) {
            const next = this.acquire(this.offset);
            if (next instanceof Promise) return wait(next.then((buffer) => void (this.current = buffer)), chunk, read);
            this.current = next;
          }
          const n = Math.min(chunk.length - read, this.current.length - this.filled);
          copyBytes(this.current, this.filled, chunk, read, read + n);
          this.filled += n;
          read += n;
          if (this.filled === this.current.length) return wait(consume(this.take()), chunk, read);
        }
      };
      const wait = (step: Promise<void>, chunk: Uint8Array, read: number): void => {
        waiting = true;
        body.pause();
        step.then(
          () => {
            waiting = false;
            // The rest of the chunk in hand arrived: it is copied even if the body failed
            // meanwhile (the client went away), so the caller can keep it (end-13).
            pump(chunk, read);
            if (waiting) return;
            if (failure) settle(failure);
            else if (ended) finish();
            else body.resume();
          },
          (error: unknown) => {
            waiting = false;
            fail(error);
          },
        );
      };
      // The body has ended: the last, partial batch is handed over like the others, after which
      // `wait` comes back here with nothing filled.
      const finish = (): void => {
        if (this.filled === 0) settle(failure);
        else wait(consume(this.take()), EMPTY, 0);
      };
      const onData = (chunk: Buffer): void => {
        bodyBytesRead(chunk.length);
        pump(chunk, 0);
      };
      // Either the body ends ('end'), or it fails or closes early (a reset, an abort): then the
      // error is ERR_STREAM_PREMATURE_CLOSE or the socket's, as with `for await`.
      const stopWatching = finished(body, (error) => {
        if (error) return fail(error);
        ended = true;
        if (!waiting) finish();
      });
      body.on('data', onData);
    });
  }

  /** The bytes read but not yet handed out: what to keep when the client goes away. */
  takeRemainder(): Uint8Array | undefined {
    return this.filled > 0 ? this.take() : undefined;
  }

  private take(): Uint8Array {
    const batch = (this.current ?? new Uint8Array(0)).subarray(0, this.filled);
    this.offset += this.filled;
    this.current = undefined;
    this.filled = 0;
    return batch;
  }
}
