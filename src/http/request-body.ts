import type { IncomingMessage } from 'node:http';
import { RegistryError } from '../errors/registry-error.ts';
import { copyBytes } from '../native/addon.ts';
import { bodyBytesRead } from './body-memory.ts';

/**
 * Cuts a request body into fixed-size batches in buffers from `acquire` (uploads/batch-buffers.ts),
 * which is told the stream offset each batch starts at (for its memory alignment).
 * Reading pauses while the caller awaits, which is the backpressure on the socket: one batch
 * fills while the previous one is written.
 */
export class BatchReader implements AsyncIterable<Uint8Array> {
  private current: Uint8Array | undefined;
  private filled = 0;
  private offset: number;

  constructor(
    private readonly body: AsyncIterable<Buffer | Uint8Array>,
    private readonly acquire: (offset: number) => Uint8Array | Promise<Uint8Array>,
    startOffset: number,
  ) {
    this.offset = startOffset;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for await (const chunk of this.body) {
      bodyBytesRead(chunk.length);
      let read = 0;
      while (read < chunk.length) {
        this.current ??= await this.acquire(this.offset);
        const n = Math.min(chunk.length - read, this.current.length - this.filled);
        copyBytes(this.current, this.filled, chunk, read, read + n);
        this.filled += n;
        read += n;
        if (this.filled === this.current.length) yield this.take();
      }
    }
    if (this.filled > 0) yield this.take();
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
