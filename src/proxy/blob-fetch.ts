import { createHash } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { open, rm, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { Digest } from '../digest/digest.ts';

/**
 * One blob on its way from the upstream, fetched once however many clients want it (issue 11
 * "single flight"). The upstream body is hashed and appended to a spool file as it arrives, at
 * the disk's pace (for-await on the response is its backpressure); every client, the first as
 * much as the eighth, reads the spool file with its own reader at its own pace. So memory stays
 * flat, a slow client slows only itself, and one that leaves stops nothing: the fetch goes on
 * and fills the cache.
 *
 * Verification (distribution verifies a proxied blob only when its blob writer commits; here
 * every client is covered): the last byte of every response is held back until the whole blob
 * has matched its digest. On a mismatch, or a body cut short, every reader fails, so each
 * client's response is aborted short of its Content-Length, and nothing reaches the store.
 *
 * Distribution (proxyblobstore.go ServeBlob) streams a blob that is already being fetched from
 * the upstream again, once per extra client; this is what the issue asks beyond it.
 */
export class BlobFetch {
  /** Bytes in the spool file so far, readable by any reader. */
  written = 0;
  /** The whole blob is in the spool and matched its digest. */
  verified = false;
  /** Why the fetch failed (upstream cut off, digest mismatch, disk): every reader fails with it. */
  failed: Error | undefined;
  /** Resolves once verified and handed to `store`, or failed; never rejects. */
  readonly done: Promise<void>;
  private readonly changes = new EventEmitter();

  constructor(
    readonly digest: Digest,
    /** From the upstream's Content-Length; undefined when it sent none (chunked). */
    readonly size: number | undefined,
    readonly spoolPath: string,
    body: IncomingMessage,
    /** Puts the verified spool file into the store; its failure leaves the blob uncached, readers unharmed. */
    store: (fetch: BlobFetch) => Promise<void>,
    onStoreError: (err: unknown) => void,
  ) {
    // Every reader waits on one event; more than 10 readers is the point, not a leak.
    this.changes.setMaxListeners(0);
    this.done = this.run(body)
      .then(
        () => store(this).catch(onStoreError),
        (err: unknown) => {
          body.destroy();
          this.fail(err instanceof Error ? err : new Error(String(err)));
        },
      )
      // Readers opened the file already; unlinking it leaves their handles readable (POSIX).
      .finally(() => rm(this.spoolPath, { force: true }).catch(() => undefined));
  }

  /** Bytes [start, end] of the blob (end undefined: to its end) as they become readable. */
  reader(start: number, end: number | undefined): Readable {
    return new SpoolReader(this, start, end);
  }

  /** Resolves at the next change (bytes written, verified, failed). */
  async changed(): Promise<void> {
    if (this.verified || this.failed) return;
    await once(this.changes, 'change');
  }

  private async run(body: IncomingMessage): Promise<void> {
    const hash = createHash(this.digest.algorithm);
    const file = await open(this.spoolPath, 'w');
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        hash.update(chunk);
        // Written through before readers are told: a reader never sees a byte the file lacks.
        await file.write(chunk, 0, chunk.length, this.written);
        this.written += chunk.length;
        if (this.size !== undefined && this.written > this.size) throw new Error(`upstream sent more than its Content-Length ${this.size}`);
        this.changes.emit('change');
      }
      if (!body.complete) throw new Error('upstream body ended early');
    } finally {
      await file.close();
    }
    if (this.size !== undefined && this.written !== this.size) throw new Error(`upstream sent ${this.written} of ${this.size} bytes`);
    const actual = hash.digest('hex');
    if (actual !== this.digest.hex) throw new DigestMismatchError(this.digest.value, `${this.digest.algorithm}:${actual}`);
    this.verified = true;
    this.changes.emit('change');
  }

  private fail(err: Error): void {
    this.failed = err;
    this.changes.emit('change');
  }
}

export class DigestMismatchError extends Error {
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`upstream content does not match its digest: expected ${expected}, got ${actual}`);
    this.name = 'DigestMismatchError';
  }
}

/** Reads at most this much per read: a reader holds one such buffer at a time at most, plus the stream's queue. */
const READ_SIZE = 256 * 1024;

/**
 * A reader of the spool file that follows the fetch: reads what is written, waits for more,
 * ends after the last byte once the blob is verified, fails if the fetch fails. Its own file
 * handle, so the spool file can be unlinked under it.
 */
class SpoolReader extends Readable {
  private position: number;
  private file: FileHandle | undefined;
  private pumping = false;

  constructor(
    private readonly fetch: BlobFetch,
    start: number,
    /** Inclusive; undefined: to the end of the blob. */
    private readonly end: number | undefined,
  ) {
    super({ highWaterMark: READ_SIZE });
    this.position = start;
  }

  override _read(): void {
    if (this.pumping) return;
    this.pumping = true;
    this.pump().then(
      () => (this.pumping = false),
      (err: unknown) => this.destroy(err instanceof Error ? err : new Error(String(err))),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const file = this.file;
    this.file = undefined;
    if (!file) return callback(error);
    file.close().then(
      () => callback(error),
      () => callback(error),
    );
  }

  /** Pushes what is readable until the stream wants no more, waiting for the fetch as needed. */
  private async pump(): Promise<void> {
    this.file ??= await open(this.fetch.spoolPath, 'r');
    for (;;) {
      if (this.destroyed) return;
      const { fetch } = this;
      if (fetch.failed) throw fetch.failed;
      const last = this.end ?? (fetch.verified ? fetch.written - 1 : Number.POSITIVE_INFINITY);
      if (this.position > last) {
        this.push(null);
        return;
      }
      // Until verified, the response's last byte stays here: a mismatch must leave every client short.
      const readableTo = fetch.verified ? Math.min(fetch.written, last + 1) : Math.min(fetch.written, last, fetch.written - 1);
      if (this.position >= readableTo) {
        await fetch.changed();
        continue;
      }
      const length = Math.min(READ_SIZE, readableTo - this.position);
      const buffer = Buffer.allocUnsafe(length);
      const { bytesRead } = await this.file.read(buffer, 0, length, this.position);
      if (bytesRead === 0) throw new Error(`spool file ${fetch.spoolPath} is shorter than ${this.position + 1} bytes`);
      this.position += bytesRead;
      if (!this.push(bytesRead === length ? buffer : buffer.subarray(0, bytesRead))) return;
    }
  }
}
