/**
 * Throughput: P parallel uploads of S bytes each, against Quayside and docker-registry side by
 * side in one run (same client, same storage), then parallel pulls of what was pushed.
 *
 *   npm run bench:throughput -- [--parallel 4] [--size 1GiB] [--modes chunked,streamed,monolithic]
 *                               [--targets quayside,docker-registry,quayside-wasm] [--chunk 32MiB]
 *                               [--rounds 1]
 *   npm run bench:throughput -- --scenarios 4x1GiB,8x2GiB      (the default)
 *   npm run bench:throughput -- --cold-pull   (drop the page cache before pulls: both read from disk)
 *
 * On S3 (issue 10): both registries on one Ceph RGW, each target under a fresh rootdirectory,
 * docker-registry 2.8.2's s3-aws driver with redirects off so pulls stream through it as through
 * Quayside. The RGW is S3_*'s when S3_ENDPOINT is set, else started (and stopped) with
 * scripts/s3-ceph.sh, whose S3_CEPH_DIR / S3_CEPH_PORT / S3_CEPH_MON_PORT / S3_CEPH_SIZE_GB apply.
 *
 *   npm run bench:throughput -- --storage s3 [--s3-chunksize 10MiB]   (default 4x1GiB, chunked,streamed)
 *   npm run bench:throughput -- --storage s3 --replicas 2             (one upload's PATCHes alternate
 *                                                                       between two Quaysides, against
 *                                                                       each upload kept on one)
 *
 * Content is distinct per blob (a random pool stamped with blob and piece numbers), digests are
 * computed before timing, and every upload is verified: 201, Docker-Content-Digest, HEAD size.
 * Reported: MiB/s, per-upload p50/max seconds, server CPU-seconds per GiB, peak RSS, the ratio
 * to docker-registry, and the fraction of the disk's durable-write ceiling measured in the run
 * (filesystem) or the RGW daemons' own CPU per GiB (S3: they share the machine's cores).
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, rm, writeFile } from 'node:fs/promises';
import { nativeAddon } from '../../src/native/addon.ts';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BlobContent } from '../../src/bench/content.ts';
import { BenchClient } from '../../src/bench/http-client.ts';
import { ModeUnsupported, pullBlob, pushBlob } from '../../src/bench/push.ts';
import { percentile } from '../../src/bench/stats.ts';
import { progress, report, round, type Row } from '../lib/report.ts';
import { acquireS3, quaysideS3Env, type S3Service } from '../lib/s3.ts';
import { dockerRegistryAvailable, startDockerRegistry, startQuayside, type Target } from '../lib/targets.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

type Mode = 'chunked' | 'streamed' | 'monolithic';
type TargetName = 'quayside' | 'docker-registry' | 'quayside-wasm';

function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB)?$/i.exec(text.trim());
  if (!match) throw new Error(`not a size: ${text}`);
  const unit = (match[2] ?? 'B').toLowerCase();
  const factor = unit === 'gib' ? GiB : unit === 'mib' ? MiB : unit === 'kib' ? 1024 : 1;
  return Math.round(Number(match[1]) * factor);
}

/** Every blob's content (src/bench/content.ts, the same as `quayside bench` pushes): distinct, digests before timing. */
const CONTENT = new BlobContent();
/** A random block for the disk-ceiling writes. */
const BLOCK = randomBytes(8 * MiB);

function digestOf(blob: number, size: number): string {
  return CONTENT.digestOf(blob, size);
}

/**
 * Which server gets an upload's request number `step`: 0 is the POST, then one per PATCH, then
 * the PUT and the verifying HEAD. One target for all is the ordinary case; --replicas alternates.
 */
type Route = (step: number) => Target;

/** One keep-alive client per server (src/bench/http-client.ts), made on first use. */
const clients = new Map<Target, BenchClient>();
function clientOf(target: Target): BenchClient {
  let client = clients.get(target);
  if (client === undefined) clients.set(target, (client = new BenchClient(target.url)));
  return client;
}

/** One verified upload (src/bench/push.ts, `quayside bench`'s own): seconds from POST to 201. */
function upload(route: Route, mode: Mode, repo: string, blob: number, size: number, digest: string, chunk: number): Promise<number> {
  return pushBlob((step) => clientOf(route(step)), CONTENT, { repo, blob, size, digest }, mode, chunk);
}

async function pull(target: Target, repo: string, digest: string, size: number): Promise<void> {
  await pullBlob(clientOf(target), { repo, blob: -1, size, digest });
}


