import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { sha256Digest, tryParseDigest, type Digest } from '../digest/digest.ts';
import { RegistryError } from '../errors/registry-error.ts';
import { MEDIA_TYPE } from '../manifests/media-types.ts';
import { parseManifest, type Descriptor, type ManifestLimits, type ParsedManifest } from '../manifests/validate.ts';
import type { BlobStore } from './blob-store.ts';
import { getContentIfExists, type StorageDriver } from './driver.ts';
import { DropFenceReader, revisionKey } from './drop-fence.ts';
import { paths } from './paths.ts';
import { KeyedQueue } from './keyed-queue.ts';
import { CacheCounts, ENTRY_OVERHEAD_BYTES, LINK_TTL_MS, LinkCache, stringBytes } from './link-cache.ts';
import { repositoryExists } from './repositories.ts';

const MIB = 1024 * 1024;
/** Memory for manifest bytes served again (GET by tag and digest, referrers). */
const MANIFEST_CACHE_BYTES = 32 * MIB;
const MANIFEST_CACHE_ENTRY_MAX = 1 * MIB;
/** Most descriptors a pushed manifest may list (issue 9); Docker itself stops at 127 layers. */
export const DEFAULT_MAX_REFERENCES = 10_000;
/**
 * Reference checks of one PUT in flight at once. Each is a few fs calls on libuv's pool (16
 * threads, registry.ts): 8 keeps that pool busy without leaving other requests behind one PUT.
 */
const REFERENCE_CHECKS_IN_FLIGHT = 8;

