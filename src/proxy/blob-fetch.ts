import { createHash, type Hash } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { Digest } from '../digest/digest.ts';
import { nativeAddon } from '../native/addon.ts';
import { bodyBytesRead } from '../uploads/body-memory.ts';
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
  /** Bytes received and hashed so far: in `recent` or in the spool file. */
  received = 0;
  /** Bytes in the spool file so far. */
  written = 0;
  /**
   * The last bytes received, from memory: a reader keeping up with the fetch (the usual case,
   * every client of a cold pull) is served from here without reading the spool back; one that
   * fell behind reads the file. Holds every byte not yet written, and at least RECENT_BYTES.
   */
  readonly recent = new RecentBytes();
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
    let direct = await openDirect(this.spool.path);
    const noDirect = (): void => {
      void direct?.close().catch(() => undefined);
      direct = undefined;
    };
    try {
      await this.receive(body, hash, file, () => direct, noDirect);
    } finally {
      noDirect();
    }
    if (!body.complete) throw new Error('upstream body ended early');
    if (this.size !== undefined && this.received !== this.size) throw new Error(`upstream sent ${this.received} of ${this.size} bytes`);
    const actual = hash.digest('hex');
    if (actual !== this.digest.hex) throw new DigestMismatchError(this.digest.value, `${this.digest.algorithm}:${actual}`);
    this.verified = true;
    this.changes.emit('change');
  }

  /** The upstream body into the spool and `recent`, hashed; resolves once every byte is written. */
  private async receive(body: IncomingMessage, hash: Hash, file: FileHandle, direct: () => FileHandle | undefined, noDirect: () => void): Promise<void> {
    // Socket chunks (16-64 KiB) are copied into batches of SPOOL_WRITE bytes (RecentBytes), so each
    // chunk dies at once and a minor collection frees it cheaply, as on the upload path
    // (uploads/body-memory.ts); a full batch is written while the next one fills, one write in
    // flight. Readers are told of each chunk as it is hashed, and read it from memory.
    let writing: Promise<void> = Promise.resolve();
    const write = async (batch: Buffer): Promise<void> => {
      // At most one write in flight: the socket waits (backpressure) while the disk is behind.
      await writing;
      const at = this.written;
      // Whole batches at whole-batch offsets go O_DIRECT where the filesystem takes it: the page
      // cache is what a buffered write costs (2.6 CPU-s per GiB here, README "Direct I/O"), and
      // readers keeping up take these bytes from memory. The last, short batch goes buffered.
      const through = direct() !== undefined && batch.length === SPOOL_WRITE && isAligned(batch) ? direct() : undefined;
      const written = through
        ? writeFully(through, batch, at).catch((err: unknown) => {
            // A filesystem that opens O_DIRECT and refuses its writes: buffered from now on.
            if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
            noDirect();
            return writeFully(file, batch, at);
          })
        : writeFully(file, batch, at);
      writing = written.then(() => {
        this.written = at + batch.length;
        this.recent.forgetBefore(this.written);
      });
      // A failed write fails the fetch at the next write or at the end; until then it is not unhandled.
      writing.catch(() => undefined);
    };
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (this.size !== undefined && this.received + chunk.length > this.size) throw new Error(`upstream sent more than its Content-Length ${this.size}`);
      hash.update(chunk);
      const full = this.recent.append(chunk);
      this.received += chunk.length;
      bodyBytesRead(chunk.length);
      this.changes.emit('change');
      for (const batch of full) await write(batch);
    }
    const last = this.recent.unwritten();
    if (last) await write(last);
    await writing;
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

/** Upstream bytes gathered per spool write. */
const SPOOL_WRITE = 1024 * 1024;
/**
 * Bytes kept in memory behind the newest (per fetch in flight: this, plus two batches). Small on
 * purpose: a batch that lives longer survives the minor collections and waits for a full one
 * (bench/proxy, 8 clients on 256 MiB: peak RSS 206-280 MiB with 4 MiB here, 154-161 with 1 MiB,
 * the same CPU per GiB). A reader further behind reads the spool file.
 */
const RECENT_BYTES = 1024 * 1024;

/**
 * The last bytes of the blob as received, in batches of SPOOL_WRITE bytes that the chunks are
 * copied into: [start, end). A batch is dropped from the front only once written and only past
 * RECENT_BYTES, so a byte missing here is in the spool file. Bytes of a batch below its `filled`
 * never change, so readers may hold slices of it.
 */
class RecentBytes {
  private readonly batches: { readonly at: number; readonly bytes: Buffer; filled: number }[] = [];
  /** Offset of the first byte held. */
  start = 0;
  private end = 0;
  /** Bytes of the batches handed out for writing. */
  private handedOut = 0;

