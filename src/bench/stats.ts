import { UnexpectedReply } from './push.ts';

/** Latencies and outcomes of one scenario's operations. */
export class Outcomes {
  readonly latenciesMs: number[] = [];
  /** Failed operations by HTTP status ("network" when no answer came). */
  readonly errors: Record<string, number> = {};
  firstError: string | undefined;

  ok(ms: number): void {
    this.latenciesMs.push(ms);
  }

  failed(err: unknown): void {
    const key = err instanceof UnexpectedReply ? String(err.status) : 'network';
    this.errors[key] = (this.errors[key] ?? 0) + 1;
    this.firstError ??= (err as Error).message;
  }

  get errorCount(): number {
    return Object.values(this.errors).reduce((a, b) => a + b, 0);
  }

  percentile(p: number): number {
    return percentile(this.latenciesMs, p);
  }
}

/** Nearest-rank percentile; 0 of nothing. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0;
}

/** The benchmark process's own CPU while a scenario ran, as a fraction of one core: near 1 means the client may be the bottleneck. */
export class ClientCpu {
  private readonly cpu = process.cpuUsage();
  private readonly started = performance.now();

  fractionOfCore(): number {
    const used = process.cpuUsage(this.cpu);
    const wallUs = (performance.now() - this.started) * 1000;
    return wallUs > 0 ? (used.user + used.system) / wallUs : 0;
  }
}
