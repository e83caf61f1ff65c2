import type { IncomingMessage } from 'node:http';
import { finished, type Readable } from 'node:stream';
import { RegistryError } from '../errors/registry-error.ts';
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

/** Reads a small body (manifests) whole, refusing more than `limit` bytes without buffering them. */
export async function readBounded(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) {
    req.resume();
    throw new RegistryError('MANIFEST_TOO_LARGE', { limit, size: declared });
  }
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      req.resume();
      throw new RegistryError('MANIFEST_TOO_LARGE', { limit });
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts, total);
}

/** True when the request carries a body (a length above 0, or chunked transfer coding). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}
