import { setTimeout as sleep } from 'node:timers/promises';
import { tryParseDigest, type Digest } from '../digest/digest.ts';
import { getContentIfExists, PathNotFoundError, type StorageDriver } from '../storage/driver.ts';
import { DROP_BATCH, readDropFence, revisionKey, writeDropFence } from '../storage/drop-fence.ts';
import { paths } from '../storage/paths.ts';
import { listRepositories } from '../storage/repositories.ts';
import { clearAsideJournal, recoverAsideBlobs, restoreAside, writeAsideJournal } from './aside.ts';
import { GcAbortedError, isUnreadable, readReferences, type ManifestReferences, type UnreadableManifest } from './references.ts';

export { GcAbortedError, type UnreadableManifest } from './references.ts';

/**
 * Mark and sweep over the storage layout (distribution's registry/storage/garbagecollect.go),
 * safe to run while the registry serves pushes.
 *
 * Mark: every manifest in every repository (with deleteUntagged, only those reachable from a tag,
 * an index, or as a referrer of a kept manifest) and every blob they reference. A manifest that
 * cannot be read or parsed stops the run before anything is deleted (GcAbortedError, issue 9):
 * what it references is unknown, so nothing may be judged unreferenced. distribution aborts its
 * mark phase the same way. Schema 1 manifests of a docker-registry root mark their fsLayers.
 *
 * Sweep: every stored blob not marked is deleted, unless it is in use *now*. distribution's GC
 * deletes a blob that a manifest pushed during the run references (issues #3045, #2962); here
 *   - a blob or manifest written within the grace period is kept (an upload whose manifest has
 *     not been pushed yet, a child manifest pushed before its index);
 *   - a manifest PUT touches the links of everything it references before checking them
 *     (storage/manifest-store.ts), and a blob with a link touched within the grace period is kept;
 *   - the delete itself is: move a batch of blobs aside (`data` → `data~gc`), wait out the registry's
 *     link cache (storage/blob-store.ts, 1 s), look once more at every link, then put back each blob
 *     whose link was touched and remove the others' `data~gc`. A PUT's touch either comes before
 *     that look (the look sees it: the blob is put back) or after it; then its check comes after the
 *     wait too, misses the cache (an entry filled before the move has expired, none can be filled
 *     while the data is aside) and finds no data: the PUT is refused with MANIFEST_BLOB_UNKNOWN, and
 *     nothing it was told is stored goes missing.
 *   - only `data~gc` is removed, never the blob's folder: an upload of the same digest committed
 *     while it was aside (uploads/commit.ts moves the data in, then links it) keeps its `data`.
 *
 * deleteUntagged drops manifests only after the mark phase of every repository, and each one's
 * revision link is looked at again first: a manifest tagged again or listed by an index pushed
 * since the run began is kept, with its blobs and referrers (dropUnlessPushedSince). The deletes
 * then take turns with manifest PUTs through the drop fence (storage/drop-fence.ts), so that a PUT
 * between the last look and the delete cannot be acknowledged without its manifest.
 *
 * Cost is O(links + blobs): the mark phase lists and stats every link once (each repository's
 * `_layers` and revisions) and keeps their times; the sweep lists and stats every blob once; each
 * batch of deletes is re-checked by one more listing of the links (stats only for the batch).
 *
 * A run that dies with blobs aside leaves a journal (gc/aside.ts): the next registry start or run
 * puts them back.
 */
export interface GcOptions {
  readonly dryRun: boolean;
  readonly deleteUntagged: boolean;
  /** Anything written or touched more recently than this is left alone (ms). */
  readonly graceMs: number;
  readonly now?: number;
  readonly onProgress?: (progress: GcProgress) => void;
  /** Awaited between mark and sweep: the moment a concurrent push is most dangerous (tests use it). */
  readonly afterMark?: () => Promise<void>;
  /** Awaited once a batch is aside, before the wait and the second look (tests: a push there, a crash there). */
  readonly afterAside?: (digests: readonly string[]) => Promise<void>;
  /**
   * deleteUntagged: awaited with a batch of manifests about to be dropped, after their last look,
   * under the drop fence (tests: a PUT there waits for the fence, then sees the outcome).
   */
  readonly afterDropLook?: (revisions: readonly string[]) => Promise<void>;
  /** Blobs moved aside per second look at the links (default 5000): fewer walks, longer invisibility. */
  readonly batchSize?: number;
  /** How long a batch stays aside before the second look: the registry's link cache TTL (default 1100 ms). */
  readonly settleMs?: number;
}

