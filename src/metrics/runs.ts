/**
 * Garbage collection and upload purge runs of ONE registry, counted by that registry where it
 * runs them (registry.ts: its garbageCollect() and its purge timer) and read by its own metrics
 * when scraped. Plain numbers: a run is rare, so counting costs nothing whether metrics are on
 * or not. Never module-level: several registries in one process (the library API, issue 12)
 * each report only their own runs. A run in another process (`quayside garbage-collect` from
 * cron) is that process's, and nothing there scrapes it.
 */
export interface GcCounts {
  ok: number;
  failed: number;
  dryRuns: number;
  blobsDeleted: number;
  manifestsDeleted: number;
  bytesFreed: number;
}

export interface PurgeCounts {
  ok: number;
  failed: number;
  uploadsPurged: number;
}

/** What a finished garbage collection reports that is counted (gc/garbage-collect.ts GcReport). */
export interface GcOutcome {
  readonly blobsDeleted: readonly string[];
  readonly manifestsDeleted: readonly string[];
  readonly bytesFreed: number;
}

export class RunCounts {
  readonly gc: GcCounts = { ok: 0, failed: 0, dryRuns: 0, blobsDeleted: 0, manifestsDeleted: 0, bytesFreed: 0 };
  readonly purge: PurgeCounts = { ok: 0, failed: 0, uploadsPurged: 0 };

  /** Counts the run `run` is (its report, or its failure: GcAbortedError, I/O) and passes it on unchanged. */
  async countGc<T extends GcOutcome>(run: Promise<T>, dryRun: boolean): Promise<T> {
    const report = await run.catch((err: unknown) => {
      this.#gcEnded(undefined, dryRun);
      throw err;
    });
    this.#gcEnded(report, dryRun);
    return report;
  }

  /** An upload purge ended: the uploads it removed, or undefined when it failed. */
  purgeEnded(purged: number | undefined, dryRun: boolean): void {
    if (purged === undefined) {
      this.purge.failed++;
      return;
    }
    this.purge.ok++;
    if (!dryRun) this.purge.uploadsPurged += purged;
  }

  #gcEnded(report: GcOutcome | undefined, dryRun: boolean): void {
    if (!report) {
      this.gc.failed++;
      return;
    }
    this.gc.ok++;
    // A dry run deletes nothing: its "deleted" lists are what it would delete.
    if (dryRun) {
      this.gc.dryRuns++;
      return;
    }
    this.gc.blobsDeleted += report.blobsDeleted.length;
    this.gc.manifestsDeleted += report.manifestsDeleted.length;
    this.gc.bytesFreed += report.bytesFreed;
  }
}
