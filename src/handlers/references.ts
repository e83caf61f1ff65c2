import { looksLikeDigest, parseDigest, type Digest } from '../digest/digest.ts';
import { RegistryError } from '../errors/registry-error.ts';
import type { Services } from '../services.ts';
import { isValidTag } from '../routing/names.ts';

const TAG_GRAMMAR = '[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}';

/**
 * The `<reference>` of a manifest PUT (end-7): a digest when it has a ':' (malformed →
 * DIGEST_INVALID), else a tag, which must follow the spec grammar (TAG_INVALID): nothing can be
 * stored under any other name.
 */
export function parsePushReference(reference: string): string | Digest {
  if (looksLikeDigest(reference)) return parseDigest(reference);
  if (!isValidTag(reference)) throw new RegistryError('TAG_INVALID', { tag: reference.slice(0, 300), reason: `not a valid tag: ${TAG_GRAMMAR}` });
  return reference;
}

/**
 * The `<reference>` of a manifest GET, HEAD (end-3) or DELETE (end-9). A malformed digest is
 * still DIGEST_INVALID (code-4). A reference outside the tag grammar names nothing that could
 * have been stored, so it is unknown like any absent tag: 404 MANIFEST_UNKNOWN (code-7). The OCI
 * conformance suite pulls `.INVALID_MANIFEST_NAME` and expects 404; distribution answers 404 for
 * every method there too, because its route does not match such a reference.
 */
export function parseLookupReference(name: string, reference: string): string | Digest {
  if (looksLikeDigest(reference)) return parseDigest(reference);
  if (!isValidTag(reference)) throw new RegistryError('MANIFEST_UNKNOWN', { name, reference: reference.slice(0, 300), reason: `not a valid tag: ${TAG_GRAMMAR}` });
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
