/**
 * Garbage collection and upload purge runs, counted where they run (gc/garbage-collect.ts,
 * uploads/purge.ts) and read when metrics are scraped. Process-wide plain numbers: a run is rare,
 * so counting costs nothing whether metrics are on or not, and the counts need no registry to
 * exist. A run in another process (`quayside garbage-collect` from cron) is that process's.
 */
export interface RunCounts {
  ok: number;
  failed: number;
}

export const gcRuns = { ok: 0, failed: 0, dryRuns: 0, blobsDeleted: 0, manifestsDeleted: 0, bytesFreed: 0 };
export const purgeRuns = { ok: 0, failed: 0, uploadsPurged: 0 };

/** A garbage collection ended: its report, or undefined when it failed (GcAbortedError, I/O). */
export function countGcRun(report: { readonly blobsDeleted: readonly string[]; readonly manifestsDeleted: readonly string[]; readonly bytesFreed: number } | undefined, dryRun: boolean): void {
  if (!report) {
    gcRuns.failed++;
    return;
  }
  gcRuns.ok++;
  // A dry run deletes nothing: its "deleted" lists are what it would delete.
  if (dryRun) {
    gcRuns.dryRuns++;
    return;
  }
  gcRuns.blobsDeleted += report.blobsDeleted.length;
  gcRuns.manifestsDeleted += report.manifestsDeleted.length;
  gcRuns.bytesFreed += report.bytesFreed;
}

/** An upload purge ended: the uploads it removed, or undefined when it failed. */
export function countPurgeRun(purged: number | undefined, dryRun: boolean): void {
  if (purged === undefined) {
    purgeRuns.failed++;
    return;
  }
  purgeRuns.ok++;
  if (!dryRun) purgeRuns.uploadsPurged += purged;
}