export interface GcProgress {
  readonly phase: 'mark' | 'sweep';
  readonly done: number;
  readonly total: number;
}

export interface GcReport {
  readonly repositories: number;
  readonly manifestsMarked: number;
  readonly blobsMarked: number;
  readonly manifestsDeleted: readonly string[];
  readonly blobsDeleted: readonly string[];
  readonly bytesFreed: number;
  readonly keptAsRecent: number;
  /** Blobs an earlier run left aside (`data~gc`) and this one put back. */
  readonly restoredAside: number;
}

const ALGORITHMS = ['sha256', 'sha512'] as const;
const DEFAULT_BATCH = 5000;
const DEFAULT_SETTLE_MS = 1100;
/** Storage calls in flight at once: enough to keep libuv's threads (4 by default) and the disk busy. */
const CONCURRENCY = 8;

/** Counted by the registry that runs it (registry.ts garbageCollect → metrics/runs.ts), not here: each registry reports its own runs. */
export async function garbageCollect(driver: StorageDriver, options: GcOptions): Promise<GcReport> {
  const started = options.now ?? Date.now();
  // Times come from the store's clock at its resolution (S3: whole seconds, and a server whose
  // clock may differ from ours): a touch made after `started` must never read as older than the
  // cutoff, so the cutoff moves back by what the driver says its times may lag.
  const cutoff = started - options.graceMs - (driver.timestampSlackMs ?? 0);
  let restoredAside = options.dryRun ? 0 : await recoverAsideBlobs(driver);
  const repositories = await listRepositories(driver);
  const mark = await markAll(driver, repositories, options.deleteUntagged, cutoff, options.onProgress);
  if (mark.unreadable.length > 0) throw new GcAbortedError(mark.unreadable);

  await options.afterMark?.();
  const dropped = await dropUnlessPushedSince(driver, mark, cutoff, options);
  const manifestsDeleted = dropped.map((m) => `${m.repo}@${m.digest.value}`);
  const sweep = await findUnreferenced(driver, mark, cutoff, options);
  restoredAside += sweep.restored;
  const blobsDeleted: string[] = [];
  let bytesFreed = 0;
  let keptAsRecent = sweep.keptAsRecent;
  const batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH);
  for (let i = 0; i < sweep.candidates.length; i += batchSize) {
    const batch = sweep.candidates.slice(i, i + batchSize);
    const deleted = options.dryRun ? new Set(batch.map((b) => b.digest.value)) : await deleteUnlessTouched(driver, batch, cutoff, options);
    for (const blob of batch) {
      if (!deleted.has(blob.digest.value)) {
        keptAsRecent++;
        continue;
      }
      blobsDeleted.push(blob.digest.value);
      bytesFreed += blob.size;
    }
  }
  return { repositories: repositories.length, manifestsMarked: mark.manifestsMarked, blobsMarked: mark.marked.size, manifestsDeleted, blobsDeleted, bytesFreed, keptAsRecent, restoredAside };
}

interface Revision {
  readonly digest: Digest;
  readonly references: ManifestReferences;
}

interface DroppedManifest {
  readonly repo: string;
  readonly digest: Digest;
  readonly references: ManifestReferences;
}

interface MarkResult {
  /** Digests of kept manifests and of every blob they reference. */
  readonly marked: Set<string>;
  /** digest → newest modification time (ms) of any layer or revision link to it, in any repository. */
  readonly linkedAt: Map<string, number>;
  readonly manifestsMarked: number;
  readonly dropped: DroppedManifest[];
  readonly unreadable: UnreadableManifest[];
}

async function markAll(driver: StorageDriver, repositories: readonly string[], deleteUntagged: boolean, cutoff: number, onProgress: GcOptions['onProgress']): Promise<MarkResult> {
  const result: MarkResult = { marked: new Set(), linkedAt: new Map(), manifestsMarked: 0, dropped: [], unreadable: [] };
  let manifestsMarked = 0;
  for (const [i, repo] of repositories.entries()) {
    await collectLinkTimes(driver, repo, result.linkedAt);
    const revisions = await readRevisions(driver, repo, result.unreadable);
    // Roots: tagged manifests, and any written within the grace period (a push in progress).
    const keep = deleteUntagged ? await reachable(driver, repo, revisions, cutoff, result.linkedAt) : new Set(revisions.keys());
    for (const revision of revisions.values()) {
      if (!keep.has(revision.digest.value)) {
        result.dropped.push({ repo, digest: revision.digest, references: revision.references });
        continue;
      }
      manifestsMarked++;
      result.marked.add(revision.digest.value);
      for (const blob of revision.references.blobs) result.marked.add(blob.value);
    }
    onProgress?.({ phase: 'mark', done: i + 1, total: repositories.length });
  }
  return { ...result, manifestsMarked };
}

