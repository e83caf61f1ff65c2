import { looksLikeDigest, parseDigest, type Digest } from '../digest/digest.ts';
import { RegistryError } from '../errors/registry-error.ts';
import type { Services } from '../services.ts';
import { isValidTag } from '../routing/names.ts';

/** A manifest `<reference>`: a digest when it has a ':', else a tag (spec grammar). */
export function parseReference(reference: string): string | Digest {
  if (looksLikeDigest(reference)) return parseDigest(reference);
  if (!isValidTag(reference)) throw new RegistryError('TAG_INVALID', { tag: reference.slice(0, 300), reason: 'not a valid tag: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}' });
  return reference;
}

export function requireParam(value: string | undefined, what: string): string {
  if (value === undefined) throw new Error(`route is missing its ${what} parameter`);
  return value;
}

/** Deletes answer 405 UNSUPPORTED unless `storage.delete.enabled` (distribution's switch). */
export function requireDeleteEnabled(services: Services): void {
  if (!services.config.storage.delete.enabled) throw new RegistryError('UNSUPPORTED', { reason: 'deletes are disabled (storage.delete.enabled)' });
}
