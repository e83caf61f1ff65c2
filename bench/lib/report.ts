import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './targets.ts';

/** One results format for every benchmark: a console table, and JSON under bench/results/. */
export type Row = Record<string, string | number>;

export function machine(): Record<string, string | number> {
  const cpu = cpus();
  return { cpu: cpu[0]?.model ?? 'unknown', cores: cpu.length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
}

export async function report(name: string, rows: readonly Row[], extra: Record<string, unknown> = {}): Promise<string> {
  console.table(rows);
  const dir = join(repoRoot, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, JSON.stringify({ name, at: new Date().toISOString(), machine: machine(), rows, ...extra }, null, 2));
  console.log(`results: ${file}`);
  return file;
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** A progress line on stderr, rewritten in place, for multi-GB runs. */
export function progress(text: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r${text.padEnd(100)}`);
  else process.stderr.write(`${text}\n`);
}
