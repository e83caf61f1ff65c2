import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { parseSize } from '../config/values.ts';
import { parseDuration } from '../config/load.ts';
import { BlobContent } from './content.ts';
import { BenchClient } from './http-client.ts';
import { PUSH_MODES, type BlobToPush, type PushMode } from './push.ts';
import { blobsFor, pullScenario, pushChainScenario, pushScenario, round, type ScenarioResult } from './scenarios.ts';
import { seedSmallImage, smallReadScenario, SMALL_READS, type SmallImage } from './small-reads.ts';
import { ServerSampler } from './server-sampler.ts';
import { renderChart } from './chart.ts';

export const BENCH_HELP = `quayside bench: measure any registry (Docker Registry HTTP API V2 / OCI distribution)

Usage:
  quayside bench URL [--compare URL2] [options]

Scenarios (--scenarios, default push,pull,small,chain,mixed):
  push     --parallel N uploads of --size bytes at once, per --modes (chunked,streamed,monolithic),
           chunked in --chunk PATCHes; every upload verified (202s, 201, digest, HEAD size)
  pull     the pushed blobs pulled at once: cold (first pull), then warm (again)
  small    manifest by tag, tags list and a 4 KiB blob, --concurrency loops for --duration
  chain    push chains (POST, PATCH 4 KiB, PUT, HEAD) at --concurrency for --duration
  mixed    small manifest reads at --concurrency while --parallel chunked pushes run

Options:
  --parallel 4  --size 256MiB  --modes chunked,streamed,monolithic  --chunk 16MiB
  --concurrency 16  --duration 10s  --rounds 1
  --client-threads N         threads the small reads are spread over (default: the cores, at most 4)
  --repo bench/<random>      repositories go under this prefix
  --username U --password P  htpasswd Basic or the token flow, whichever the registry asks for
                             (or QUAYSIDE_BENCH_USERNAME / QUAYSIDE_BENCH_PASSWORD)
  --insecure                 https: accept any certificate
  --server-pid PID           the registry runs here: its CPU-seconds per GiB and peak RSS
  --compare-pid PID          the same for --compare's registry
  --json FILE                one entry per scenario and target (name, mode, parallel, size,
                             mibPerSec or requestsPerSec, p50Ms, p99Ms, errors, ...)
  --chart FILE               the results as one standalone SVG bar chart (a group per scenario)
  --cleanup                  delete what was pushed, where the registry allows deletes

With --compare, each scenario runs on URL then on URL2 before the next scenario (interleaved),
and the ratio URL / URL2 is reported per scenario. Exit status 1 when any operation failed.
`;

export type ScenarioName = 'push' | 'pull' | 'small' | 'chain' | 'mixed';
const SCENARIOS: readonly ScenarioName[] = ['push', 'pull', 'small', 'chain', 'mixed'];

export interface BenchOptions {
  readonly url: string;
  readonly compare?: string;
  readonly scenarios: readonly ScenarioName[];
  readonly parallel: number;
  readonly size: number;
  readonly modes: readonly PushMode[];
  readonly chunk: number;
  readonly concurrency: number;
  /** Threads small reads are spread over: one event loop of the client tops out below a registry. */
  readonly clientThreads: number;
  readonly durationMs: number;
  readonly rounds: number;
  readonly repo: string;
  readonly username?: string;
  readonly password?: string;
  readonly insecure: boolean;
  readonly serverPid?: number;
  readonly comparePid?: number;
  readonly json?: string;
  readonly chart?: string;
  readonly cleanup: boolean;
}

/** A result row of one target, with what the server's /proc said when it is on this machine. */
export interface BenchEntry extends ScenarioResult {
  readonly target: string;
  readonly round?: number;
  readonly serverCpuSecondsPerGiB?: number;
  readonly serverCpuSeconds?: number;
  readonly peakRssMiB?: number;
}

export interface Comparison {
  readonly name: string;
  readonly mode: string;
  readonly round?: number;
  /** URL's figure over URL2's (MiB/s or requests/s): above 1, URL is faster. */
  readonly ratio: number | undefined;
}

export interface BenchReport {
  readonly tool: 'quayside bench';
  readonly at: string;
  readonly machine: Readonly<Record<string, string | number>>;
  readonly options: Readonly<Record<string, unknown>>;
  readonly scenarios: readonly BenchEntry[];
  readonly comparisons: readonly Comparison[];
  /** The benchmark process was near a whole core in these: their figures may be the client's limit. */
  readonly clientSaturated: readonly string[];
}

export class BenchUsageError extends Error {
  override readonly name = 'BenchUsageError';
}