/** Every layer and revision link of the repository with its time: one stat per link. */
async function collectLinkTimes(driver: StorageDriver, repo: string, linkedAt: Map<string, number>): Promise<void> {
  const record = async (digest: Digest, link: string): Promise<void> => {
    const info = await driver.stat(link);
    if (info) linkedAt.set(digest.value, Math.max(linkedAt.get(digest.value) ?? 0, info.modifiedAt.getTime()));
  };
  await eachLimited(await listDigests(driver, (alg) => paths.layersOfAlgorithm(repo, alg)), (digest) => record(digest, paths.layerLink(repo, digest)));
  await eachLimited(await listDigests(driver, (alg) => paths.revisionsOfAlgorithm(repo, alg)), (digest) => record(digest, paths.revisionLink(repo, digest)));
}

async function readRevisions(driver: StorageDriver, repo: string, unreadable: UnreadableManifest[]): Promise<Map<string, Revision>> {
  const digests = await listDigests(driver, (alg) => paths.revisionsOfAlgorithm(repo, alg));
  const read = new Map<string, Revision>();
  await eachLimited(digests, async (digest) => {
    const references = await readReferences(driver, repo, digest);
    if (isUnreadable(references)) unreadable.push(references);
    else read.set(digest.value, { digest, references });
  });
  // In listing order, whatever order the reads finished in: reports stay stable.
  const revisions = new Map<string, Revision>();
  for (const digest of digests) {
    const revision = read.get(digest.value);
    if (revision) revisions.set(digest.value, revision);
  }
  return revisions;
}

/** deleteUntagged: the manifests a tag, a recent push, an index or a kept subject keeps. */
async function reachable(driver: StorageDriver, repo: string, revisions: ReadonlyMap<string, Revision>, cutoff: number, linkedAt: ReadonlyMap<string, number>): Promise<Set<string>> {
  const keep = new Set<string>();
  for (const tag of await driver.list(paths.tagsDir(repo))) {
    const digest = await readLink(driver, paths.tagCurrentLink(repo, tag));
    if (digest && revisions.has(digest.value)) keep.add(digest.value);
  }
  // linkedAt spans repositories: a manifest recently pushed to any of them is in use; keep it here too.
  for (const digest of revisions.keys()) if ((linkedAt.get(digest) ?? 0) >= cutoff) keep.add(digest);
  // Closure: an index keeps its children; a kept manifest keeps its referrers (signatures, SBOMs).
  let grew = true;
  while (grew) {
    grew = false;
    for (const revision of revisions.values()) {
      const next = keep.has(revision.digest.value) ? revision.references.children.map((c) => c.value) : [];
      const subject = revision.references.subject?.value;
      if (subject !== undefined && keep.has(subject)) next.push(revision.digest.value);
      for (const digest of next) {
        if (revisions.has(digest) && !keep.has(digest)) {
          keep.add(digest);
          grew = true;
        }
      }
    }
  }
  return keep;
}

/**
 * deleteUntagged: drops the manifests the mark phase found unreachable, except any that a push
 * used since the run started. The mark phase of a large registry takes minutes, and meanwhile an
 * old untagged manifest can be tagged again (a PUT of the same manifest, as `crane tag` or a
 * promotion does) or listed by a new index: either PUT rewrites or touches its revision link
 * (storage/manifest-store.ts). So each revision link is looked at once more, just before the
 * deletes; a manifest found in use is kept with what it needs (its blobs are marked, so the sweep
 * keeps them; its children and its referrers among the dropped are kept too), as if a tag had
 * reached it in the mark phase. Returns the manifests dropped (dry run: would be).
 */
