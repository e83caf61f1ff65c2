import { OffsetMismatchError, PathNotFoundError } from '../storage/driver.ts';
import { RegistryError } from './registry-error.ts';

/**
 * The one translator from failures to RegistryErrors. Domain code (storage, uploads, workers)
 * throws or returns failures without HTTP in them; only here do they get a wire code. Handlers
 * and the pipeline throw RegistryErrors of their own where they know the answer (a range check,
 * an unknown upload); those pass through unchanged. Anything unrecognised is an internal fault:
 * UNKNOWN/500, and the caller (http/server.ts) logs the stack.
 */
export function toRegistryError(err: unknown): RegistryError {
  if (err instanceof RegistryError) return err;
  const failure = storageFailureOf(err);
  if (failure?.reason === 'storage-full') return storageFull(failure.message, err);
  return new RegistryError('UNKNOWN', null, { cause: err });
}

/**
 * A storage failure the registry expects and answers, as a tag. Worker tasks return it: an
 * Error crossing the thread boundary loses its class and `code` (STYLE §6.4). The main thread
 * reads what it catches through the same function, so the errno table is written once.
 */
export type StorageFailure =
  /** ENOSPC or EDQUOT: the write did not fit. Not the client's fault, and nothing stored is touched. */
  | { readonly reason: 'storage-full'; readonly message: string }
  /** The path is gone: for an upload's files, the upload was cancelled (DELETE, purge) meanwhile. */
  | { readonly reason: 'not-found' }
  /** The data file does not hold the size the writer started from: another writer changed it. */
  | { readonly reason: 'offset-mismatch'; readonly size: number };

/** The tag of a failure we expect; undefined for anything else (then it is an internal fault). */
export function storageFailureOf(err: unknown): StorageFailure | undefined {
  if (err instanceof OffsetMismatchError) return { reason: 'offset-mismatch', size: err.size };
  if (err instanceof PathNotFoundError || isNotFound(err)) return { reason: 'not-found' };
  if (isStorageFull(err)) return { reason: 'storage-full', message: (err as Error).message };
  return undefined;
}

/** What a failed append of upload `uuid` at `offset` answers (end-5). */
export function appendFailureError(failure: StorageFailure, uuid: string, offset: number): RegistryError {
  switch (failure.reason) {
    case 'storage-full':
      return storageFull(failure.message);
    case 'not-found':
      return new RegistryError('BLOB_UPLOAD_UNKNOWN', { uuid, reason: 'cancelled while writing' });
    case 'offset-mismatch':
      // The data file is not where we left it: another request or replica changed this upload.
      return new RegistryError('RANGE_NOT_SATISFIABLE', { expectedStart: failure.size, receivedStart: offset });
  }
}

function storageFull(message: string, cause?: unknown): RegistryError {
  return new RegistryError('STORAGE_FULL', { reason: message }, cause === undefined ? undefined : { cause });
}

function isStorageFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** True for the fs error codes that mean "there is nothing at that path" (storage drivers use it). */
export function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
