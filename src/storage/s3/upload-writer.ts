import { S3Error, type ListedPart } from './client.ts';
import type { S3Driver } from './driver.ts';
import {
  UploadConflictError,
  casUploadState,
  createUploadState,
  loadUploadState,
  newTailPath,
  newWriterToken,
  uploadDataPath,
  type LoadedState,
  type PartRecord,
  type UploadState,
} from './upload-state.ts';
import { paths } from '../paths.ts';
import { DEFAULT_CHUNK_SIZE, MIN_CHUNK_SIZE } from './params.ts';

/** A part named in a Complete: its number, ETag and size. */
interface PartSpec {
  readonly partNumber: number;
  readonly etag: string;
  readonly size: number;
}

/** S3's highest part number. */
const MAX_PART_NUMBER = 10_000;
/** How long a commit that lost a race waits for the winner's blob (a copy of GiBs takes a while). */
const COMMIT_WAIT_MS = 30_000;

/**
 * An upload writer over one multipart upload, living only as long as one request: open it from
 * the stored state, append, flush (the CAS that acknowledges), and forget it. Nothing in memory
 * survives between requests, so any replica continues any upload.
 *
 *   PATCH on any replica:  w = await openUploadWriter(driver, repo, id)
 *                          if (w.offset !== rangeStart) → 416
 *                          for each chunk: await w.append(chunk)      (uploads whole parts as they fill)
 *                          offset = await w.flush(hasherCheckpoint)   (tail object + CAS; then 202)
 *   PUT:                   w = await openUploadWriter(...); await w.commit(paths.blobData(digest))
 *   DELETE:                await (await openUploadWriter(...)).cancel()
 *
 * Shape vs distribution's FileWriter {size, write, commit, cancel}: the same four, with `flush`
 * made explicit because on S3 it is the one point where bytes become acknowledged (a CAS that can
 * lose), and `offset` (acknowledged) kept apart from `size` (acknowledged + appended so far).
 *
 * Parts are exactly `chunksize` bytes (R2 and others reject non-uniform parts, distribution
 * PR #4424); bytes that do not fill one wait in the tail object. Each part number is taken by a
 * CAS before the part is uploaded (see UploadState.nextPart), so a stale writer can waste a number
 * but never overwrite a part the state owns. Every UploadConflictError means: answer 416.
 */
export interface UploadWriter {
  /** Acknowledged bytes (the stored state's offset, as of open or the last flush). */
  readonly offset: number;
  /** Acknowledged plus appended bytes. */
  readonly size: number;
  /**
   * Appends bytes; uploads each part that fills. The bytes are copied (the caller may reuse its
   * buffer once this resolves) and acknowledged only by `flush`.
   */
  append(bytes: Uint8Array): Promise<void>;
  /** Writes the rest as the new tail and advances the state by CAS; resolves with the new offset. */
  flush(checkpoint: string | null): Promise<number>;
  /** The checkpoint stored with the acknowledged offset. */
  readonly checkpoint: string | null;
  /**
   * Assembles the acknowledged bytes at `destinationPath` (a driver path, e.g. a blob's data) and
   * deletes the upload. A destination that already exists wins: it is kept, the upload dropped.
   */
  commit(destinationPath: string): Promise<CommitResult>;
  /** AbortMultipartUpload and delete every object of the upload. */
  cancel(): Promise<void>;
}

export interface CommitResult {
  readonly size: number;
  readonly etag: string;
  /** The destination was there already and was kept. */
  readonly existed: boolean;
}

export interface StartUploadOptions {
  /** Part size, ≥ 5 MiB (S3's floor for all parts but the last); default 10 MiB, as distribution. */
  readonly chunksize?: number;
}

/** Creates an upload's state (create-only). */
export async function startUpload(driver: S3Driver, repo: string, id: string, options: StartUploadOptions = {}): Promise<void> {
  const chunksize = options.chunksize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isInteger(chunksize) || chunksize < MIN_CHUNK_SIZE) throw new RangeError(`s3 chunksize ${chunksize}: must be an integer ≥ ${MIN_CHUNK_SIZE}`);
  await createUploadState(driver, repo, id, chunksize);
}

export async function openUploadWriter(driver: S3Driver, repo: string, id: string): Promise<UploadWriter> {
  return new S3UploadWriter(driver, repo, id, await loadUploadState(driver, repo, id));
}

/** Options for tests: ListParts page size (to exercise its pagination without 1000 parts). */
export interface WriterTestHooks {
  listPartsPageSize?: number;
}

export const writerTestHooks: WriterTestHooks = {};