async function dropUnlessPushedSince(driver: StorageDriver, mark: MarkResult, cutoff: number, options: GcOptions): Promise<DroppedManifest[]> {
  const key = (repo: string, digest: Digest): string => revisionKey(repo, digest.value);
  const keep = new Set<string>();
  await eachLimited(mark.dropped, async (m) => {
    if (await touchedSince(driver, paths.revisionLink(m.repo, m.digest), cutoff)) keep.add(key(m.repo, m.digest));
  });
  // The same closure as the mark phase's (reachable): a kept index keeps its children, a kept manifest its referrers.
  const dropped = new Map(mark.dropped.map((m) => [key(m.repo, m.digest), m]));
  let grew = keep.size > 0;
  while (grew) {
    grew = false;
    for (const m of dropped.values()) {
      const own = key(m.repo, m.digest);
      const kept = keep.has(own);
      const needed = kept ? m.references.children.map((child) => key(m.repo, child)) : [];
      const subject = m.references.subject;
      if (!kept && subject !== undefined && keep.has(key(m.repo, subject))) needed.push(own);
      for (const k of needed) {
        if (dropped.has(k) && !keep.has(k)) {
          keep.add(k);
          grew = true;
        }
      }
    }
  }
  const keepWithBlobs = (m: DroppedManifest): void => {
    mark.marked.add(m.digest.value);
    for (const blob of m.references.blobs) mark.marked.add(blob.value);
  };
  const candidates: DroppedManifest[] = [];
  for (const m of mark.dropped) {
    if (keep.has(key(m.repo, m.digest))) keepWithBlobs(m);
    else candidates.push(m);
  }
  if (options.dryRun) return candidates;
  return dropFenced(driver, candidates, cutoff, keepWithBlobs, options);
}

/**
 * The deletes, DROP_BATCH at a time under the drop fence (storage/drop-fence.ts): raised over the
 * batch, one more look at each revision link, the unused deleted, lowered. A PUT that touched a
 * link before this look is seen by it; one that comes after waits for the fence and then finds
 * the link gone (an index is refused) or writes it again (a tag PUT of that manifest stands).
 */
async function dropFenced(driver: StorageDriver, candidates: readonly DroppedManifest[], cutoff: number, keepWithBlobs: (m: DroppedManifest) => void, options: GcOptions): Promise<DroppedManifest[]> {
  const gone: DroppedManifest[] = [];
  let epoch = (await readDropFence(driver)).epoch;
  for (let i = 0; i < candidates.length; i += DROP_BATCH) {
    const batch = candidates.slice(i, i + DROP_BATCH);
    epoch += 1;
    const revisions = batch.map((m) => revisionKey(m.repo, m.digest.value));
    await writeDropFence(driver, { epoch, raised: true, revisions, at: Date.now() });
    try {
      const used = new Set<DroppedManifest>();
      await eachLimited(batch, async (m) => {
        if (await touchedSince(driver, paths.revisionLink(m.repo, m.digest), cutoff)) used.add(m);
      });
      await options.afterDropLook?.(revisions);
      for (const m of batch) if (used.has(m)) keepWithBlobs(m);
      const unused = batch.filter((m) => !used.has(m));
      await eachLimited(unused, (m) => dropManifest(driver, m));
      gone.push(...unused);
    } finally {
      await writeDropFence(driver, { epoch, raised: false, revisions: [], at: Date.now() });
    }
  }
  return gone;
}

async function dropManifest(driver: StorageDriver, manifest: DroppedManifest): Promise<void> {
  await driver.delete(paths.revisionDir(manifest.repo, manifest.digest));
  const subject = manifest.references.subject;
  if (subject) await driver.delete(paths.referrerDir(manifest.repo, subject, manifest.digest));
}

interface Candidate {
  readonly digest: Digest;
  readonly size: number;
}

/** One listing and one stat per stored blob: the unmarked old ones, and any left aside put back. */
async function findUnreferenced(driver: StorageDriver, mark: MarkResult, cutoff: number, options: GcOptions): Promise<{ candidates: Candidate[]; keptAsRecent: number; restored: number }> {
  const stored = await listStoredBlobs(driver);
  const candidates: Candidate[] = [];
  let keptAsRecent = 0;
  let restored = 0;
  const sizes = new Map<string, number>();
  let done = 0;
  await eachLimited(stored, async (digest) => {
    options.onProgress?.({ phase: 'sweep', done: ++done, total: stored.length });
    const data = await driver.stat(paths.blobData(digest));
    if (!data) {
      // A run that died without its journal (or a journal lost) left it aside: recover it here.
      if (!options.dryRun && (await restoreAside(driver, digest))) restored++;
      return;
    }
    if (mark.marked.has(digest.value)) return;
    if (data.modifiedAt.getTime() >= cutoff || (mark.linkedAt.get(digest.value) ?? 0) >= cutoff) {
      keptAsRecent++;
      return;
    }
    sizes.set(digest.value, data.size);
  });
  for (const digest of stored) {
    const size = sizes.get(digest.value);
    if (size !== undefined) candidates.push({ digest, size });
  }
  return { candidates, keptAsRecent, restored };
}