/**
 * The disk's durable-write ceiling: `writers` files written in parallel, fdatasync every 256 MiB,
 * through the page cache or (direct) with O_DIRECT; the ceiling is the better of the two.
 */
async function diskCeiling(dir: string, writers: number, bytesEach: number, direct: boolean): Promise<number> {
  const block = direct ? alignedBlock(8 * MiB) : BLOCK;
  if (!block) return 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async (_, i) => {
      const handle = await open(join(dir, `ceiling-${i}`), direct ? constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_DIRECT : 'w');
      try {
        let sinceSync = 0;
        for (let at = 0; at < bytesEach; at += block.length) {
          await handle.write(block, 0, block.length, at);
          sinceSync += block.length;
          if (sinceSync >= 256 * MiB) {
            await handle.datasync();
            sinceSync = 0;
          }
        }
        await handle.datasync();
      } finally {
        await handle.close();
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(Array.from({ length: writers }, (_, i) => rm(join(dir, `ceiling-${i}`), { force: true })));
  return (writers * bytesEach) / MiB / seconds;
}

/**
 * Empties the page cache (root only), so a pull reads from the disk. Without it docker-registry
 * pulls what its buffered writes left in memory, while Quayside's O_DIRECT writes left nothing.
 */
async function dropPageCache(): Promise<boolean> {
  try {
    const { execFileSync } = await import('node:child_process');
    execFileSync('sync');
    await writeFile('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

function alignedBlock(size: number): Buffer | undefined {
  if (nativeAddon instanceof Error) return undefined;
  const memory = Buffer.allocUnsafeSlow(size + 4096);
  const shift = (4096 - nativeAddon.addressMod(memory, 4096)) % 4096;
  const block = memory.subarray(shift, shift + size);
  BLOCK.copy(block, 0, 0, size);
  return block;
}

/** The servers of one measurement, over one fresh root; `stop()` also empties the root. */
interface Started {
  readonly targets: readonly Target[];
  stop(): Promise<void>;
}

/** Where the targets keep their data, and what the storage itself costs. */
interface Storage {
  readonly kind: 'filesystem' | 's3';
  /** `count` processes of `name` sharing one fresh root named after `label`. */
  start(name: TargetName, label: string, count: number): Promise<Started>;
  /** CPU seconds of the storage's own processes (RGW's daemons), when it has any we can read. */
  cpuSeconds(): Promise<number | undefined>;
  /** The storage's durable-write ceiling for this scenario, MiB/s (filesystem; S3 has none measured). */
  ceiling(size: number, label: string): Promise<number | undefined>;
  release(): Promise<void>;
}

function hashEngine(name: TargetName): NodeJS.ProcessEnv {
  return { QUAYSIDE_HASH_ENGINE: name === 'quayside-wasm' ? 'wasm' : 'auto' };
}

/** Starts `count` servers one by one; when one fails to start, those already up are stopped. */
async function startAll(count: number, startOne: () => Promise<Target>, clear: () => Promise<void>): Promise<Started> {
  const targets: Target[] = [];
  const stop = async (): Promise<void> => {
    for (const target of targets) await target.stop();
    await clear();
  };
  try {
    for (let i = 0; i < count; i++) targets.push(await startOne());
  } catch (err) {
    await stop();
    throw err;
  }
  return { targets, stop };
}

function filesystemStorage(work: string): Storage {
  return {
    kind: 'filesystem',
    start(name, label, count) {
      const root = join(work, label);
      return startAll(count, () => (name === 'docker-registry' ? startDockerRegistry({ root }) : startQuayside({ root, env: hashEngine(name) })), () => rm(root, { recursive: true, force: true }));
    },
    cpuSeconds: () => Promise.resolve(undefined),
    async ceiling(size, label) {
      const buffered = await diskCeiling(work, 4, Math.min(size, GiB), false);
      const direct = await diskCeiling(work, 4, Math.min(size, GiB), true);
      progress(`${label}: disk durable-write ceiling (4 writers, fdatasync): buffered ${round(buffered, 0)} MiB/s, O_DIRECT ${round(direct, 0)} MiB/s`);
      return Math.max(buffered, direct);
    },
    release: () => Promise.resolve(),
  };
}

function s3Storage(s3: S3Service, chunksize: number | undefined): Storage {
  const params = chunksize === undefined ? s3.params : { ...s3.params, chunksize };
  // 2.8 has no forcepathstyle key: it always uses path style when regionendpoint is set.
  const { forcepathstyle: _pathStyleAlways, ...reference } = params;
  return {
    kind: 's3',
    start(name, label, count) {
      const rootdirectory = `/quayside-bench-${process.pid}-${label}/`;
      const startOne = (): Promise<Target> =>
        name === 'docker-registry'
          ? startDockerRegistry({ root: rootdirectory, s3: reference })
          : startQuayside({ root: rootdirectory, storageEnv: quaysideS3Env(params, rootdirectory), env: hashEngine(name) });
      return startAll(count, startOne, () => s3.clear(rootdirectory));
    },
    cpuSeconds: () => s3.cpuSeconds(),
    ceiling: () => Promise.resolve(undefined),
    release: () => s3.release(),
  };
}

interface Scenario {
  readonly parallel: number;
  readonly size: number;
}

interface RunOptions {
  readonly storage: Storage;
  readonly modes: readonly Mode[];
  readonly targets: readonly TargetName[];
  readonly chunk: number;
  readonly withPull: boolean;
  readonly coldPull: boolean;
  readonly rounds: number;
}

interface Measured {
  readonly seconds: number[];
  readonly wall: number;
  /** CPU seconds of all the servers together. */
  readonly cpu: number;
  /** CPU seconds of this process, the client: on a 2-core machine it is taken from the servers. */
  readonly clientCpu: number;
  readonly storageCpu: number | undefined;
}

/** Runs `work` against `targets` and measures it: wall time, the servers' CPU, the storage's CPU. */
async function measure(storage: Storage, targets: readonly Target[], work: () => Promise<number[]>): Promise<Measured> {
  const cpuOf = async (): Promise<number> => (await Promise.all(targets.map((t) => t.cpuSeconds()))).reduce((a, b) => a + b, 0);
  const cpu0 = await cpuOf();
  const storage0 = await storage.cpuSeconds();
  const started = performance.now();
  const client0 = process.cpuUsage();
  const seconds = await work();
  const client = process.cpuUsage(client0);
  const wall = (performance.now() - started) / 1000;
  const cpu = (await cpuOf()) - cpu0;
  const storage1 = await storage.cpuSeconds();
  return { seconds, wall, cpu, clientCpu: (client.user + client.system) / 1e6, storageCpu: storage0 === undefined || storage1 === undefined ? undefined : storage1 - storage0 };
}

/** P uploads in parallel, upload i routed by `routeOf(i)`, with a progress line every 5 s. */
function uploadAll(label: string, mode: Mode, digests: readonly string[], size: number, chunk: number, routeOf: (i: number) => Route): () => Promise<number[]> {
  return async () => {
    const started = performance.now();
    let finished = 0;
    const ticker = setInterval(() => progress(`${label} ${mode}: ${finished}/${digests.length} done, ${round((performance.now() - started) / 1000, 0)} s`), 5000);
    try {
      return await Promise.all(
        digests.map(async (digest, i) => {
          const s = await upload(routeOf(i), mode, `bench/r${i}`, i, size, digest, chunk);
          finished++;
          return s;
        }),
      );
    } finally {
      clearInterval(ticker);
    }
  };
}

async function pushRow(base: Row, m: Measured, targets: readonly Target[], parallel: number, size: number, ceiling: number | undefined): Promise<Row> {
  const gib = (parallel * size) / GiB;
  const mibps = (parallel * size) / MiB / m.wall;
  const row: Row = {
    ...base,
    'MiB/s': round(mibps, 0),
    'p50 s': round(percentile(m.seconds, 50), 1),
    'max s': round(Math.max(...m.seconds), 1),
    'cpu s/GiB': round(m.cpu / gib, 2),
    'client cpu s/GiB': round(m.clientCpu / gib, 2),
    'peak RSS MiB': round(Math.max(...(await Promise.all(targets.map((t) => t.peakRssMiB())))), 0),
  };
  if (ceiling !== undefined) row['of disk ceiling'] = `${round((mibps / ceiling) * 100, 0)}% of ${round(ceiling, 0)}`;
  if (m.storageCpu !== undefined) row['rgw cpu s/GiB'] = round(m.storageCpu / gib, 2);
  return row;
}

/** A row for a measurement that could not be made; a failure (not a known unsupported mode) also fails the run. */
function failedRow(base: Row, err: unknown): Row {
  if (err instanceof ModeUnsupported) return { ...base, 'MiB/s': 'n/a', note: err.message };
  process.exitCode = 1;
  const message = err instanceof Error ? err.message : String(err);
  progress(`${String(base['target'])} ${String(base['mode'])} failed: ${message}`);
  return { ...base, 'MiB/s': 'failed', note: message.split('\n')[0] ?? '' };
}

function labelOf(scenario: Scenario, storage: Storage): string {
  return `${scenario.parallel} × ${round(scenario.size / GiB, 2)} GiB${storage.kind === 's3' ? ' s3' : ''}`;
}

async function runScenario(scenario: Scenario, options: RunOptions): Promise<Row[]> {
  const { parallel, size } = scenario;
  const { storage, modes, targets, chunk } = options;
  const label = labelOf(scenario, storage);
  progress(`${label}: computing ${parallel} digests before timing`);
  const digests = Array.from({ length: parallel }, (_, i) => digestOf(i, size));
  const ceiling = await storage.ceiling(size, label);
  const rows: Row[] = [];
  for (let r = 1; r <= options.rounds; r++) {
    for (const mode of modes) {
      for (const name of targets) {
        const base: Row = { scenario: label, ...(options.rounds > 1 ? { round: r } : {}), mode, target: name };
        let started: Started | undefined;
        try {
          started = await storage.start(name, `${name}-${mode}-${r}`, 1);
          const { targets: [target] } = started;
          if (!target) throw new Error('no target started');
          await target.resetPeak();
          const m = await measure(storage, [target], uploadAll(`${label} ${name}`, mode, digests, size, chunk, () => () => target));
          const row = await pushRow(base, m, [target], parallel, size, ceiling);
          if (options.withPull && mode === modes[0]) {
            if (options.coldPull) row['pull from'] = (await dropPageCache()) ? 'disk' : 'cache (drop_caches needs root)';
            const p = await measure(storage, [target], () => Promise.all(digests.map(async (digest, i) => (await pull(target, `bench/r${i}`, digest, size), 0))));
            const gib = (parallel * size) / GiB;
            row['pull MiB/s'] = round((parallel * size) / MiB / p.wall, 0);
            row['pull cpu s/GiB'] = round(p.cpu / gib, 2);
            if (p.storageCpu !== undefined) row['pull rgw cpu s/GiB'] = round(p.storageCpu / gib, 2);
          }
          row['load1'] = round(loadavg()[0] ?? 0, 1);
          rows.push(row);
          progress(`${label} ${mode} ${name}: ${row['MiB/s']} MiB/s, ${row['cpu s/GiB']} cpu-s/GiB`);
        } catch (err) {
          rows.push(failedRow(base, err));
        } finally {
          await started?.stop();
        }
      }
    }
  }
  addRatios(rows, 'docker-registry', 'ref');
  return rows;
}

type Variant = 'sticky' | 'alternating';

/**
 * --replicas N (issue 10, stateless replicas over S3): N Quayside processes on one root; P chunked
 * uploads, each either kept on one replica (upload i on replica i mod N: every replica busy, as in
 * the alternating case) or alternating (request k of upload i on replica (i + k) mod N: POST on
 * A, PATCH on B, PATCH on A, ..., PUT on whichever is next). The ratio is what handing an upload
 * over between processes costs (target: within 10 %).
 */
async function runReplicas(scenario: Scenario, replicas: number, options: RunOptions): Promise<Row[]> {
  const { parallel, size } = scenario;
  const { storage, chunk } = options;
  const label = labelOf(scenario, storage);
  progress(`${label}: computing ${parallel} digests before timing`);
  const digests = Array.from({ length: parallel }, (_, i) => digestOf(i, size));
  const rows: Row[] = [];
  for (let r = 1; r <= options.rounds; r++) {
    for (const variant of ['sticky', 'alternating'] satisfies Variant[]) {
      const base: Row = { scenario: label, ...(options.rounds > 1 ? { round: r } : {}), mode: 'chunked', target: `quayside ×${replicas} ${variant}` };
      let started: Started | undefined;
      try {
        started = await storage.start('quayside', `replicas-${variant}-${r}`, replicas);
        const { targets } = started;
        const on = (k: number): Target => targets[k % targets.length] as Target;
        const routeOf = (i: number): Route => (variant === 'sticky' ? () => on(i) : (step) => on(i + step));
        await Promise.all(targets.map((t) => t.resetPeak()));
        const m = await measure(storage, targets, uploadAll(`${label} ${variant}`, 'chunked', digests, size, chunk, routeOf));
        const row = await pushRow(base, m, targets, parallel, size, undefined);
        row['load1'] = round(loadavg()[0] ?? 0, 1);
        rows.push(row);
        progress(`${label} ${variant}: ${row['MiB/s']} MiB/s, ${row['cpu s/GiB']} cpu-s/GiB`);
      } catch (err) {
        rows.push(failedRow(base, err));
      } finally {
        await started?.stop();
      }
    }
  }
  addRatios(rows, `quayside ×${replicas} sticky`, 'sticky');
  return rows;
}

/** Each row gets its ratio to the `reference` target's row of the same scenario, round and mode. */
function addRatios(rows: Row[], reference: string, name: string): void {
  for (const row of rows) {
    const ref = rows.find((r) => r['target'] === reference && r['scenario'] === row['scenario'] && r['round'] === row['round'] && r['mode'] === row['mode']);
    if (!ref || row === ref || typeof row['MiB/s'] !== 'number' || typeof ref['MiB/s'] !== 'number') continue;
    row[`× ${name} MiB/s`] = round(row['MiB/s'] / ref['MiB/s'], 2);
    row[`× ${name} cpu/GiB`] = round(Number(row['cpu s/GiB']) / Number(ref['cpu s/GiB']), 2);
    if (typeof row['pull MiB/s'] === 'number' && typeof ref['pull MiB/s'] === 'number') row[`× ${name} pull MiB/s`] = round(row['pull MiB/s'] / ref['pull MiB/s'], 2);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      storage: { type: 'string', default: 'filesystem' },
      scenarios: { type: 'string' },
      parallel: { type: 'string' },
      size: { type: 'string' },
      modes: { type: 'string' },
      targets: { type: 'string' },
      chunk: { type: 'string', default: '32MiB' },
      rounds: { type: 'string', default: '1' },
      replicas: { type: 'string' },
      's3-chunksize': { type: 'string' },
      'no-pull': { type: 'boolean', default: false },
      'cold-pull': { type: 'boolean', default: false },
      dir: { type: 'string' },
    },
  });
  if (values.storage !== 'filesystem' && values.storage !== 's3') throw new Error(`--storage: filesystem or s3, not ${values.storage}`);
  const onS3 = values.storage === 's3';
  const scenarios: Scenario[] =
    values.parallel !== undefined || values.size !== undefined
      ? [{ parallel: Number(values.parallel ?? 4), size: parseSize(values.size ?? '1GiB') }]
      : (values.scenarios ?? (onS3 ? '4x1GiB' : '4x1GiB,8x2GiB')).split(',').map((s) => {
          const [p, size] = s.split('x');
          return { parallel: Number(p), size: parseSize(size ?? '1GiB') };
        });
  // S3 default: no monolithic (2.8 answers 202 to it, so there is nothing to compare).
  const modes = (values.modes ?? (onS3 ? 'chunked,streamed' : 'chunked,streamed,monolithic')).split(',') as Mode[];
  const defaultTargets: TargetName[] = (await dockerRegistryAvailable()) ? ['quayside', 'docker-registry'] : ['quayside'];
  const targets = (values.targets?.split(',') as TargetName[] | undefined) ?? defaultTargets;
  const replicas = values.replicas === undefined ? undefined : Number(values.replicas);
  if (replicas !== undefined && !(Number.isInteger(replicas) && replicas >= 2)) throw new Error(`--replicas: an integer ≥ 2, not ${values.replicas}`);
  const work = values.dir ?? join(tmpdir(), `quayside-bench-${process.pid}`);
  const load = { before: loadavg().map((l) => round(l, 2)), after: [] as number[] };
  progress(`load average before: ${load.before.join(' ')}`);
  const rows: Row[] = [];
  await mkdir(work, { recursive: true });
  const storage = onS3
    ? s3Storage(await acquireS3(progress), values['s3-chunksize'] === undefined ? undefined : parseSize(values['s3-chunksize']))
    : filesystemStorage(work);
  try {
    const options: RunOptions = { storage, modes, targets, chunk: parseSize(values.chunk), withPull: !values['no-pull'], coldPull: values['cold-pull'], rounds: Number(values.rounds) };
    for (const scenario of scenarios) {
      rows.push(...(replicas === undefined ? await runScenario(scenario, options) : await runReplicas(scenario, replicas, options)));
    }
  } finally {
    await storage.release();
    await rm(work, { recursive: true, force: true });
  }
  load.after = loadavg().map((l) => round(l, 2));
  progress(`load average after: ${load.after.join(' ')}`);
  await report('throughput', rows, { argv: process.argv.slice(2), storage: values.storage, loadavg: load });
}

await main();