class S3UploadWriter implements UploadWriter {
  private readonly token = newWriterToken();
  private loaded: LoadedState;
  /**
   * Bytes past the last whole part: the stored tail (loaded on first append) and then new bytes,
   * in one buffer of `chunksize` reused for every part (no per-part allocation or concat).
   */
  private carry: Buffer | undefined;
  private fill = 0;
  private tailLoaded: boolean;
  /** Parts uploaded by this writer, acknowledged at the next flush. */
  private newParts: PartRecord[] = [];
  private newPartBytes = 0;
  /** Tail keys this writer put that no state names (deleted on a clean loss). */
  private closed = false;

  constructor(
    private readonly driver: S3Driver,
    private readonly repo: string,
    private readonly id: string,
    loaded: LoadedState,
  ) {
    this.loaded = loaded;
    this.tailLoaded = loaded.state.tail === null;
  }

  get offset(): number {
    return this.loaded.state.offset;
  }

  /** Bytes after the last whole part, the stored tail included (loaded or not). */
  private get carrySize(): number {
    return this.tailLoaded ? this.fill : (this.loaded.state.tail?.size ?? 0);
  }

  get size(): number {
    return this.offset + this.newPartBytes + this.carrySize - (this.loaded.state.tail?.size ?? 0);
  }

  get checkpoint(): string | null {
    return this.loaded.state.checkpoint;
  }

  private key(path: string): string {
    return this.driver.layout.key(path);
  }

  private live(allowCommitting = false): UploadState {
    if (this.closed) throw new Error(`upload ${this.id}: writer already committed or cancelled`);
    const state = this.loaded.state;
    if (state.committing && !allowCommitting) throw new UploadConflictError('committing', `upload ${this.id} is being committed`);
    return state;
  }

  /** A CAS of the state with `change` applied and the version bumped. */
  private async advance(change: Partial<UploadState>, onAmbiguousLoss?: () => void): Promise<void> {
    const current = this.loaded;
    const next: UploadState = { ...current.state, ...change, version: current.state.version + 1, writer: { token: this.token, at: new Date().toISOString() } };
    this.loaded = await casUploadState(this.driver, this.repo, this.id, current, next, onAmbiguousLoss);
  }

  private async loadTail(): Promise<Buffer> {
    const carry = (this.carry ??= Buffer.allocUnsafe(this.loaded.state.chunksize));
    if (this.tailLoaded) return carry;
    const tail = this.loaded.state.tail;
    if (tail !== null) {
      const got = await this.driver.client.getSmallObject(tail.key);
      if (got === undefined || got.body.length !== tail.size) {
        // The state names it, so it must be there: only a cancel (or a commit) deletes it.
        throw new UploadConflictError('stale', `upload ${this.id}: tail ${tail.key} is ${got === undefined ? 'gone' : `${got.body.length} bytes, not ${tail.size}`}`);
      }
      got.body.copy(carry, 0);
      this.fill = got.body.length;
    }
    this.tailLoaded = true;
    return carry;
  }