export function parseBenchArgs(args: readonly string[], env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      compare: { type: 'string' },
      scenarios: { type: 'string', default: SCENARIOS.join(',') },
      parallel: { type: 'string', default: '4' },
      size: { type: 'string', default: '256MiB' },
      modes: { type: 'string', default: PUSH_MODES.join(',') },
      chunk: { type: 'string', default: '16MiB' },
      concurrency: { type: 'string', default: '16' },
      'client-threads': { type: 'string', default: String(Math.min(4, availableParallelism())) },
      duration: { type: 'string', default: '10s' },
      rounds: { type: 'string', default: '1' },
      repo: { type: 'string' },
      username: { type: 'string' },
      password: { type: 'string' },
      insecure: { type: 'boolean', default: false },
      'server-pid': { type: 'string' },
      'compare-pid': { type: 'string' },
      json: { type: 'string' },
      chart: { type: 'string' },
      cleanup: { type: 'boolean', default: false },
    },
  });
  const url = positionals[0];
  if (url === undefined || positionals.length > 1) throw new BenchUsageError('give exactly one registry URL, e.g. quayside bench http://127.0.0.1:5000');
  const list = <T extends string>(flag: string, text: string, allowed: readonly T[]): T[] => {
    const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
    const bad = items.filter((s) => !allowed.some((a) => a === s));
    if (bad.length > 0 || items.length === 0) throw new BenchUsageError(`--${flag}: ${bad.join(',') || '(none)'} is not one of ${allowed.join(', ')}`);
    return items as T[];
  };
  const whole = (flag: string, text: string, min: number): number => {
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < min) throw new BenchUsageError(`--${flag}: a whole number ≥ ${min}, not ${text}`);
    return n;
  };
  const bytes = (flag: string, text: string): number => {
    const n = parseSize(text);
    if (n === undefined || n < 1) throw new BenchUsageError(`--${flag}: a size such as 256MiB or 4KiB, not ${text}`);
    return n;
  };
  const chunk = bytes('chunk', values.chunk);
  // Chunk boundaries fall on the content's 1 MiB pieces (content.ts), except a last short one.
  if (chunk % (1024 * 1024) !== 0) throw new BenchUsageError(`--chunk: a whole number of MiB, not ${values.chunk}`);
  const durationMs = parseDuration(values.duration);
  if (durationMs === undefined || durationMs <= 0) throw new BenchUsageError(`--duration: a duration such as 10s or 1m, not ${values.duration}`);
  const username = values.username ?? env.QUAYSIDE_BENCH_USERNAME;
  const password = values.password ?? env.QUAYSIDE_BENCH_PASSWORD;
  if ((username === undefined) !== (password === undefined)) throw new BenchUsageError('--username and --password go together');
  for (const [flag, target] of [['url', url], ['compare', values.compare]] as const) {
    if (target !== undefined && !/^https?:\/\/[^/]+/.test(target)) throw new BenchUsageError(`${flag === 'url' ? 'URL' : '--compare'}: an http:// or https:// URL, not ${target}`);
  }
  return {
    url,
    ...(values.compare === undefined ? {} : { compare: values.compare }),
    scenarios: list('scenarios', values.scenarios, SCENARIOS),
    parallel: whole('parallel', values.parallel, 1),
    size: bytes('size', values.size),
    modes: list('modes', values.modes, PUSH_MODES),
    chunk,
    concurrency: whole('concurrency', values.concurrency, 1),
    clientThreads: whole('client-threads', values['client-threads'], 1),
    durationMs,
    rounds: whole('rounds', values.rounds, 1),
    repo: values.repo ?? `bench/${randomBytes(4).toString('hex')}`,
    ...(username === undefined || password === undefined ? {} : { username, password }),
    insecure: values.insecure,
    ...(values['server-pid'] === undefined ? {} : { serverPid: whole('server-pid', values['server-pid'], 1) }),
    ...(values['compare-pid'] === undefined ? {} : { comparePid: whole('compare-pid', values['compare-pid'], 1) }),
    ...(values.json === undefined ? {} : { json: values.json }),
    ...(values.chart === undefined ? {} : { chart: values.chart }),
    cleanup: values.cleanup,
  };
}

/** One registry under test and what was put there for the scenarios that follow. */
class Target {
  readonly pushed: BlobToPush[] = [];
  readonly manifests: { repo: string; digest: string }[] = [];
  image: SmallImage | undefined;

  constructor(
    readonly label: string,
    readonly client: BenchClient,
    readonly sampler: ServerSampler | undefined,
  ) {}
}