  /** Copies `chunk` in; returns the batches it filled, to be written. */
  append(chunk: Buffer): Buffer[] {
    const full: Buffer[] = [];
    for (let from = 0; from < chunk.length; ) {
      let batch = this.batches.at(-1);
      if (!batch || batch.filled === batch.bytes.length) {
        batch = { at: this.end, bytes: alignedBatch(), filled: 0 };
        this.batches.push(batch);
      }
      const copied = chunk.copy(batch.bytes, batch.filled, from);
      batch.filled += copied;
      from += copied;
      this.end += copied;
      if (batch.filled === batch.bytes.length) {
        full.push(batch.bytes);
        this.handedOut = this.end;
      }
    }
    return full;
  }

  /** The last, partly filled batch, once the blob has ended (then nothing more may be appended). */
  unwritten(): Buffer | undefined {
    const batch = this.batches.at(-1);
    if (!batch || batch.at + batch.filled <= this.handedOut) return undefined;
    this.handedOut = this.end;
    return batch.bytes.subarray(0, batch.filled);
  }

  /** Drops batches wholly before `written` while more than RECENT_BYTES are held after them. */
  forgetBefore(written: number): void {
    for (let first = this.batches[0]; first; first = this.batches[0]) {
      const firstEnd = first.at + first.filled;
      if (firstEnd > written || this.end - firstEnd < RECENT_BYTES) return;
      this.batches.shift();
      this.start = firstEnd;
    }
  }

  /** Bytes from `from` (up to `to`, within one batch) when held here; undefined when `from` is before the window. */
  slice(from: number, to: number): Buffer | undefined {
    if (from < this.start || from >= this.end) return undefined;
    const first = this.batches[0];
    if (!first) return undefined;
    // Every batch but the last is SPOOL_WRITE bytes long: the index is arithmetic.
    const batch = this.batches[Math.floor((from - first.at) / SPOOL_WRITE)];
    if (!batch) return undefined;
    return batch.bytes.subarray(from - batch.at, Math.min(batch.filled, to - batch.at));
  }
}

/** O_DIRECT's alignment (memory, offset, length) on the filesystems we run on. */
const DIRECT_ALIGNMENT = 4096;

/** A write-only O_DIRECT handle on `path`, or undefined where it cannot be had (tmpfs, no addon to align memory, not Linux). */
async function openDirect(path: string): Promise<FileHandle | undefined> {
  if (nativeAddon instanceof Error || constants.O_DIRECT === undefined) return undefined;
  return open(path, constants.O_WRONLY | constants.O_DIRECT).catch(() => undefined);
}

/** SPOOL_WRITE bytes whose first byte sits on a DIRECT_ALIGNMENT boundary when the addon can tell. */
function alignedBatch(): Buffer {
  if (nativeAddon instanceof Error) return Buffer.allocUnsafeSlow(SPOOL_WRITE);
  const whole = Buffer.allocUnsafeSlow(SPOOL_WRITE + DIRECT_ALIGNMENT);
  const skip = (DIRECT_ALIGNMENT - nativeAddon.addressMod(whole, DIRECT_ALIGNMENT)) % DIRECT_ALIGNMENT;
  return whole.subarray(skip, skip + SPOOL_WRITE);
}

function isAligned(bytes: Buffer): boolean {
  return !(nativeAddon instanceof Error) && nativeAddon.addressMod(bytes, DIRECT_ALIGNMENT) === 0;
}

async function writeFully(file: FileHandle, bytes: Buffer, at: number): Promise<void> {
  for (let done = 0; done < bytes.length; ) {
    const { bytesWritten } = await file.write(bytes, done, bytes.length - done, at + done);
    done += bytesWritten;
  }
}

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
      const last = this.end ?? (fetch.verified ? fetch.received - 1 : Number.POSITIVE_INFINITY);
      if (this.position > last) {
        this.push(null);
        return;
      }
      // Until verified, the response's last byte stays here: a mismatch must leave every client short.
      const readableTo = fetch.verified ? Math.min(fetch.received, last + 1) : Math.min(fetch.received, last, fetch.received - 1);
      if (this.position >= readableTo) {
        await fetch.changed();
        continue;
      }
      const inMemory = fetch.recent.slice(this.position, readableTo);
      if (inMemory) {
        this.position += inMemory.length;
        if (!this.push(inMemory)) return;
        continue;
      }
      // Behind the window: from the file, which holds every byte before it.
      const fileTo = Math.min(readableTo, fetch.recent.start);
      const file = fetch.file;
      if (!file) throw new Error(`spool ${fetch.spool.path} was closed before this reader came`);
      const length = Math.min(READ_SIZE, fileTo - this.position);
      const buffer = Buffer.allocUnsafe(length);
      const { bytesRead } = await file.read(buffer, 0, length, this.position);
      if (bytesRead === 0) throw new Error(`spool file ${fetch.spool.path} is shorter than ${this.position + 1} bytes`);
      this.position += bytesRead;
      if (!this.push(bytesRead === length ? buffer : buffer.subarray(0, bytesRead))) return;
    }
  }
}