  async append(bytes: Uint8Array): Promise<void> {
    const state = this.live();
    if (bytes.byteLength === 0) return;
    const carry = await this.loadTail();
    const source = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let at = 0; at < source.length; ) {
      const taken = source.copy(carry, this.fill, at);
      this.fill += taken;
      at += taken;
      if (this.fill === state.chunksize) {
        await this.uploadOnePart(carry);
        this.fill = 0;
      }
    }
  }

  /** Takes a part number by CAS and uploads the full carry as that part. */
  private async uploadOnePart(body: Buffer): Promise<void> {
    const chunksize = body.length;
    const number = this.loaded.state.nextPart;
    if (number > MAX_PART_NUMBER) throw new S3Error('UploadPart', 'TooManyParts', 0, `upload ${this.id}: part number ${number} is past S3's ${MAX_PART_NUMBER}`);
    let multipart = this.loaded.state.multipart;
    if (multipart === null) {
      const uploadId = await this.driver.client.createMultipartUpload(this.key(uploadDataPath(this.repo, this.id)));
      try {
        await this.advance({ nextPart: number + 1, multipart: { uploadId, parts: [] } });
      } catch (err) {
        await this.driver.client.abortMultipartUpload(this.key(uploadDataPath(this.repo, this.id)), uploadId).catch(() => undefined);
        throw err;
      }
      multipart = { uploadId, parts: [] };
    } else {
      await this.advance({ nextPart: number + 1 });
    }
    const etag = await this.driver.client.uploadPart(this.key(uploadDataPath(this.repo, this.id)), multipart.uploadId, number, body);
    this.newParts.push({ number, etag, size: chunksize });
    this.newPartBytes += chunksize;
  }

  async flush(checkpoint: string | null): Promise<number> {
    const state = this.live();
    const oldTail = state.tail;
    const tailUntouched = this.newParts.length === 0 && this.carrySize === (oldTail?.size ?? 0);
    if (tailUntouched && checkpoint === state.checkpoint) return state.offset;
    let tail = oldTail;
    let putTail: string | undefined;
    if (!tailUntouched) {
      if (this.carrySize === 0) tail = null;
      else {
        const carry = await this.loadTail();
        const path = newTailPath(this.repo, this.id, state.version + 1, this.token);
        putTail = this.key(path);
        await this.driver.client.putObject(putTail, carry.subarray(0, this.fill));
        tail = { key: putTail, size: this.carrySize };
      }
    }
    const multipart = state.multipart === null ? null : { uploadId: state.multipart.uploadId, parts: [...state.multipart.parts, ...this.newParts] };
    const offset = state.offset + this.newPartBytes + this.carrySize - (oldTail?.size ?? 0);
    let ambiguous = false;
    try {
      await this.advance({ offset, multipart, tail, checkpoint }, () => {
        ambiguous = true;
      });
    } catch (err) {
      // A clean loss: nobody will ever name our new tail. An ambiguous one: it may yet be named.
      if (putTail !== undefined && !ambiguous && err instanceof UploadConflictError) await this.driver.client.deleteObject(putTail).catch(() => undefined);
      throw err;
    }
    this.newParts = [];
    this.newPartBytes = 0;
    // The tail this state replaced is named by no state from now on (versions only go forward).
    if (oldTail !== null && tail !== oldTail) await this.driver.client.deleteObject(oldTail.key).catch(() => undefined);
    return offset;
  }

  /**
   * Every step is safe to run twice, so a commit that died half-way (or two at once: a client's
   * retried PUT on another replica) is finished by the next commit: a state already `committing`
   * is taken as it is, a multipart upload already completed is found as its data object, and
   * whichever copy lands first leaves the same bytes.
   */
  async commit(destinationPath: string): Promise<CommitResult> {
    const state = this.live(true);
    if (this.newParts.length > 0 || this.carrySize !== (state.tail?.size ?? 0)) throw new Error(`upload ${this.id}: commit with bytes appended but not flushed`);
    const destination = this.key(destinationPath);
    const dataKey = this.key(uploadDataPath(this.repo, this.id));
    const existing = await this.driver.client.headObject(destination);
    if (existing !== undefined) {
      await this.cancel();
      return { size: existing.size, etag: existing.etag, existed: true };
    }
    // From here no writer may append (their next CAS fails, and they refuse a committing state).
    // The tail's part number is taken by this same CAS (a resumed commit finds it taken already).
    let tailPart: number;
    if (state.committing) tailPart = state.nextPart - 1;
    else {
      tailPart = state.nextPart;
      await this.advance({ committing: true, nextPart: tailPart + 1 });
    }
    const multipart = state.multipart;
    try {
      if (multipart === null || multipart.parts.length === 0) {
        // Under one part: the tail is the whole blob; one server-side copy (or an empty PUT).
        if (state.tail === null) await this.driver.client.putObject(destination, Buffer.alloc(0));
        else await this.driver.client.copyObject(state.tail.key, destination);
      } else {
        const completed = await this.driver.client.headObject(dataKey);
        if (completed === undefined) {
          const listed = await this.checkParts(dataKey, multipart.uploadId, multipart.parts);
          const parts = multipart.parts.map((p) => ({ partNumber: p.number, etag: p.etag, size: p.size }));
          if (state.tail !== null) {
            const etag = await this.driver.client.uploadPartCopy(state.tail.key, dataKey, multipart.uploadId, tailPart, 0, state.tail.size - 1);
            parts.push({ partNumber: tailPart, etag, size: state.tail.size });
          }
          const owned = new Set(parts.map((p) => p.partNumber));
          const foreign = listed.filter((p) => !owned.has(p.partNumber));
          if (foreign.length === 0) await this.driver.client.completeMultipartUpload(dataKey, multipart.uploadId, parts);
          else await this.completeAroundForeignParts(dataKey, multipart.uploadId, parts, foreign);
        }
        const composed = this.loaded.state.composed;
        if (composed === undefined) {
          // One server-side copy to the blob (multipart copy above 5 GiB: the driver's move).
          await this.driver.move(uploadDataPath(this.repo, this.id), destinationPath);
        } else {
          await this.copyRanges(dataKey, destination, composed);
          await this.driver.client.deleteObject(dataKey);
        }
      }
    } catch (err) {
      // A concurrent commit of the same upload is ahead (RGW: "This multipart completion is
      // already in progress", or our data/parts gone under us): wait a little for its blob, else
      // fail; the client's next PUT resumes from the committing state.
      if (!(await this.landed(destination, state.offset))) throw err;
    }
    const head = await this.driver.client.headObject(destination);
    if (head === undefined) throw new Error(`upload ${this.id}: ${destination} missing after commit`);
    if (head.size !== state.offset) throw new Error(`upload ${this.id}: committed ${head.size} bytes, state says ${state.offset}`);
    await this.abortAll(undefined);
    await this.driver.delete(paths.uploadDir(this.repo, this.id));
    this.closed = true;
    return { size: head.size, etag: head.etag, existed: false };
  }

  /** Polls (up to COMMIT_WAIT_MS) for `destination` to hold `size` bytes. */
  private async landed(destination: string, size: number): Promise<boolean> {
    const deadline = Date.now() + COMMIT_WAIT_MS;
    for (;;) {
      const head = await this.driver.client.headObject(destination);
      if (head !== undefined && head.size === size) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /**
   * Parts the state does not own are in the upload (a writer died, or lost its flush, after an
   * UploadPart). S3 would let Complete leave them out; RGW refuses with InvalidPart unless the
   * request names every uploaded part in order (rgw_op.cc: "parts num mismatch"), and no API
   * deletes a part. So: record where the owned bytes will lie, complete with every part, and the
   * blob is then copied from those ranges (copyRanges), skipping the foreign ones.
   */
  private async completeAroundForeignParts(dataKey: string, uploadId: string, owned: readonly PartSpec[], foreign: readonly ListedPart[]): Promise<void> {
    const ownedNumbers = new Set(owned.map((p) => p.partNumber));
    const all: PartSpec[] = [...owned, ...foreign.map((p) => ({ partNumber: p.partNumber, etag: p.etag, size: p.size }))].sort((x, y) => x.partNumber - y.partNumber);
    const composed: { first: number; last: number }[] = [];
    let at = 0;
    for (const part of all) {
      if (ownedNumbers.has(part.partNumber)) composed.push({ first: at, last: at + part.size - 1 });
      at += part.size;
    }
    await this.advance({ composed });
    await this.driver.client.completeMultipartUpload(dataKey, uploadId, all.map(({ partNumber, etag }) => ({ partNumber, etag })));
  }

  /** The blob from byte ranges of the completed data object: one UploadPartCopy per range (each a whole part, or the tail). */
  private async copyRanges(dataKey: string, destination: string, ranges: readonly { first: number; last: number }[]): Promise<void> {
    const uploadId = await this.driver.client.createMultipartUpload(destination);
    try {
      const parts: { partNumber: number; etag: string }[] = [];
      for (const [i, range] of ranges.entries()) {
        parts.push({ partNumber: i + 1, etag: await this.driver.client.uploadPartCopy(dataKey, destination, uploadId, i + 1, range.first, range.last) });
      }
      await this.driver.client.completeMultipartUpload(destination, uploadId, parts);
    } catch (err) {
      await this.driver.client.abortMultipartUpload(destination, uploadId).catch(() => undefined);
      throw err;
    }
  }

  /** The parts S3 holds must include every part the state owns, ETag and size alike (ListParts, every page); returns them all. */
  private async checkParts(dataKey: string, uploadId: string, owned: readonly PartRecord[]): Promise<ListedPart[]> {
    const all = await this.driver.client.listAllParts(dataKey, uploadId, writerTestHooks.listPartsPageSize);
    const listed = new Map(all.map((p) => [p.partNumber, p]));
    for (const part of owned) {
      const found = listed.get(part.number);
      if (found === undefined || found.etag !== part.etag || found.size !== part.size) {
        throw new Error(`upload ${this.id}: part ${part.number} is ${found === undefined ? 'missing' : `${found.size} bytes ${found.etag}`} in S3, the state says ${part.size} bytes ${part.etag}`);
      }
    }
    return all;
  }

  /**
   * Aborts every multipart upload at the upload's data key, not just the one the state names: a
   * writer that died between CreateMultipartUpload and its CAS left one nobody names, and S3
   * keeps (and bills) its parts until aborted. Then deletes every object of the upload.
   */
  async cancel(): Promise<void> {
    await this.abortAll(this.loaded.state.multipart?.uploadId);
    await this.driver.delete(paths.uploadDir(this.repo, this.id));
    this.closed = true;
  }

  /**
   * Aborts `named` and every other multipart upload open at the data key: one a writer created and
   * died before recording (its CAS never came) is named by no state, and once the upload's folder
   * is gone nothing would ever find it again (found by test/s3/crash's leak check).
   */
  private async abortAll(named: string | undefined): Promise<void> {
    const dataKey = this.key(uploadDataPath(this.repo, this.id));
    const found = (await this.driver.client.listMultipartUploads(dataKey)).filter((u) => u.key === dataKey).map((u) => u.uploadId);
    for (const uploadId of new Set([...(named === undefined ? [] : [named]), ...found])) await this.driver.client.abortMultipartUpload(dataKey, uploadId);
  }
}
