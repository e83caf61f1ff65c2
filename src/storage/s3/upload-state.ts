/**
 * An upload's progress on S3: ONE small JSON object per upload, `_uploads/<id>/state`, advanced
 * only by compare-and-swap (a conditional PutObject on the ETag the writer last saw).
 *
 * What Ceph RGW 16.2 (pacific, Debian bookworm) honours, found by test/storage/s3-conditional.test.ts:
 *
 * - `If-None-Match: *` on PutObject: honoured. A missing key is created, an existing one refused
 *   with 412; of 12 concurrent creations exactly one wins, the rest get 412.
 * - `If-Match: <etag>` on PutObject: honoured, atomically (a RADOS guard on the head object), with
 *   two quirks:
 *   1. RGW compares the header with the stored ETag, which it keeps WITHOUT quotes, by
 *      strncmp over the stored length: the quoted ETag every response carries never matches
 *      (always 412), the bare one does, and so does anything that merely starts with it. The
 *      client therefore sends the ETag bare (client.ts putObjectIf).
 *   2. Of 12 concurrent replacements of one version exactly one wins (30 rounds), but a loser is
 *      answered either 412 or 500 UnknownError (RGW log: op status=-125, ECANCELED from the
 *      guard). A 500 is therefore an ambiguous answer, not a failure; see `casUploadState`.
 *   `If-Match` on a missing key: 412.
 *
 * So this RGW needs no fallback: the CAS is real. The rule for every ambiguous answer (500,
 * timeout, reset socket: the write may or may not have landed) is to read the state back. Each
 * state body is unique (it carries a version and the writer's random token), so "the stored body
 * is byte-for-byte mine" means the write won, and anything else means it lost → conflict. A late
 * landing of a write we called lost only ever adds bytes the client was not told about (it then
 * sees a larger offset on GET status); it never removes acknowledged bytes. On a store without
 * conditional writes (S3 before 2024, stores that ignore the headers) the safe fallback is to
 * refuse, not to guess: last-writer-wins could cut acknowledged bytes. So start-up probes the store
 * once (probe.ts, from storage/factory.ts openDriver) and refuses to start where either header is
 * ignored, saying why.
 *
 * Why one object and not one per offset (the filesystem's hashstates/<offset> files): on an object
 * store a listing is eventually ordered at best and costs a LIST per request; one GET of one key
 * answers "where is this upload" in one round trip, and one conditional PUT is the whole commit
 * point of a PATCH. Why a `version` and a writer `token` in it: S3 ETags are MD5s of the body, so
 * two writers putting identical JSON would get the same ETag and an If-Match would not tell them
 * apart (ABA); a counter and a token make every body, so every ETag, unique.
 */
import { randomBytes } from 'node:crypto';
import { paths } from '../paths.ts';
import { S3Error, type S3Client } from './client.ts';
import type { KeyLayout } from './layout.ts';

/** What an upload's storage needs: the driver's client and key layout (an S3Driver has both). */
export interface UploadStore {
  readonly client: S3Client;
  readonly layout: KeyLayout;
}

/** A part the state owns: uploaded, and acknowledged by the CAS that recorded it. */
export interface PartRecord {
  readonly number: number;
  readonly etag: string;
  readonly size: number;
}

export interface UploadState {
  /** Format of this object; a reader refuses any other. */
  readonly v: 1;
  /** Bumped by every CAS: makes every body (and ETag) unique, and orders the history. */
  readonly version: number;
  /** Part size fixed when the upload began, so replicas configured differently never mix sizes. */
  readonly chunksize: number;
  /** Acknowledged bytes: the sum of the parts' sizes plus the tail's. */
  readonly offset: number;
  /**
   * The lowest part number never handed out. A writer takes one only by a CAS that bumps it, so
   * two writers never upload the same number: a stale writer cannot overwrite a part the state
   * owns (UploadPart on a taken number would replace it silently). Numbers a loser took stay
   * unused; S3 allows gaps, not more than 10 000.
   */
  readonly nextPart: number;
  /** The multipart upload at `_uploads/<id>/data`, created when the first part is due. */
  readonly multipart: { readonly uploadId: string; readonly parts: readonly PartRecord[] } | null;
  /** Bytes after the last part (< chunksize), an object of its own with a key never reused. */
  readonly tail: { readonly key: string; readonly size: number } | null;
  /** The caller's hash checkpoint at `offset` (base64), or null when it has none. */
  readonly checkpoint: string | null;
  /** Set by commit: no writer may add bytes once a commit has begun. */
  readonly committing: boolean;
  /**
   * Set by a commit that found parts the state does not own (a writer killed, or beaten, after
   * uploading under a number it took): the byte ranges of the owned parts and the tail inside the
   * object that CompleteMultipartUpload assembles from every uploaded part. The blob is copied
   * from those ranges. Recorded before that Complete, so a resumed commit knows the data object
   * holds foreign bytes.
   */
  readonly composed?: readonly { readonly first: number; readonly last: number }[];
  /** Who wrote this version, when: diagnostics only, and part of each body's uniqueness. */
  readonly writer: { readonly token: string; readonly at: string };
}

