import { LRUCache } from 'lru-cache';

/**
 * Rough bytes of a cached entry beyond its strings: the boxed value, lru-cache's slots for key,
 * value, size and TTL, and the Map entry behind its key index. A guess that errs high, so the
 * byte bounds below hold for the strings we count.
 */
export const ENTRY_OVERHEAD_BYTES = 200;

/**
 * How long a change made by another process on the same storage (a replica, docker-registry,
 * garbage collection) may go unseen here: every link cache, and the catalog, use this one bound.
 */
export const LINK_TTL_MS = 1000;

/** Bytes of a string in V8's heap, counted high (two bytes a character, as when it is not Latin-1). */
export function stringBytes(text: string): number {
  return 2 * text.length + 16;
}

/**
 * Lookups of one cache, hit or missed: two plain numbers, read when metrics are scraped
 * (registry_storage_cache_*, src/metrics), so counting costs the same with metrics on or off.
 */
export class CacheCounts {
  hits = 0;
  misses = 0;

  /** `value`, counted as a hit when there is one. */
  count<T>(value: T | undefined): T | undefined {
    if (value === undefined) this.misses++;
    else this.hits++;
    return value;
  }
}

export interface LinkCacheOptions<V> {
  readonly ttlMs: number;
  /** Bound on the whole cache: the least recently used entries go first past it. */
  readonly maxBytes: number;
  /** Bytes of one entry's value (strings in it); the key and ENTRY_OVERHEAD_BYTES are added. */
  readonly valueBytes: (value: V) => number;
  /** An entry bigger than this is not cached at all (default: maxBytes / 16, so one cannot flush the rest). */
  readonly maxEntryBytes?: number;
}

/**
 * A short-lived cache of link reads (tag → digest, revision present or not). Resolving a tag
 * is two small filesystem reads; under load they were over half of the main thread's time for
 * GET manifest by tag (about 70 µs of 130 µs a request). Writes through this process update the
 * cache at once, so a client always reads its own writes; a change made by another process on
 * the same storage (another replica, docker-registry, garbage collection) is seen within `ttlMs`.
 * Bounded in bytes (issue 9): keys are repository names of up to 255 characters and a value can
 * be a repository's whole tag list, so a count alone bounds nothing.
 */
export class LinkCache<V> {
  /** Values are boxed: lru-cache stores no null, and "no such tag" is a value worth caching. */
  private readonly entries: LRUCache<string, { readonly value: V }>;

  constructor(options: LinkCacheOptions<V>) {
    this.entries = new LRUCache<string, { readonly value: V }>({
      ttl: options.ttlMs,
      maxSize: options.maxBytes,
      maxEntrySize: options.maxEntryBytes ?? Math.floor(options.maxBytes / 16),
      sizeCalculation: (box, key) => stringBytes(key) + options.valueBytes(box.value) + ENTRY_OVERHEAD_BYTES,
    });
  }

  /** Bumped by every write through this process (set, delete). */
  private writes = 0;

  /**
   * Taken before a read of storage, and given back to `fill` with what was read. A read that
   * raced a write may have read the link before the write changed it: its value is not cached
   * (found by concurrent pushes of one tag: a stale read filled in after the push's own update).
   */
  readToken(): number {
    return this.writes;
  }

  /** Caches what a read found, unless a write went through since its `readToken()`. */
  fill(key: string, value: V, token: number): void {
    if (token === this.writes) this.entries.set(key, { value });
  }

  /** Lookups through get(). */
  readonly counts = new CacheCounts();

  /** The cached value; undefined when absent or older than `ttlMs`. */
  get(key: string): V | undefined {
    return this.counts.count(this.entries.get(key))?.value;
  }

  /**
   * A write through this process: what it wrote is what this process reads from now on. An
   * entry too big to cache still replaces (removes) the old one: lru-cache deletes on a refused set.
   */
  set(key: string, value: V): void {
    this.writes++;
    this.entries.set(key, { value });
  }

  delete(key: string): void {
    this.writes++;
    this.entries.delete(key);
  }

  /** Bytes held, as counted (tests and benchmarks). */
  get calculatedBytes(): number {
    return this.entries.calculatedSize;
  }
}