/** Runs the benchmark: every scenario on each target in turn, then the report. */
export async function runBench(options: BenchOptions, log: (text: string) => void = (text) => process.stderr.write(`${text}\n`)): Promise<BenchReport> {
  const credentials = options.username !== undefined && options.password !== undefined ? { username: options.username, password: options.password } : undefined;
  const clientOptions = { ...(credentials ? { credentials } : {}), insecure: options.insecure };
  const targets = [new Target(options.url, new BenchClient(options.url, clientOptions), options.serverPid === undefined ? undefined : await ServerSampler.check(options.serverPid))];
  if (options.compare !== undefined) {
    targets.push(new Target(options.compare, new BenchClient(options.compare, clientOptions), options.comparePid === undefined ? undefined : await ServerSampler.check(options.comparePid)));
  }
  const content = new BlobContent();
  let nextBlob = 0;
  const take = (count: number): number => {
    const first = nextBlob;
    nextBlob += count;
    return first;
  };
  const entries: BenchEntry[] = [];
  const measure = async (target: Target, round: number | undefined, run: () => Promise<ScenarioResult | ScenarioResult[]>): Promise<void> => {
    await target.sampler?.start();
    const results = [await run()].flat();
    const server = await target.sampler?.stop();
    for (const result of results) {
      const gib = result.mibPerSec === undefined ? undefined : (result.mibPerSec * result.seconds) / 1024;
      const entry: BenchEntry = {
        ...result,
        target: target.label,
        ...(round === undefined ? {} : { round }),
        ...(server === undefined ? {} : { serverCpuSeconds: round2(server.cpuSeconds), peakRssMiB: Math.round(server.peakRssMiB) }),
        ...(server !== undefined && gib !== undefined && gib > 0 && results.length === 1 ? { serverCpuSecondsPerGiB: round2(server.cpuSeconds / gib) } : {}),
      };
      entries.push(entry);
      log(`${entry.target} ${entry.name} ${entry.mode}: ${entry.mibPerSec !== undefined ? `${entry.mibPerSec} MiB/s` : `${entry.requestsPerSec ?? 0} req/s`}, p50 ${entry.p50Ms} ms, p99 ${entry.p99Ms} ms${errorText(entry.errors)}`);
    }
  };
  try {
    for (let r = 1; r <= options.rounds; r++) {
      const round = options.rounds > 1 ? r : undefined;
      const repoOf = (name: string): string => `${options.repo}/${name}`;
      if (options.scenarios.includes('push') || options.scenarios.includes('pull')) {
        for (const mode of options.modes) {
          for (const target of targets) {
            const blobs = blobsFor(content, repoOf(`push-${mode}`), take(options.parallel), options.parallel, options.size);
            await measure(target, round, () => pushScenario(target.client, content, blobs, mode, options.chunk, log));
            target.pushed.push(...blobs);
            if (options.scenarios.includes('pull') && mode === options.modes[0]) {
              await measure(target, round, () => pullScenario(target.client, blobs, 'cold'));
              await measure(target, round, () => pullScenario(target.client, blobs, 'warm'));
            }
          }
        }
      }
      if (options.scenarios.includes('small') || options.scenarios.includes('mixed')) {
        for (const target of targets) target.image ??= await seedImage(target, content, repoOf('small'), take(1));
      }
      if (options.scenarios.includes('small')) {
        for (const kind of SMALL_READS) {
          for (const target of targets) {
            const image = target.image;
            if (image) await measure(target, round, () => smallReadScenario(target.client, image, kind, options.concurrency, options.durationMs, options.clientThreads));
          }
        }
      }
      if (options.scenarios.includes('chain')) {
        for (const target of targets) {
          const first = take(options.concurrency * 100_000);
          await measure(target, round, () => pushChainScenario(target.client, content, repoOf('chain'), first, options.concurrency, options.durationMs));
        }
      }
      if (options.scenarios.includes('mixed')) {
        for (const target of targets) {
          const image = target.image;
          if (!image) continue;
          const blobs = blobsFor(content, repoOf('mixed'), take(options.parallel), options.parallel, options.size);
          await measure(target, round, async () => {
            const [reads, pushes] = await Promise.all([smallReadUntil(target, image, options), pushScenario(target.client, content, blobs, 'chunked', options.chunk, log)]);
            return [{ ...reads, name: 'mixed-read' }, { ...pushes, name: 'mixed-push' }];
          });
          target.pushed.push(...blobs);
        }
      }
    }
    if (options.cleanup) for (const target of targets) log(`${target.label}: ${await cleanup(target)}`);
  } finally {
    for (const target of targets) target.client.close();
  }
  const report: BenchReport = {
    tool: 'quayside bench',
    at: new Date().toISOString(),
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    options: { ...options, password: options.password === undefined ? undefined : '(set)' },
    scenarios: entries,
    comparisons: options.compare === undefined ? [] : compareEntries(entries, options.url, options.compare),
    clientSaturated: entries.filter((e) => e.clientCores >= 0.9 * threadsOf(e, options)).map((e) => `${e.target} ${e.name} ${e.mode}`),
  };
  if (options.json !== undefined) await writeFile(options.json, JSON.stringify(report, null, 2));
  if (options.chart !== undefined) await writeFile(options.chart, renderChart(report));
  return report;
}

