import type { Readable } from 'node:stream';
import { LRUCache } from 'lru-cache';
import type { Digest } from '../digest/digest.ts';
import { getContentIfExists, PathNotFoundError, type StorageDriver } from './driver.ts';
import { paths } from './paths.ts';
import { CacheCounts, ENTRY_OVERHEAD_BYTES, LINK_TTL_MS, LinkCache, stringBytes } from './link-cache.ts';

/** Blobs up to this size are served from memory once read (configs, small layers, signatures). */
export const SMALL_BLOB_MAX = 64 * 1024;
const MIB = 1024 * 1024;
const SMALL_CACHE_BYTES = 32 * MIB;
const EMPTY = Buffer.alloc(0);

/**
 * Content-addressed blobs and their links into repositories. A blob is visible in a repository
 * only through its link (`_layers/.../link`), as in distribution: a digest known elsewhere in the
 * registry is not readable through a repository that never received it.
 */
export class BlobStore {
  /** repo@digest → size of a blob linked there (found ones only; link-cache.ts). */
  private readonly linked = new LinkCache<number>({ ttlMs: LINK_TTL_MS, maxBytes: 16 * MIB, valueBytes: () => 0 });
  /** Bytes of small blobs (configs, small layers): content-addressed, so never stale; least recently used go first. */
  private readonly small = new LRUCache<string, Buffer>({
    maxSize: SMALL_CACHE_BYTES,
    maxEntrySize: SMALL_BLOB_MAX + 1024,
    sizeCalculation: (bytes, key) => bytes.length + stringBytes(key) + ENTRY_OVERHEAD_BYTES,
  });

  /** Lookups of the small-blob cache (src/metrics reads them). */
  private readonly smallCounts = new CacheCounts();

  constructor(
    private readonly driver: StorageDriver,
    /** Answer blob GET/HEAD with a redirect to the store where it can (storage.redirect.disable: false). */
    readonly redirects = false,
  ) {}

  /** Where the client may fetch the blob itself (307, as distribution), when redirects are on and the driver gives URLs. */
  redirectUrl(digest: Digest, method: string): string | undefined {
    return this.redirects ? this.driver.redirectUrl?.(paths.blobData(digest), method) : undefined;
  }

  /**
   * The bytes of a small blob linked in `repo` when both are cached, without an await;
   * undefined otherwise (then statInRepository and readSmall read storage).
   */
  cachedSmall(repo: string, digest: Digest): Buffer | undefined {
    const size = this.linked.get(`${repo}@${digest.value}`);
    if (size === undefined || size > SMALL_BLOB_MAX) return undefined;
    return size === 0 ? EMPTY : this.smallCounts.count(this.small.get(digest.value));
  }

  /** Size of the blob as seen from `repo`; undefined when not linked there or not stored. */
  async statInRepository(repo: string, digest: Digest): Promise<number | undefined> {
    const key = `${repo}@${digest.value}`;
    const cached = this.linked.get(key);
    if (cached !== undefined) return cached;
    const token = this.linked.readToken();
    const [link, data] = await Promise.all([this.driver.stat(paths.layerLink(repo, digest)), this.driver.stat(paths.blobData(digest))]);
    if (!link || !data || data.isDirectory) return undefined;
    this.linked.fill(key, data.size, token);
    return data.size;
  }

  /**
   * Size of the blob when its link in `repo` is known to exist (the caller just touched it):
   * one stat of the data instead of two. Never from the cache: a manifest PUT must see the data
   * as it is now, after its touch, or a blob that garbage collection removed within the cache's
   * second would be taken as present (gc/garbage-collect.ts).
   */
  async statLinked(repo: string, digest: Digest): Promise<number | undefined> {
    const key = `${repo}@${digest.value}`;
    const token = this.linked.readToken();
    const data = await this.driver.stat(paths.blobData(digest));
    if (!data || data.isDirectory) return undefined;
    this.linked.fill(key, data.size, token);
    return data.size;
  }

  /** Lookups of each cache, by the name registry_storage_cache_*{cache} shows. */
  cacheCounts(): Readonly<Record<string, CacheCounts>> {
    return { blob_links: this.linked.counts, small_blobs: this.smallCounts };
  }

  /** Bytes the small-blob cache holds, as counted against its bound (tests). */
  get cachedSmallBytes(): number {
    return this.small.calculatedSize;
  }

  /** The whole content of a blob of at most SMALL_BLOB_MAX bytes, from memory when it can. */
  async readSmall(digest: Digest): Promise<Buffer | undefined> {
    const cached = this.smallCounts.count(this.small.get(digest.value));
    if (cached) return cached;
    const bytes = await this.read(digest);
    if (!bytes || bytes.length > SMALL_BLOB_MAX) return bytes;
    this.small.set(digest.value, bytes);
    return bytes;
  }

  /** Size of the stored blob, linked anywhere or nowhere. */
  async statGlobal(digest: Digest): Promise<number | undefined> {
    const data = await this.driver.stat(paths.blobData(digest));
    return data && !data.isDirectory ? data.size : undefined;
  }

  async isLinked(repo: string, digest: Digest): Promise<boolean> {
    return (await this.driver.stat(paths.layerLink(repo, digest))) !== undefined;
  }

  /** Bytes [start, end] of a blob; undefined when it vanished since it was stat'ed. */
  async open(digest: Digest, start?: number, end?: number): Promise<Readable | undefined> {
    try {
      return await this.driver.reader(paths.blobData(digest), start, end);
    } catch (err) {
      if (err instanceof PathNotFoundError) return undefined;
      throw err;
    }
  }

  async read(digest: Digest): Promise<Buffer | undefined> {
    return getContentIfExists(this.driver, paths.blobData(digest));
  }

  /**
   * Moves finished upload data into place under its digest. A blob that already exists wins
   * (content-addressed: same digest, same bytes) and the upload's copy is left for the caller to drop.
   */
  async adopt(digest: Digest, uploadDataPath: string): Promise<void> {
    if ((await this.statGlobal(digest)) !== undefined) return;
    await this.driver.move(uploadDataPath, paths.blobData(digest));
  }

  /** Stores small content (manifests) under its digest; durable before it returns. */
  async put(digest: Digest, content: Uint8Array): Promise<void> {
    if ((await this.statGlobal(digest)) !== undefined) return;
    await this.driver.putContent(paths.blobData(digest), content);
  }

  async link(repo: string, digest: Digest): Promise<void> {
    await this.driver.putContent(paths.layerLink(repo, digest), digest.value);
  }

  async unlink(repo: string, digest: Digest): Promise<void> {
    await this.driver.delete(paths.layerDir(repo, digest));
    this.linked.delete(`${repo}@${digest.value}`);
  }
}
