/**
 * Issue 12's "honest figures" check: `quayside bench` against the project's own throughput
 * benchmark, on the same kind of target, they must agree within 10 %.
 *
 *   node --import tsx bench/agreement/bench-vs-throughput.ts [--parallel 4] [--size 256MiB] [--rounds 3]
 *                                                             [--targets quayside,docker-registry]
 *                                                             [--runner compiled|tsx]
 *
 * Both tools run as their users run them, as child processes, interleaved round by round:
 * - `npm run bench:throughput -- --parallel P --size S --modes chunked --targets T --no-pull`,
 *   which starts its own fresh target per round (bench/lib/targets.ts) and runs compiled
 *   (scripts/run-compiled.mjs; `--runner tsx` runs it under tsx instead, as it ran before);
 * - `quayside bench URL --scenarios push --modes chunked --parallel P --size S --chunk 32MiB`
 *   (the CLI from dist/, through bin/quayside.cjs) against a target started the same way on a
 *   fresh root, stopped after the round.
 * Same chunk size (32 MiB, the throughput bench's default), same content generator, verified
 * uploads in both. Reported: each tool's MiB/s per round, the medians, and their ratio.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { progress, report, round, type Row } from '../lib/report.ts';
import { buildQuayside, repoRoot, startDockerRegistry, startQuayside, type Target } from '../lib/targets.ts';

const run = promisify(execFile);

type TargetName = 'quayside' | 'docker-registry';

const { values } = parseArgs({
  options: {
    parallel: { type: 'string', default: '4' },
    size: { type: 'string', default: '256MiB' },
    rounds: { type: 'string', default: '3' },
    targets: { type: 'string', default: 'quayside,docker-registry' },
    // 'compiled': `npm run bench:throughput` as it is (scripts/run-compiled.mjs); 'tsx': the same
    // file under `node --import tsx`, as it ran before: the client's own CPU is the difference.
    runner: { type: 'string', default: 'compiled' },
  },
});
const targets = values.targets.split(',') as TargetName[];
const rounds = Number(values.rounds);

/** One throughput-bench round: its results file's push MiB/s for `target`. */
async function throughputBench(target: TargetName): Promise<number> {
  const args = ['--parallel', values.parallel, '--size', values.size, '--modes', 'chunked', '--targets', target, '--no-pull'];
  const { stdout } =
    values.runner === 'tsx'
      ? await run(process.execPath, ['--import', 'tsx', join(repoRoot, 'bench', 'throughput', 'parallel-layers.ts'), ...args], { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 })
      : await run('npm', ['run', '-s', 'bench:throughput', '--', ...args], { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 });
  const file = /results: (\S+\.json)/.exec(stdout)?.[1];
  if (file === undefined) throw new Error(`bench:throughput printed no results file:\n${stdout}`);
  const results = JSON.parse(await readFile(file, 'utf8')) as { rows: Row[] };
  const mibPerSec = results.rows.find((row) => row['target'] === target)?.['MiB/s'];
  if (typeof mibPerSec !== 'number') throw new Error(`bench:throughput: no MiB/s for ${target} in ${file}`);
  return mibPerSec;
}

/** One `quayside bench` round against a fresh `target`: its push MiB/s. */
async function quaysideBench(target: TargetName): Promise<number> {
  const work = await mkdtemp(join(tmpdir(), 'quayside-agreement-'));
  let server: Target | undefined;
  try {
    const root = join(work, 'root');
    server = target === 'docker-registry' ? await startDockerRegistry({ root }) : await startQuayside({ root });
    const json = join(work, 'report.json');
    await run(process.execPath, [join(repoRoot, 'bin', 'quayside.cjs'), 'bench', server.url, '--scenarios', 'push', '--modes', 'chunked', '--parallel', values.parallel, '--size', values.size, '--chunk', '32MiB', '--json', json], { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 });
    const entry = (JSON.parse(await readFile(json, 'utf8')) as { scenarios: { name: string; mibPerSec?: number }[] }).scenarios.find((e) => e.name === 'push');
    if (entry?.mibPerSec === undefined) throw new Error('quayside bench: no push MiB/s');
    return entry.mibPerSec;
  } finally {
    await server?.stop();
    await rm(work, { recursive: true, force: true });
  }
}

const median = (xs: readonly number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};

buildQuayside();
const load = { before: loadavg().map((l) => round(l, 2)), after: [] as number[] };
const rows: Row[] = [];
for (const target of targets) {
  const figures = { throughput: [] as number[], bench: [] as number[] };
  for (let r = 1; r <= rounds; r++) {
    // Alternate which tool goes first, so neither always meets a warmer page cache.
    const order = r % 2 === 1 ? (['throughput', 'bench'] as const) : (['bench', 'throughput'] as const);
    for (const tool of order) {
      const mibPerSec = tool === 'throughput' ? await throughputBench(target) : await quaysideBench(target);
      figures[tool].push(mibPerSec);
      rows.push({ target, round: r, tool: tool === 'throughput' ? 'bench:throughput' : 'quayside bench', 'MiB/s': mibPerSec, load1: round(loadavg()[0] ?? 0, 1) });
      progress(`${target} round ${r} ${tool}: ${mibPerSec} MiB/s`);
    }
  }
  const throughput = median(figures.throughput);
  const bench = median(figures.bench);
  rows.push({ target, round: 'median', tool: 'quayside bench / bench:throughput', 'MiB/s': `${round(bench, 0)} / ${round(throughput, 0)}`, ratio: round(bench / throughput, 3) });
}
load.after = loadavg().map((l) => round(l, 2));
await report('bench-agreement', rows, { argv: process.argv.slice(2), loadavg: load });
