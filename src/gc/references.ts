import type { Digest } from '../digest/digest.ts';
import { parseManifest } from '../manifests/validate.ts';
import { isSchema1, schema1Layers } from '../manifests/schema1.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { paths } from '../storage/paths.ts';

/** What a stored manifest keeps alive: the part of it the mark phase reads. */
export interface ManifestReferences {
  /** Blobs it needs: config and layers (schema 2, OCI), fsLayers (schema 1). */
  readonly blobs: readonly Digest[];
  /** Manifests an index lists. */
  readonly children: readonly Digest[];
  /** OCI 1.1 subject: a kept subject keeps this manifest as its referrer. */
  readonly subject: Digest | undefined;
}

/** One revision the mark phase could not read or parse. */
export interface UnreadableManifest {
  /** `repo@digest` */
  readonly revision: string;
  /** The manifest's bytes in the storage layout (driver path, paths.blobData). */
  readonly path: string;
  readonly reason: string;
}

/**
 * The mark phase met manifests it cannot read, so it cannot know what they reference: nothing was
 * deleted (issue 9: fail closed, as distribution's markManifestReferences aborts on a failed Get).
 */
export class GcAbortedError extends Error {
  constructor(readonly unreadable: readonly UnreadableManifest[]) {
    const first = unreadable[0];
    super(`garbage collection stopped, nothing deleted: ${unreadable.length} manifest(s) could not be read${first ? `; first ${first.revision} at ${first.path}: ${first.reason}` : ''}`);
    this.name = 'GcAbortedError';
  }
}

/**
 * Reads a revision's manifest for marking. Every failure (missing bytes, EIO, EISDIR, EMFILE, a
 * truncated file, a type we do not know) comes back as UnreadableManifest, never as "references
 * nothing": treating it as empty would sweep the layers of an image that is still served.
 */
export async function readReferences(driver: StorageDriver, repo: string, digest: Digest): Promise<ManifestReferences | UnreadableManifest> {
  const path = paths.blobData(digest);
  const unreadable = (reason: string): UnreadableManifest => ({ revision: `${repo}@${digest.value}`, path, reason });
  let bytes: Buffer;
  try {
    bytes = await driver.getContent(path);
  } catch (err) {
    return unreadable(`cannot read: ${describe(err)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    return unreadable(`not JSON (${bytes.length} bytes; truncated?): ${describe(err)}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return unreadable('not a JSON object');
  try {
    const object = json as Record<string, unknown>;
    if (isSchema1(object)) return { blobs: schema1Layers(object), children: [], subject: undefined };
    const parsed = parseManifest(bytes, undefined);
    return { blobs: parsed.blobs.map((b) => b.digest), children: parsed.children.map((c) => c.digest), subject: parsed.subject?.digest };
  } catch (err) {
    return unreadable(`not a manifest we can parse: ${describe(err)}`);
  }
}

export function isUnreadable(value: ManifestReferences | UnreadableManifest): value is UnreadableManifest {
  return 'reason' in value;
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // RegistryError (manifests/validate.ts) carries the reason in its detail.
  const detail = (err as { detail?: unknown }).detail;
  const reason = typeof detail === 'object' && detail !== null ? (detail as { reason?: unknown }).reason : undefined;
  return typeof reason === 'string' ? reason : err.message; // an fs error's message starts with its code (EIO, EISDIR)
}