/** Moves the batch aside, waits out the link cache, looks at the links once more; returns the digests deleted. */
async function deleteUnlessTouched(driver: StorageDriver, batch: readonly Candidate[], cutoff: number, options: GcOptions): Promise<Set<string>> {
  await writeAsideJournal(driver, batch.map((b) => b.digest));
  const moved = new Set<string>();
  await eachLimited(batch, async ({ digest }) => {
    try {
      await driver.move(paths.blobData(digest), paths.blobDataAside(digest));
      moved.add(digest.value);
    } catch (err) {
      if (!(err instanceof PathNotFoundError)) throw err; // gone already: nothing to delete
    }
  });
  const aside = batch.map((b) => b.digest).filter((d) => moved.has(d.value));
  await options.afterAside?.(aside.map((d) => d.value));
  await sleep(options.settleMs ?? DEFAULT_SETTLE_MS);
  const touched = await linkedSince(driver, new Set(aside.map((d) => d.value)), cutoff);
  const deleted = new Set<string>();
  await eachLimited(aside, async (digest) => {
    if (touched.has(digest.value)) {
      await restoreAside(driver, digest);
      return;
    }
    // A registry that started meanwhile may have put it back (gc/aside.ts): then it stays.
    if (!(await driver.stat(paths.blobDataAside(digest)))) return;
    await driver.delete(paths.blobDataAside(digest));
    deleted.add(digest.value);
  });
  await clearAsideJournal(driver);
  return deleted;
}

/**
 * The digests in `wanted` that any repository links (layer or revision) with a link written or
 * touched since `since`. One listing of every repository, as it is now (one created since the mark
 * phase is included); stats only for the links of `wanted`.
 */
async function linkedSince(driver: StorageDriver, wanted: ReadonlySet<string>, since: number): Promise<Set<string>> {
  const found = new Set<string>();
  if (wanted.size === 0) return found;
  for (const repo of await listRepositories(driver)) {
    const check = (link: (d: Digest) => string) => async (digest: Digest): Promise<void> => {
      if (wanted.has(digest.value) && !found.has(digest.value) && (await touchedSince(driver, link(digest), since))) found.add(digest.value);
    };
    await eachLimited(await listDigests(driver, (alg) => paths.layersOfAlgorithm(repo, alg)), check((d) => paths.layerLink(repo, d)));
    await eachLimited(await listDigests(driver, (alg) => paths.revisionsOfAlgorithm(repo, alg)), check((d) => paths.revisionLink(repo, d)));
  }
  return found;
}

async function touchedSince(driver: StorageDriver, path: string, since: number): Promise<boolean> {
  const info = await driver.stat(path);
  return info !== undefined && info.modifiedAt.getTime() >= since;
}

/** The digests named by the folders `<folder(alg)>/<hex>` for every algorithm. */
async function listDigests(driver: StorageDriver, folder: (algorithm: string) => string): Promise<Digest[]> {
  const found: Digest[] = [];
  for (const algorithm of ALGORITHMS) {
    for (const hex of await driver.list(folder(algorithm))) {
      const digest = tryParseDigest(`${algorithm}:${hex}`);
      if (digest) found.push(digest);
    }
  }
  return found;
}

async function listStoredBlobs(driver: StorageDriver): Promise<Digest[]> {
  const found: Digest[] = [];
  for (const algorithm of ALGORITHMS) {
    for (const prefix of await driver.list(paths.blobsOfAlgorithm(algorithm))) {
      for (const hex of await driver.list(paths.blobsWithPrefix(algorithm, prefix))) {
        const digest = tryParseDigest(`${algorithm}:${hex}`);
        if (digest && hex.startsWith(prefix)) found.push(digest);
      }
    }
  }
  return found;
}

async function readLink(driver: StorageDriver, path: string): Promise<Digest | undefined> {
  const bytes = await getContentIfExists(driver, path);
  return bytes && tryParseDigest(bytes.toString('utf8').trim());
}

/** Runs `fn` over `items`, CONCURRENCY at a time; the first failure fails the whole. */
async function eachLimited<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
}
