import { RegistryError } from './registry-error.ts';

/**
 * The one translator from anything thrown to a RegistryError. Domain code (storage, uploads,
 * workers) throws plain failures without HTTP in them; only here do they get a wire code.
 * Anything unrecognised is an internal fault: UNKNOWN/500, and the caller logs the stack.
 */
export function toRegistryError(err: unknown): RegistryError {
  if (err instanceof RegistryError) return err;
  if (isStorageFull(err)) return new RegistryError('STORAGE_FULL', { reason: (err as Error).message }, { cause: err });
  return new RegistryError('UNKNOWN', null, { cause: err });
}

/** ENOSPC or EDQUOT: the write did not fit. */
export function isStorageFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** True for the fs error codes that mean "there is nothing at that path". */
export function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
