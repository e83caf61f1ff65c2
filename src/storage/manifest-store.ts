import { createHash } from 'node:crypto';
import { sha256Digest, tryParseDigest, type Digest } from '../digest/digest.ts';
import { RegistryError } from '../errors/registry-error.ts';
import { MEDIA_TYPE } from '../manifests/media-types.ts';
import { parseManifest, type ParsedManifest } from '../manifests/validate.ts';
import type { BlobStore } from './blob-store.ts';
import { getContentIfExists, type StorageDriver } from './driver.ts';
import { paths } from './paths.ts';
import { KeyedQueue } from './keyed-queue.ts';
import { LinkCache } from './link-cache.ts';
import { repositoryExists } from './repositories.ts';

/** How long another process's tag change may go unseen here (link-cache.ts). */
const LINK_TTL_MS = 1000;

/**
 * Manifests, tags and referrers of a repository, in distribution's layout: manifest bytes are
 * blobs, a revision link puts one in a repository, a tag is a link to a revision.
 * Bytes are stored as pushed, so GET by tag and by digest return what was PUT, byte for byte.
 */
export interface StoredManifest {
  readonly digest: Digest;
  readonly bytes: Buffer;
  readonly mediaType: string;
}

export interface ReferrerDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export class ManifestStore {
  /** Manifest bytes by digest: content-addressed, so a cached entry can never be stale. */
  private readonly cache = new Map<string, StoredManifest>();
  private static readonly CACHE_ENTRIES = 1024;
  /** tag → digest (null: no such tag), and whether a revision is in a repository; link-cache.ts. */
  private readonly tags = new LinkCache<Digest | null>(LINK_TTL_MS, 100_000);
  private readonly revisions = new LinkCache<boolean>(LINK_TTL_MS, 100_000);
  private readonly tagLists = new LinkCache<readonly string[]>(LINK_TTL_MS, 10_000);
  /**
   * Link changes per tag (`repo:tag`) and per revision (`repo@digest`) run one at a time, each
   * with its cache update: concurrent pushes of one tag leave the cache naming the link that
   * storage kept, and a push racing a DELETE of the same tag cannot write into a directory the
   * DELETE is removing (both found by test/api/concurrency.test.ts).
   */
  private readonly linkChanges = new KeyedQueue();

  constructor(
    private readonly driver: StorageDriver,
    private readonly blobs: BlobStore,
  ) {}

  /** Resolves a tag or digest reference to the manifest; MANIFEST_UNKNOWN (code-7) when absent. */
  async get(repo: string, reference: Tag | Digest): Promise<StoredManifest> {
    const digest = typeof reference === 'string' ? await this.resolveTag(repo, reference) : reference;
    if (!digest || !(await this.hasRevision(repo, digest))) {
      throw new RegistryError('MANIFEST_UNKNOWN', { name: repo, reference: typeof reference === 'string' ? reference : reference.value });
    }
    const manifest = await this.load(digest);
    if (!manifest) throw new RegistryError('MANIFEST_UNKNOWN', { name: repo, reference: digest.value });
    return manifest;
  }

  async resolveTag(repo: string, tag: string): Promise<Digest | undefined> {
    const key = `${repo}:${tag}`;
    const cached = this.tags.get(key);
    if (cached !== undefined) return cached ?? undefined;
    const token = this.tags.readToken();
    const link = await getContentIfExists(this.driver, paths.tagCurrentLink(repo, tag));
    const digest = link && tryParseDigest(link.toString('utf8').trim());
    this.tags.fill(key, digest ?? null, token);
    return digest;
  }

  /** Whether the manifest is in the repository (its revision link exists). */
  async hasRevision(repo: string, digest: Digest): Promise<boolean> {
    const key = `${repo}@${digest.value}`;
    const cached = this.revisions.get(key);
    if (cached !== undefined) return cached;
    const token = this.revisions.readToken();
    const exists = (await this.driver.stat(paths.revisionLink(repo, digest))) !== undefined;
    this.revisions.fill(key, exists, token);
    return exists;
  }

