import type { Logger } from '../log.ts';
import { PathNotFoundError, type StorageDriver } from '../storage/driver.ts';
import { paths } from '../storage/paths.ts';

/**
 * Health checks for /debug/health, in the manner of distribution's health package: each check
 * runs on its own timer and keeps its last status, so answering a probe never touches storage
 * (health.go: "a Checker that returns the Check() call immediately not blocking on a potentially
 * expensive check").
 */
export interface HealthCheck {
  /** distribution's name: `storagedriver_<driver>` (handlers/app.go RegisterHealthChecks). */
  readonly name: string;
  /** Why the check is failing; undefined while it passes. */
  failure(): string | undefined;
}

export interface HealthReport {
  readonly healthy: boolean;
  /** Check name → "ok" or why it fails. distribution's body lists the failing ones only, as name → error. */
  readonly checks: Readonly<Record<string, string>>;
}

export function healthReport(checks: readonly HealthCheck[]): HealthReport {
  const out: Record<string, string> = {};
  let healthy = true;
  for (const check of checks) {
    const failure = check.failure();
    if (failure !== undefined) healthy = false;
    out[check.name] = failure ?? 'ok';
  }
  return { healthy, checks: out };
}

export interface StorageCheckOptions {
  /** ms between checks (health.storagedriver.interval, default 10 s). */
  readonly interval: number;
  /** Consecutive failures before the check fails (health.storagedriver.threshold, default 3; 0 counts as 1). */
  readonly threshold: number;
  /** storage.maintenance.readonly: the storage may be mounted read-only, so only read (a stat of the root, distribution's check). */
  readonly readOnly: boolean;
}

const PROBE_PREFIX = 'quayside storage health check ';
/** A check running this long (or one interval, if longer) counts as a failure at every tick until it ends. */
const HUNG_AFTER_MS = 5_000;

/**
 * health.storagedriver: every `interval`, write a small object under the root and read it back
 * (distribution only stats "/"; a full disk or a read-only mount passes a stat and fails every
 * push, so Quayside writes). One fixed path for every replica on a shared bucket: what is read
 * back must be a probe, not this process's own, or replicas writing in turn would fail each
 * other. A check still running after HUNG_AFTER_MS counts as a failure (a hung NFS mount or an
 * unreachable S3 endpoint never answers, and would otherwise never fail); a slow one is waited for.
 */
export class StorageDriverCheck implements HealthCheck {
  readonly name: string;
  #failures = 0;
  #failing: string | undefined;
  /** When (Date.now()) the check in flight started; undefined when none is. */
  #runningSince: number | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly driver: StorageDriver,
    driverName: string,
    private readonly options: StorageCheckOptions,
    private readonly log: Logger,
  ) {
    this.name = `storagedriver_${driverName}`;
  }

  failure(): string | undefined {
    return this.#failing;
  }

  /** Checks now, then every interval; the timer never keeps the process alive. */
  start(): void {
    this.#tick();
    this.#timer = setInterval(() => this.#tick(), this.options.interval);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #tick(): void {
    const now = Date.now();
    if (this.#runningSince !== undefined) {
      // Still running: slow (a durable write on a busy disk) is not failing until it is hung.
      const hungAfter = Math.max(this.options.interval, HUNG_AFTER_MS);
      if (now - this.#runningSince >= hungAfter) this.#record(new Error(`the check has not finished after ${now - this.#runningSince} ms`));
      return;
    }
    this.#runningSince = now;
    this.#probe().then(
      () => this.#record(undefined),
      (err: unknown) => this.#record(err),
    ).finally(() => {
      this.#runningSince = undefined;
    });
  }

  async #probe(): Promise<void> {
    if (this.options.readOnly) {
      await this.driver.stat(paths.root).catch((err: unknown) => {
        if (!(err instanceof PathNotFoundError)) throw err;
      });
      return;
    }
    await this.driver.putContent(paths.healthCheck, `${PROBE_PREFIX}${new Date().toISOString()}\n`);
    const read = (await this.driver.getContent(paths.healthCheck)).toString('utf8');
    if (!read.startsWith(PROBE_PREFIX)) throw new Error(`read back ${JSON.stringify(read.slice(0, 64))} from ${paths.healthCheck}, not what was written`);
  }

  #record(err: unknown): void {
    if (err === undefined) {
      if (this.#failing !== undefined) this.log.info({ check: this.name }, 'health check passes again');
      this.#failures = 0;
      this.#failing = undefined;
      return;
    }
    this.#failures++;
    const message = err instanceof Error ? err.message : String(err);
    this.log.error({ check: this.name, failures: this.#failures, err }, 'storage driver health check failed');
    if (this.#failures >= Math.max(1, this.options.threshold)) this.#failing = message;
  }
}
