import { createHash } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { open, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { Digest } from '../digest/digest.ts';
import type { Spool } from './spool.ts';

/** How long a retired fetch keeps its spool open after its last reader (see closeSpoolIfUnused). */
const SPOOL_GRACE_MS = 30_000;

/**
 * One blob on its way from the upstream, fetched once however many clients want it (issue 11
 * "single flight"). The upstream body is hashed and appended to a spool file as it arrives, at
 * the disk's pace (for-await on the response is its backpressure); every client, the first as
 * much as the eighth, reads the spool file with its own reader at its own pace. So memory stays
 * flat, a slow client slows only itself, and one that leaves stops nothing: the fetch goes on
 * and fills the cache. Readers share the writer's file handle (positioned reads), so the spool
 * can be renamed into the blob store or unlinked under them (spool.ts).
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
  /** Resolves once verified and stored, or failed (then the owner discards the spool); never rejects. */
  readonly done: Promise<void>;
  private readonly changes = new EventEmitter();
  /** Readers not yet closed: the spool stays open until the last one is done with it. */
  private readers = 0;
  private retired = false;
  private closing: NodeJS.Timeout | undefined;
  /** The spool, open for writing and reading; undefined before it is open and once closed. */
  file: FileHandle | undefined;
  /** Settles once the spool file is open (or the fetch failed before it was): a reader reads only then. */
  readonly spoolReady: Promise<void>;
  private markSpoolReady: () => void = () => undefined;

  constructor(
    readonly digest: Digest,
    /** From the upstream's Content-Length; undefined when it sent none (chunked). */
    readonly size: number | undefined,
    readonly spool: Spool,
    body: IncomingMessage,
    /** Runs after the spool went into the store; a failure of either leaves the blob uncached, readers unharmed. */
    stored: () => void,
    onStoreError: (err: unknown) => void,
  ) {
    // Every reader waits on one event; more than 10 readers is the point, not a leak.
    this.changes.setMaxListeners(0);
    this.spoolReady = new Promise((resolve) => (this.markSpoolReady = resolve));
    this.done = this.run(body).then(
      async () => {
        const file = this.file as FileHandle;
        await spool.store(file, this.written).then(stored, onStoreError);
      },
      (err: unknown) => {
        body.destroy();
        this.fail(err instanceof Error ? err : new Error(String(err)));
        this.markSpoolReady();
      },
    );
  }

  /** Bytes [start, end] of the blob (end undefined: to its end) as they become readable. */
  reader(start: number, end: number | undefined): Readable {
    this.readers++;
    clearTimeout(this.closing);
    this.closing = undefined;
    return new SpoolReader(this, start, end, () => {
      this.readers--;
      this.closeSpoolIfUnused();
    });
  }

  /**
   * No new reader will come (the blob is in storage, or the fetch failed and the next request
   * fetches anew): the spool's handle closes once the last reader is done with it.
   */
  retire(): void {
    this.retired = true;
    this.closeSpoolIfUnused();
  }

  /**
   * Closed a while after the last reader closed, not at once: a request that took this fetch
   * from the cache's table just before it was retired asks for its reader a moment later (an
   * await in between), and found the spool gone under load (the client's response cut).
   */
  private closeSpoolIfUnused(): void {
    if (!this.retired || this.readers > 0 || this.closing !== undefined) return;
    this.closing = setTimeout(() => {
      this.closing = undefined;
      if (this.readers > 0) return;
      const file = this.file;
      this.file = undefined;
      void file?.close().catch(() => undefined);
    }, SPOOL_GRACE_MS);
    this.closing.unref();
  }

  /** Resolves at the next change (bytes written, verified, failed). */
  async changed(): Promise<void> {
    if (this.verified || this.failed) return;
    await once(this.changes, 'change');
  }

  private async run(body: IncomingMessage): Promise<void> {
    const hash = createHash(this.digest.algorithm);
    const file = await open(this.spool.path, 'w+');
    this.file = file;
    // A reader made as the fetch started waits for this open.
    this.markSpoolReady();
    // Socket chunks (16-64 KiB) are gathered into writes of up to SPOOL_WRITE bytes: a sixteenth
    // of the syscalls and of the reader wake-ups (bench/proxy: the cold pull was CPU-bound).
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async (): Promise<void> => {
      if (pendingBytes === 0) return;
      const batch = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      // Written through before readers are told: a reader never sees a byte the file lacks.
      await file.write(batch, 0, batch.length, this.written);
      this.written += batch.length;
      this.changes.emit('change');
    };
    for await (const chunk of body as AsyncIterable<Buffer>) {
      hash.update(chunk);
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (this.size !== undefined && this.written + pendingBytes > this.size) throw new Error(`upstream sent more than its Content-Length ${this.size}`);
      // The stream has nothing more buffered: write what we have rather than wait for the socket.
      if (pendingBytes >= SPOOL_WRITE || body.readableLength === 0) await flush();
    }
    await flush();
    if (!body.complete) throw new Error('upstream body ended early');
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

/** Upstream bytes gathered per spool write (memory per fetch in flight: about this much). */
const SPOOL_WRITE = 1024 * 1024;

/** Reads at most this much per read: a reader holds one such buffer at a time at most, plus the stream's queue. */
const READ_SIZE = 256 * 1024;

/**
 * A reader of the spool file that follows the fetch: reads what is written, waits for more,
 * ends after the last byte once the blob is verified, fails if the fetch fails. It reads through
 * the fetch's handle, which stays open while any reader is (the spool may be renamed or unlinked).
 */
class SpoolReader extends Readable {
  private position: number;
  private pumping = false;

  constructor(
    private readonly fetch: BlobFetch,
    start: number,
    /** Inclusive; undefined: to the end of the blob. */
    private readonly end: number | undefined,
    private readonly onClose: () => void,
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
    this.onClose();
    callback(error);
  }

  /** Pushes what is readable until the stream wants no more, waiting for the fetch as needed. */
  private async pump(): Promise<void> {
    await this.fetch.spoolReady;
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
      const file = fetch.file;
      if (!file) throw new Error(`spool ${fetch.spool.path} was closed before this reader came`);
      const length = Math.min(READ_SIZE, readableTo - this.position);
      const buffer = Buffer.allocUnsafe(length);
      const { bytesRead } = await file.read(buffer, 0, length, this.position);
      if (bytesRead === 0) throw new Error(`spool file ${fetch.spool.path} is shorter than ${this.position + 1} bytes`);
      this.position += bytesRead;
      if (!this.push(bytesRead === length ? buffer : buffer.subarray(0, bytesRead))) return;
    }
  }
}