export interface ManifestStoreOptions {
  /** A pushed manifest listing more descriptors is refused with MANIFEST_INVALID; 0 = no limit. */
  readonly maxReferences?: number;
}

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
  /**
   * Manifest bytes by digest: content-addressed, so a cached entry can never be stale. Bounded
   * in bytes (issue 9: 1024 entries of up to 4 MiB were 4 GiB); a manifest over
   * MANIFEST_CACHE_ENTRY_MAX is read from storage each time rather than flush the hot ones.
   */
  private readonly cache = new LRUCache<string, StoredManifest>({
    maxSize: MANIFEST_CACHE_BYTES,
    maxEntrySize: MANIFEST_CACHE_ENTRY_MAX,
    sizeCalculation: (manifest, key) => manifest.bytes.length + stringBytes(key) + stringBytes(manifest.mediaType) + ENTRY_OVERHEAD_BYTES,
  });
  /** Lookups of the manifest cache (src/metrics reads them). */
  private readonly manifestCounts = new CacheCounts();
  /** tag → digest (null: no such tag), and whether a revision is in a repository; link-cache.ts. */
  private readonly tags = new LinkCache<Digest | null>({ ttlMs: LINK_TTL_MS, maxBytes: 16 * MIB, valueBytes: digestBytes });
  private readonly revisions = new LinkCache<boolean>({ ttlMs: LINK_TTL_MS, maxBytes: 8 * MIB, valueBytes: () => 0 });
  /** A repository's tags: one entry may be large (100 000 tags), so it gets a quarter of the budget at most. */
  private readonly tagLists = new LinkCache<readonly string[]>({
    ttlMs: LINK_TTL_MS,
    maxBytes: 16 * MIB,
    maxEntryBytes: 4 * MIB,
    valueBytes: (tags) => tags.reduce((sum, tag) => sum + stringBytes(tag) + 8, 0),
  });
  /**
   * Link changes per tag (`repo:tag`) and per revision (`repo@digest`) run one at a time, each
   * with its cache update: concurrent pushes of one tag leave the cache naming the link that
   * storage kept, and a push racing a DELETE of the same tag cannot write into a directory the
   * DELETE is removing (both found by test/api/concurrency.test.ts).
   */
  private readonly linkChanges = new KeyedQueue();

  private readonly limits: ManifestLimits;
  /** Garbage collection's untagged-manifest drops and this store's PUTs take turns (storage/drop-fence.ts). */
  private readonly dropFence: DropFenceReader;

  constructor(
    private readonly driver: StorageDriver,
    private readonly blobs: BlobStore,
    options: ManifestStoreOptions = {},
  ) {
    this.limits = { maxReferences: options.maxReferences ?? DEFAULT_MAX_REFERENCES };
    this.dropFence = new DropFenceReader(driver);
  }

  /** Lookups of each cache, by the name registry_storage_cache_*{cache} shows. */
  cacheCounts(): Readonly<Record<string, CacheCounts>> {
    return { manifests: this.manifestCounts, tags: this.tags.counts, revisions: this.revisions.counts, tag_lists: this.tagLists.counts };
  }

  /** Bytes the manifest cache holds, as counted against its bound (tests). */
  get cachedManifestBytes(): number {
    return this.cache.calculatedSize;
  }

  /**
   * The manifest when the tag, the revision and the bytes are all cached, without an await;
   * undefined otherwise (then get() reads storage, or says it is not there).
   */
  cached(repo: string, reference: Tag | Digest): StoredManifest | undefined {
    const digest = typeof reference === 'string' ? this.tags.get(`${repo}:${reference}`) : reference;
    if (!digest || this.revisions.get(`${repo}@${digest.value}`) !== true) return undefined;
    return this.manifestCounts.count(this.cache.get(digest.value));
  }

  /** Resolves a tag or digest reference to the manifest; MANIFEST_UNKNOWN (code-7) when absent. */
  async get(repo: string, reference: Tag | Digest): Promise<StoredManifest> {
    const cached = this.cached(repo, reference);
    if (cached) return cached;
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
    const cached = this.manifestCounts.count(this.cache.get(digest.value));
    if (cached) return cached;
    const bytes = await this.blobs.read(digest);
    if (!bytes) return undefined;
    const manifest = { digest, bytes, mediaType: storedMediaType(bytes) };
    this.cache.set(digest.value, manifest);
    return manifest;
  }

  /**
   * Stores a pushed manifest (end-7) after checking it: valid (MANIFEST_INVALID), everything it
   * references present in this repository (MANIFEST_BLOB_UNKNOWN; a missing `subject` is allowed
   * by OCI 1.1), and a digest reference matching the body (DIGEST_INVALID).
   */
  async put(repo: string, reference: Tag | Digest, tags: readonly Tag[], bytes: Buffer, contentType: string | undefined, options: { readonly checkReferences?: boolean } = {}): Promise<{ digest: Digest; parsed: ParsedManifest }> {
    const digest = sha256Digest(createHash('sha256').update(bytes).digest('hex'));
    if (typeof reference !== 'string') this.checkDigestReference(reference, bytes, digest);
    const parsed = parseManifest(bytes, contentType, this.limits);
    const stored = typeof reference === 'string' || reference.algorithm === 'sha256' ? digest : reference;
    // The revision links this PUT relies on: its own and its children's. A garbage collection
    // dropping untagged manifests takes turns with it over them (storage/drop-fence.ts).
    const needed = [stored, ...distinctDigests(parsed.children)].map((d) => revisionKey(repo, d.value));
    await this.dropFence.underFence(needed, async () => {
      // checkReferences: false is the pull-through cache's (src/proxy/): it stores an upstream manifest before its blobs, which come on demand.
      if (options.checkReferences !== false) await this.checkReferences(repo, parsed);
      await this.blobs.put(stored, bytes);
      const revision = `${repo}@${stored.value}`;
      await this.linkChanges.run(revision, async () => {
        await this.driver.putContent(paths.revisionLink(repo, stored), stored.value);
        this.revisions.set(revision, true);
      });
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
   * Everything the manifest references must be in the repository. Each distinct digest is checked
   * once, a few at a time (a manifest may name one blob thousands of times: issue 9). Each link is
   * touched before it is checked: a garbage collection running now sees it in use and keeps the
   * blob (gc/garbage-collect.ts; the race distribution issues #3045 and #2962 describe). A link
   * that is not there to touch is a missing reference, whatever a cache says.
   */
  private async checkReferences(repo: string, parsed: ParsedManifest): Promise<void> {
    // Foreign layers (urls set) live outside the registry by design (schema2 "foreign layers").
    const blobs = distinctDigests(parsed.blobs.filter((blob) => !blob.urls || blob.urls.length === 0));
    const missingBlob = await firstFailing(blobs, REFERENCE_CHECKS_IN_FLIGHT, (digest) => this.touchBlob(repo, digest));
    if (missingBlob) throw new RegistryError('MANIFEST_BLOB_UNKNOWN', { digest: missingBlob.value });
    const children = distinctDigests(parsed.children);
    const missingChild = await firstFailing(children, REFERENCE_CHECKS_IN_FLIGHT, (digest) => this.touchRevision(repo, digest));
    if (missingChild) throw new RegistryError('MANIFEST_BLOB_UNKNOWN', { digest: missingChild.value });
  }

  /** Touches the blob's link in `repo`, then says whether the blob's data is there now. */
  private async touchBlob(repo: string, digest: Digest): Promise<boolean> {
    if (!(await this.driver.touch(paths.layerLink(repo, digest)))) return false;
    return (await this.blobs.statLinked(repo, digest)) !== undefined;
  }

  /** Touches the manifest's revision link in `repo`: touched is there (what hasRevision asks of storage). */
  private touchRevision(repo: string, digest: Digest): Promise<boolean> {
    return this.driver.touch(paths.revisionLink(repo, digest));
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

  /** The repository's tags when cached, without an await; undefined otherwise. */
  cachedTagsOf(repo: string): readonly string[] | undefined {
    return this.tagLists.get(repo);
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

/** Bytes of a cached tag link's value: the digest's two strings, or nothing for "no such tag". */
function digestBytes(digest: Digest | null): number {
  return digest ? stringBytes(digest.hex) + stringBytes(digest.value) + 64 : 0;
}

/** The digests the descriptors name, each once, in the order they first appear. */
function distinctDigests(descriptors: readonly Descriptor[]): Digest[] {
  const seen = new Map<string, Digest>();
  for (const { digest } of descriptors) if (!seen.has(digest.value)) seen.set(digest.value, digest);
  return [...seen.values()];
}

/**
 * Runs `check` over `items` with at most `inFlight` running, and returns the first item (in
 * list order, among those checked) for which it answered false. No new check starts once one has
 * failed or thrown, and nothing is left running when this returns: an error is thrown only after
 * the checks in flight have settled.
 */
async function firstFailing<T>(items: readonly T[], inFlight: number, check: (item: T) => Promise<boolean>): Promise<T | undefined> {
  let next = 0;
  let failedAt = Infinity;
  let stop = false;
  const worker = async (): Promise<void> => {
    while (!stop && next < items.length) {
      const index = next++;
      try {
        if (!(await check(items[index] as T))) {
          failedAt = Math.min(failedAt, index);
          stop = true;
        }
      } catch (err) {
        stop = true;
        throw err;
      }
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: Math.min(inFlight, items.length) }, worker));
  const error = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (error) throw error.reason;
  return failedAt === Infinity ? undefined : items[failedAt];
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