/** A state as read or written, with the ETag the next CAS must match. */
export interface LoadedState {
  readonly state: UploadState;
  readonly etag: string;
}

/**
 * Another writer advanced the state first (or a commit began, or the offset the caller expected is
 * not the stored one). The caller answers 416 (end-5) and the client asks GET status.
 */
export class UploadConflictError extends Error {
  constructor(
    readonly reason: 'stale' | 'committing' | 'exists',
    detail: string,
  ) {
    super(`upload state conflict (${reason}): ${detail}`);
    this.name = 'UploadConflictError';
  }
}

/** No state object: the upload was never created, or was committed or cancelled. */
export class UploadUnknownError extends Error {
  constructor(readonly id: string) {
    super(`upload ${id} unknown`);
    this.name = 'UploadUnknownError';
  }
}

export function uploadStatePath(repo: string, id: string): string {
  return `${paths.uploadDir(repo, id)}/state`;
}

/** The multipart upload's key: where CompleteMultipartUpload assembles the parts. */
export function uploadDataPath(repo: string, id: string): string {
  return `${paths.uploadDir(repo, id)}/data`;
}

/** A fresh tail key: never one a state names, so writing it can harm nobody. */
export function newTailPath(repo: string, id: string, version: number, token: string): string {
  return `${paths.uploadDir(repo, id)}/tail/${version}-${token}-${randomBytes(4).toString('hex')}`;
}

export function newWriterToken(): string {
  return randomBytes(8).toString('hex');
}

function encode(state: UploadState): Buffer {
  return Buffer.from(JSON.stringify(state));
}

function decode(body: Buffer, where: string): UploadState {
  const parsed = JSON.parse(body.toString('utf8')) as Partial<UploadState>;
  if (parsed.v !== 1 || typeof parsed.offset !== 'number' || typeof parsed.version !== 'number' || typeof parsed.chunksize !== 'number') {
    throw new Error(`upload state ${where}: not a version-1 state`);
  }
  return parsed as UploadState;
}

/** Creates the state of a new upload (create-only: an id is never reused). */
export async function createUploadState(store: UploadStore, repo: string, id: string, chunksize: number): Promise<LoadedState> {
  const state: UploadState = {
    v: 1,
    version: 1,
    chunksize,
    offset: 0,
    nextPart: 1,
    multipart: null,
    tail: null,
    checkpoint: null,
    committing: false,
    writer: { token: newWriterToken(), at: new Date().toISOString() },
  };
  const key = store.layout.key(uploadStatePath(repo, id));
  const result = await store.client.putObjectIf(key, encode(state), { ifNoneMatch: '*' }, 'application/json');
  if (result === 'precondition-failed') throw new UploadConflictError('exists', `upload ${id} already has a state`);
  return { state, etag: result.etag };
}

export async function loadUploadState(store: UploadStore, repo: string, id: string): Promise<LoadedState> {
  const key = store.layout.key(uploadStatePath(repo, id));
  const got = await store.client.getSmallObject(key);
  if (got === undefined) throw new UploadUnknownError(id);
  return { state: decode(got.body, key), etag: got.etag };
}

/**
 * Replaces `current` by `next` if, and only if, nobody replaced `current` since it was read.
 * `next.version` must be `current.version + 1`. Throws UploadConflictError when another writer won.
 * `ambiguousLoss` (when given) is told that a write was judged lost only by reading back after an
 * ambiguous answer: its objects must then be left in place (the write may still land).
 */
export async function casUploadState(store: UploadStore, repo: string, id: string, current: LoadedState, next: UploadState, onAmbiguousLoss?: () => void): Promise<LoadedState> {
  if (next.version !== current.state.version + 1) throw new Error(`upload state: version ${next.version} does not follow ${current.state.version}`);
  const key = store.layout.key(uploadStatePath(repo, id));
  const body = encode(next);
  let result: { etag: string } | 'precondition-failed';
  try {
    result = await store.client.putObjectIf(key, body, { ifMatch: current.etag }, 'application/json');
  } catch (err) {
    // 5xx (RGW's ECANCELED loser) or no answer at all: did it land? The body is unique, so ask.
    const ambiguous = err instanceof S3Error && (err.status >= 500 || err.status === 0);
    if (!ambiguous) throw err;
    const stored = await store.client.getSmallObject(key);
    if (stored !== undefined && stored.body.equals(body)) return { state: next, etag: stored.etag };
    onAmbiguousLoss?.();
    throw new UploadConflictError('stale', `upload ${id}: lost the race for version ${next.version} (${err.message})`);
  }
  if (result === 'precondition-failed') throw new UploadConflictError('stale', `upload ${id}: version ${current.state.version} was replaced by another writer`);
  return { state: next, etag: result.etag };
}
