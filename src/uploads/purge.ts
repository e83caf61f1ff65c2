import type { Logger } from '../log.ts';
import type { RunCounts } from '../metrics/runs.ts';
import { getContentIfExists, type StorageDriver } from '../storage/driver.ts';
import { paths } from '../storage/paths.ts';
import { listRepositories } from '../storage/repositories.ts';
import type { UploadRef } from './session.ts';

/**
 * Removes uploads started longer ago than `maxAgeMs` (distribution's uploadpurging: default 168 h,
 * checked every 24 h). An upload's age is its `startedat` time, as distribution writes and reads it;
 * without a readable one, the folder's modification time.
 */
export interface PurgeResult {
  readonly examined: number;
  readonly purged: readonly string[];
  /**
   * Writes begun longer ago than the age and never finished (S3: the multipart upload of a
   * process that died while the pull-through cache or a commit wrote a blob, or before an
   * upload's state named it), aborted.
   */
  readonly incompleteWrites: number;
}

/** `discard` removes one upload as its storage must (uploads/backend.ts: S3 aborts its multipart upload). */
export async function purgeStaleUploads(driver: StorageDriver, discard: (ref: UploadRef) => Promise<void>, maxAgeMs: number, dryRun: boolean, now = Date.now()): Promise<PurgeResult> {
  const purged: string[] = [];
  /** Uploads left in place: their writes are theirs, whatever their age. */
  const kept: string[] = [];
  let examined = 0;
  for (const repo of await listRepositories(driver)) {
    for (const id of await driver.list(paths.uploadsDir(repo))) {
      examined++;
      const started = await startedAt(driver, repo, id);
      if (started === undefined || now - started < maxAgeMs) {
        kept.push(paths.uploadDir(repo, id));
        continue;
      }
      purged.push(`${repo}/${id}`);
      if (!dryRun) await discard({ repo, id });
    }
  }
  // A write begun before the purge age is a dead process's: one into blobs/ (the pull-through
  // cache, a commit) or an upload's that died before its state named it, so no folder lists it.
  // An upload kept above (young, or of unknown age) keeps its writes, whatever their age.
  const incompleteWrites = (await driver.purgeIncompleteWrites?.(paths.root, now - maxAgeMs, dryRun, kept)) ?? 0;
  return { examined, purged, incompleteWrites };
}

async function startedAt(driver: StorageDriver, repo: string, id: string): Promise<number | undefined> {
  const text = await getContentIfExists(driver, paths.uploadStartedAt(repo, id));
  const parsed = text ? Date.parse(text.toString('utf8').trim()) : Number.NaN;
  if (!Number.isNaN(parsed)) return parsed;
  // An object store's folder has no time (S3Driver.stat: epoch): its age is unknown, so it is kept.
  const folderTime = (await driver.stat(paths.uploadDir(repo, id)))?.modifiedAt.getTime();
  return folderTime === undefined || folderTime <= 0 ? undefined : folderTime;
}

/** Runs the purge now and every `intervalMs`, counting each run into `runs` (the registry's own); the timer never keeps the process alive. */
export function schedulePurging(driver: StorageDriver, discard: (ref: UploadRef) => Promise<void>, options: { age: number; interval: number; dryrun: boolean }, runs: RunCounts, log: Logger): () => void {
  const run = (): void => {
    purgeStaleUploads(driver, discard, options.age, options.dryrun).then(
      (result) => {
        runs.purgeEnded(result.purged.length, options.dryrun);
        if (result.purged.length > 0 || result.incompleteWrites > 0 || options.dryrun) log.info({ examined: result.examined, purged: result.purged.length, incompleteWrites: result.incompleteWrites, dryRun: options.dryrun }, 'stale uploads purged');
      },
      (err: unknown) => {
        runs.purgeEnded(undefined, options.dryrun);
        log.error({ err }, 'upload purging failed');
      },
    );
  };
  const first = setTimeout(run, 1000);
  const every = setInterval(run, Math.max(60_000, options.interval));
  first.unref();
  every.unref();
  return () => {
    clearTimeout(first);
    clearInterval(every);
  };
}