/** The small reads of the mixed scenario: they run for as long as --duration, alongside the pushes. */
function smallReadUntil(target: Target, image: SmallImage, options: BenchOptions): Promise<ScenarioResult> {
  return smallReadScenario(target.client, image, 'manifest', options.concurrency, options.durationMs, options.clientThreads);
}

async function seedImage(target: Target, content: BlobContent, repo: string, blob: number): Promise<SmallImage> {
  const image = await seedSmallImage(target.client, content, repo, blob);
  target.pushed.push(image.layer, image.config);
  target.manifests.push({ repo, digest: image.manifestDigest });
  return image;
}

function compareEntries(entries: readonly BenchEntry[], a: string, b: string): Comparison[] {
  const figure = (e: BenchEntry): number | undefined => e.mibPerSec ?? e.requestsPerSec;
  return entries
    .filter((e) => e.target === a)
    .map((e) => {
      const other = entries.find((o) => o.target === b && o.name === e.name && o.mode === e.mode && o.round === e.round);
      const mine = figure(e);
      const theirs = other === undefined ? undefined : figure(other);
      return { name: e.name, mode: e.mode, ...(e.round === undefined ? {} : { round: e.round }), ratio: mine !== undefined && theirs !== undefined && theirs > 0 ? round2(mine / theirs) : undefined };
    });
}

/** Deletes the manifests, then the blobs, pushed: 202 each, or the registry says deletes are off. */
async function cleanup(target: Target): Promise<string> {
  let deleted = 0;
  let refused = 0;
  const remove = async (path: string): Promise<void> => {
    const reply = await target.client.send('DELETE', path);
    if (reply.status === 202) deleted++;
    else refused++;
  };
  for (const { repo, digest } of target.manifests) await remove(`/v2/${repo}/manifests/${digest}`);
  for (const blob of target.pushed) await remove(`/v2/${blob.repo}/blobs/${blob.digest}`);
  return refused === 0 ? `cleanup: deleted ${deleted}` : `cleanup: deleted ${deleted}, ${refused} refused (deletes disabled on the registry?)`;
}

/** Threads the client ran a scenario on: its saturation is 0.9 of each (small reads spread over --client-threads). */
function threadsOf(entry: ScenarioResult, options: BenchOptions): number {
  const spread = entry.name === 'small-read' || entry.name === 'mixed-read';
  return spread ? Math.min(options.clientThreads, options.concurrency, availableParallelism()) : 1;
}

function errorText(errors: Readonly<Record<string, number>>): string {
  const parts = Object.entries(errors).map(([status, n]) => `${n}× ${status}`);
  return parts.length === 0 ? '' : `, errors ${parts.join(', ')}`;
}

function round2(n: number): number {
  return round(n, 2);
}

/** The report as a console table: one row per scenario and target, then the ratios. */
export function printReport(report: BenchReport, out: (text: string) => void = (text) => process.stdout.write(`${text}\n`)): void {
  const rows = report.scenarios.map((e) => ({
    target: e.target,
    ...(e.round === undefined ? {} : { round: e.round }),
    scenario: e.name,
    mode: e.mode,
    parallel: e.parallel,
    size: e.size,
    'MiB/s': e.mibPerSec ?? '',
    'req/s': e.requestsPerSec ?? '',
    'p50 ms': e.p50Ms,
    'p99 ms': e.p99Ms,
    errors: Object.entries(e.errors).map(([s, n]) => `${n}×${s}`).join(' '),
    ...(e.serverCpuSecondsPerGiB === undefined ? {} : { 'server cpu-s/GiB': e.serverCpuSecondsPerGiB }),
    ...(e.peakRssMiB === undefined ? {} : { 'peak RSS MiB': e.peakRssMiB }),
    'client cores': e.clientCores,
  }));
  out(table(rows));
  if (report.comparisons.length > 0) out(table(report.comparisons.map((c) => ({ scenario: c.name, mode: c.mode, ...(c.round === undefined ? {} : { round: c.round }), ratio: c.ratio ?? '' }))));
  if (report.clientSaturated.length > 0) out(`warning: the benchmark used ≥ 0.9 of each of its cores in ${report.clientSaturated.join('; ')}: those figures may be the client's limit`);
}

/** A plain-text table (console.table prints to stdout only and quotes strings). */
function table(rows: readonly Record<string, string | number>[]): string {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cells = rows.map((r) => columns.map((c) => String(r[c] ?? '')));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => (row[i] ?? '').length)));
  const line = (values: readonly string[]): string => values.map((v, i) => v.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}
