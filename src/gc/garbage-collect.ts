import { tryParseDigest, type Digest } from '../digest/digest.ts';
import { parseManifest, type ParsedManifest } from '../manifests/validate.ts';
import { getContentIfExists, PathNotFoundError, type StorageDriver } from '../storage/driver.ts';
import { paths } from '../storage/paths.ts';
import { listRepositories } from '../storage/repositories.ts';

/**
 * Mark and sweep over the storage layout (distribution's registry/storage/garbagecollect.go),
 * safe to run while the registry serves pushes.
 *
 * Mark: every manifest in every repository (with deleteUntagged, only those reachable from a tag,
 * an index, or as a referrer of a kept manifest) and every blob they reference.
 * Sweep: every stored blob not marked is deleted, unless it is in use *now*. distribution's GC
 * deletes a blob that a manifest pushed during the run references (issues #3045, #2962); here
 *   - a blob or manifest written within the grace period is kept (an upload whose manifest has
 *     not been pushed yet, a child manifest pushed before its index);
 *   - a manifest PUT touches the links of everything it references before checking them
 *     (storage/manifest-store.ts), and a blob with a link touched within the grace period is kept;
 *   - the delete itself is a rename aside, a second look at the links, then removal or a rename back,
 *     which closes the window between that look and the delete.
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
}

const ALGORITHMS = ['sha256', 'sha512'] as const;

export async function garbageCollect(driver: StorageDriver, options: GcOptions): Promise<GcReport> {
  const started = options.now ?? Date.now();
  const cutoff = started - options.graceMs;
  const repositories = await listRepositories(driver);
  const marked = new Set<string>();
  const manifestsDeleted: string[] = [];
  let manifestsMarked = 0;

  for (const [i, repo] of repositories.entries()) {
    const kept = await markRepository(driver, repo, options.deleteUntagged, cutoff, manifestsDeleted, options.dryRun);
    manifestsMarked += kept.length;
    for (const { digest, parsed } of kept) {
      marked.add(digest.value);
      for (const blob of parsed?.blobs ?? []) marked.add(blob.digest.value);
    }
    options.onProgress?.({ phase: 'mark', done: i + 1, total: repositories.length });
  }

  await options.afterMark?.();
  const stored = await listStoredBlobs(driver);
  const blobsDeleted: string[] = [];
  let bytesFreed = 0;
  let keptAsRecent = 0;
  for (const [i, digest] of stored.entries()) {
    options.onProgress?.({ phase: 'sweep', done: i + 1, total: stored.length });
    if (marked.has(digest.value)) continue;
    const data = await driver.stat(paths.blobData(digest));
    if (!data) continue;
    if (data.modifiedAt.getTime() >= cutoff || (await linkedSince(driver, repositories, digest, cutoff))) {
      keptAsRecent++;
      continue;
    }
    if (!options.dryRun && !(await deleteUnlessTouched(driver, repositories, digest, cutoff))) {
      keptAsRecent++;
      continue;
    }
    blobsDeleted.push(digest.value);
    bytesFreed += data.size;
  }
  return { repositories: repositories.length, manifestsMarked, blobsMarked: marked.size, manifestsDeleted, blobsDeleted, bytesFreed, keptAsRecent };
}

interface KeptManifest {
  readonly digest: Digest;
  /** undefined when the manifest's bytes are missing or unreadable: nothing more to mark. */
  readonly parsed: ParsedManifest | undefined;
}

async function markRepository(driver: StorageDriver, repo: string, deleteUntagged: boolean, cutoff: number, deleted: string[], dryRun: boolean): Promise<KeptManifest[]> {
  const revisions = new Map<string, KeptManifest>();
  for (const digest of await listRevisions(driver, repo)) revisions.set(digest.value, { digest, parsed: await readManifest(driver, digest) });
  if (!deleteUntagged) return [...revisions.values()];

  // Roots: tagged manifests, and any written within the grace period (a push in progress).
  const keep = new Set<string>();
  for (const tag of await driver.list(paths.tagsDir(repo))) {
    const digest = await readLink(driver, paths.tagCurrentLink(repo, tag));
    if (digest && revisions.has(digest.value)) keep.add(digest.value);
  }
  for (const { digest } of revisions.values()) {
    const link = await driver.stat(paths.revisionLink(repo, digest));
    if (link && link.modifiedAt.getTime() >= cutoff) keep.add(digest.value);
  }
  // Closure: an index keeps its children; a kept manifest keeps its referrers (signatures, SBOMs).
  let grew = true;
  while (grew) {
    grew = false;
    for (const manifest of revisions.values()) {
      const reachable = keep.has(manifest.digest.value) ? (manifest.parsed?.children ?? []).map((c) => c.digest.value) : [];
      const subject = manifest.parsed?.subject?.digest.value;
      if (subject !== undefined && keep.has(subject)) reachable.push(manifest.digest.value);
      for (const digest of reachable) {
        if (revisions.has(digest) && !keep.has(digest)) {
          keep.add(digest);
          grew = true;
        }
      }
    }
  }
  for (const manifest of revisions.values()) {
    if (keep.has(manifest.digest.value)) continue;
    deleted.push(`${repo}@${manifest.digest.value}`);
    if (dryRun) continue;
    await driver.delete(paths.revisionDir(repo, manifest.digest));
    const subject = manifest.parsed?.subject;
    if (subject) await driver.delete(paths.referrerDir(repo, subject.digest, manifest.digest));
  }
  return [...revisions.values()].filter((m) => keep.has(m.digest.value));
}

async function listRevisions(driver: StorageDriver, repo: string): Promise<Digest[]> {
  const found: Digest[] = [];
  for (const algorithm of ALGORITHMS) {
    for (const hex of await driver.list(paths.revisionsOfAlgorithm(repo, algorithm))) {
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

async function readManifest(driver: StorageDriver, digest: Digest): Promise<ParsedManifest | undefined> {
  try {
    return parseManifest(await driver.getContent(paths.blobData(digest)), undefined);
  } catch {
    return undefined; // missing or not a manifest we can read: it references nothing we know of
  }
}

/** Whether any repository's link to `digest` (layer or revision) was written or touched since `since`. */
async function linkedSince(driver: StorageDriver, repositories: readonly string[], digest: Digest, since: number): Promise<boolean> {
  for (const repo of repositories) {
    for (const link of [paths.layerLink(repo, digest), paths.revisionLink(repo, digest)]) {
      const info = await driver.stat(link);
      if (info && info.modifiedAt.getTime() >= since) return true;
    }
  }
  // A repository created since the mark phase began links only fresh content: also safe.
  return false;
}

/** Renames the blob aside, looks at its links once more, then deletes it or puts it back. */
async function deleteUnlessTouched(driver: StorageDriver, repositories: readonly string[], digest: Digest, since: number): Promise<boolean> {
  const aside = paths.blobDataAside(digest);
  try {
    await driver.move(paths.blobData(digest), aside);
  } catch (err) {
    if (err instanceof PathNotFoundError) return false;
    throw err;
  }
  const current = await listRepositories(driver);
  if (await linkedSince(driver, [...new Set([...repositories, ...current])], digest, since)) {
    await driver.move(aside, paths.blobData(digest));
    return false;
  }
  await driver.delete(paths.blobDir(digest));
  return true;
}
