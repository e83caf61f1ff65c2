import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Bench, type FnReturnedObject, type Task } from 'tinybench';
import { report, round, type Row } from '../lib/report.ts';

/**
 * What every bench/micro/*.bench.ts shares: one suite per source file it mirrors, tinybench
 * underneath, one row shape. Each suite checks its answers with assert BEFORE it times anything
 * (STYLE habit 10): a fast wrong answer is not a result.
 */
export interface MicroOptions {
  /** Time budget per task, ms. */
  readonly time: number;
  /** Warmup budget per task, ms. */
  readonly warmupTime: number;
}

export interface MicroSuite {
  /** Short name, used as the `suite` column. */
  readonly name: string;
  /** The source file it measures. */
  readonly source: string;
  run(options: MicroOptions): Promise<Row[]>;
}

export const defaultMicroOptions: MicroOptions = { time: 500, warmupTime: 100 };

export function newBench(options: MicroOptions): Bench {
  return new Bench({ time: options.time, warmupTime: options.warmupTime, throws: true });
}

/** Keeps results observable so the optimiser cannot drop the call being timed. */
export let sink: unknown;

/**
 * A sub-microsecond operation timed in batches of `batch` calls: one sample is the batch's mean,
 * so the timer's own cost (tens of ns) does not dominate.
 */
export function batched(batch: number, op: () => unknown): () => FnReturnedObject {
  return () => {
    const started = performance.now();
    for (let i = 0; i < batch; i++) sink = op();
    const elapsed = performance.now() - started;
    return { overriddenDuration: elapsed / batch, overriddenIterationCost: elapsed };
  };
}

/** Per-task extras, e.g. MiB/s for a task that processes a known number of bytes per call. */
export type Extra = (meanMs: number) => Row;

export function perMiB(bytesPerCall: number): Extra {
  return (meanMs) => ({ 'MiB/s': round(bytesPerCall / (1024 * 1024) / (meanMs / 1000), 0) });
}

export function rowsOf(suite: MicroSuite, bench: Bench, extras: ReadonlyMap<string, Extra> = new Map()): Row[] {
  return bench.tasks.map((task: Task): Row => {
    const result = task.result;
    if (result.state !== 'completed') {
      throw new Error(`${suite.name} / ${task.name}: ${result.state === 'errored' ? result.error.message : result.state}`);
    }
    const latency = result.latency;
    const row: Row = {
      suite: suite.name,
      task: task.name,
      'ops/s': round(1000 / latency.mean, 0),
      'mean ns': round(latency.mean * 1e6, 0),
      'p99 ns': round(latency.p99 * 1e6, 0),
      'rme %': round(latency.rme, 2),
      samples: task.runs,
    };
    const extra = extras.get(task.name);
    return extra ? { ...row, ...extra(latency.mean) } : row;
  });
}

/** Lets a suite file run on its own: `node --import tsx bench/micro/router.bench.ts`. */
export async function runIfMain(moduleUrl: string, suite: MicroSuite): Promise<void> {
  const entry = process.argv[1];
  if (entry === undefined || realpathSync(entry) !== realpathSync(fileURLToPath(moduleUrl))) return;
  await report(`micro-${suite.name}`, await suite.run(defaultMicroOptions));
}