  private async load(digest: Digest): Promise<StoredManifest | undefined> {
    const cached = this.cache.get(digest.value);
    if (cached) return cached;
    const bytes = await this.blobs.read(digest);
    if (!bytes) return undefined;
    const manifest = { digest, bytes, mediaType: storedMediaType(bytes) };
    if (this.cache.size >= ManifestStore.CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(digest.value, manifest);
    return manifest;
  }

  /**
   * Stores a pushed manifest (end-7) after checking it: valid (MANIFEST_INVALID), everything it
   * references present in this repository (MANIFEST_BLOB_UNKNOWN; a missing `subject` is allowed
   * by OCI 1.1), and a digest reference matching the body (DIGEST_INVALID).
   */
  async put(repo: string, reference: Tag | Digest, tags: readonly Tag[], bytes: Buffer, contentType: string | undefined): Promise<{ digest: Digest; parsed: ParsedManifest }> {
    const digest = sha256Digest(createHash('sha256').update(bytes).digest('hex'));
    if (typeof reference !== 'string') this.checkDigestReference(reference, bytes, digest);
    const parsed = parseManifest(bytes, contentType);
    await this.checkReferences(repo, parsed);
    const stored = typeof reference === 'string' || reference.algorithm === 'sha256' ? digest : reference;

    await this.blobs.put(stored, bytes);
    const revision = `${repo}@${stored.value}`;
    await this.linkChanges.run(revision, async () => {
      await this.driver.putContent(paths.revisionLink(repo, stored), stored.value);
      this.revisions.set(revision, true);
    });
    if (parsed.subject) await this.driver.putContent(paths.referrerLink(repo, parsed.subject.digest, stored), stored.value);
    for (const tag of typeof reference === 'string' ? [reference, ...tags] : tags) await this.tag(repo, tag, stored);
    return { digest: stored, parsed };
  }

  private checkDigestReference(reference: Digest, bytes: Buffer, sha256: Digest): void {
    const actual = reference.algorithm === 'sha256' ? sha256.hex : createHash(reference.algorithm).update(bytes).digest('hex');
    if (actual !== reference.hex) throw new RegistryError('DIGEST_INVALID', { expected: reference.value, actual: `${reference.algorithm}:${actual}` });
  }

  /**
   * Everything the manifest references must be in the repository. Each link is touched first:
   * a garbage collection running now sees it in use and keeps the blob (gc/garbage-collect.ts;
   * the race distribution issues #3045 and #2962 describe).
   */
  private async checkReferences(repo: string, parsed: ParsedManifest): Promise<void> {
    for (const blob of parsed.blobs) {
      // Foreign layers (urls set) live outside the registry by design (schema2 "foreign layers").
      if (blob.urls && blob.urls.length > 0) continue;
      await this.driver.touch(paths.layerLink(repo, blob.digest));
      if ((await this.blobs.statInRepository(repo, blob.digest)) === undefined) {
        throw new RegistryError('MANIFEST_BLOB_UNKNOWN', { digest: blob.digest.value });
      }
    }
    for (const child of parsed.children) {
      await this.driver.touch(paths.revisionLink(repo, child.digest));
      if (!(await this.hasRevision(repo, child.digest))) {
        throw new RegistryError('MANIFEST_BLOB_UNKNOWN', { digest: child.digest.value });
      }
    }
  }

  private async tag(repo: string, tag: Tag, digest: Digest): Promise<void> {
    const key = `${repo}:${tag}`;
    await this.linkChanges.run(key, async () => {
      await this.driver.putContent(paths.tagIndexLink(repo, tag, digest), digest.value);
      await this.driver.putContent(paths.tagCurrentLink(repo, tag), digest.value);
      this.tags.set(key, digest);
      this.tagLists.delete(repo);
    });
  }

  /** Deletes a tag only (OCI 1.1 end-9 with a tag). */
  async deleteTag(repo: string, tag: Tag): Promise<void> {
    if (!(await this.deleteTagIf(repo, tag, () => true))) throw new RegistryError('MANIFEST_UNKNOWN', { name: repo, reference: tag });
  }

  /** Removes the tag if it exists and `points` accepts its digest; false when it did not. */
  private deleteTagIf(repo: string, tag: Tag, points: (digest: Digest) => boolean): Promise<boolean> {
    const key = `${repo}:${tag}`;
    return this.linkChanges.run(key, async () => {
      // Read under the queue: a push of this tag that finished first is what is judged.
      this.tags.delete(key);
      const current = await this.resolveTag(repo, tag);
      if (!current || !points(current)) return false;
      await this.driver.delete(paths.tagDir(repo, tag));
      this.tags.delete(key);
      this.tagLists.delete(repo);
      return true;
    });
  }

  /** Deletes a manifest from the repository, with every tag that points at it (as distribution does). */
  async deleteRevision(repo: string, digest: Digest): Promise<void> {
    const manifest = await this.get(repo, digest);
    for (const tag of await this.listTags(repo)) {
      await this.deleteTagIf(repo, tag, (current) => current.value === digest.value);
    }
    const subject = safeParse(manifest.bytes)?.subject;
    if (subject) await this.driver.delete(paths.referrerDir(repo, subject.digest, digest));
    const revision = `${repo}@${digest.value}`;
    await this.linkChanges.run(revision, async () => {
      await this.driver.delete(paths.revisionDir(repo, digest));
      this.revisions.delete(revision);
    });
  }

  async listTags(repo: string): Promise<string[]> {
    return this.driver.list(paths.tagsDir(repo));
  }

  /**
   * The repository's tags, sorted, or undefined when there is no such repository (end-8a).
   * Cached like the links; only a found repository is cached, so a first push shows at once.
   */
  async tagsOf(repo: string): Promise<readonly string[] | undefined> {
    const cached = this.tagLists.get(repo);
    if (cached) return cached;
    const token = this.tagLists.readToken();
    if (!(await repositoryExists(this.driver, repo))) return undefined;
    const tags = await this.listTags(repo);
    this.tagLists.fill(repo, tags, token);
    return tags;
  }

  /** Manifests in `repo` whose subject is `subject` (end-12), as index descriptors. */
  async listReferrers(repo: string, subject: Digest, artifactType: string | undefined): Promise<ReferrerDescriptor[]> {
    const dir = paths.referrersDir(repo, subject);
    const found: ReferrerDescriptor[] = [];
    for (const algorithm of await this.driver.list(dir)) {
      for (const hex of await this.driver.list(paths.referrersOfAlgorithm(repo, subject, algorithm))) {
        const digest = tryParseDigest(`${algorithm}:${hex}`);
        if (!digest || !(await this.hasRevision(repo, digest))) continue;
        const manifest = await this.load(digest);
        const parsed = manifest && safeParse(manifest.bytes);
        if (!manifest || !parsed) continue;
        if (artifactType !== undefined && parsed.artifactType !== artifactType) continue;
        found.push({
          mediaType: manifest.mediaType,
          digest: digest.value,
          size: manifest.bytes.length,
          ...(parsed.artifactType !== undefined ? { artifactType: parsed.artifactType } : {}),
          ...(parsed.annotations !== undefined ? { annotations: { ...parsed.annotations } } : {}),
        });
      }
    }
    return found;
  }
}

/** A tag, already checked against the tag grammar (routing/names.ts). */
export type Tag = string;

function safeParse(bytes: Buffer): ParsedManifest | undefined {
  try {
    return parseManifest(bytes, undefined);
  } catch {
    return undefined;
  }
}

/** The media type a stored manifest is served with: its own `mediaType`, else by shape (as distribution). */
function storedMediaType(bytes: Buffer): string {
  try {
    const json = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    if (typeof json['mediaType'] === 'string') return json['mediaType'];
    return Array.isArray(json['manifests']) ? MEDIA_TYPE.ociIndex : MEDIA_TYPE.ociManifest;
  } catch {
    return MEDIA_TYPE.ociManifest;
  }
}
