/**
 * Throughput: P parallel uploads of S bytes each, against Quayside and docker-registry side by
 * side in one run (same client, same disk), then parallel pulls of what was pushed.
 *
 *   npm run bench:throughput -- [--parallel 4] [--size 1GiB] [--modes chunked,streamed,monolithic]
 *                               [--targets quayside,docker-registry,quayside-wasm] [--chunk 32MiB]
 *   npm run bench:throughput -- --scenarios 4x1GiB,8x2GiB      (the default)
 *   npm run bench:throughput -- --cold-pull   (drop the page cache before pulls: both read from disk)
 *
 * Content is distinct per blob (a random pool stamped with blob and piece numbers), digests are
 * computed before timing, and every upload is verified: 201, Docker-Content-Digest, HEAD size.
 * Reported: MiB/s, per-upload p50/max seconds, server CPU-seconds per GiB, peak RSS, the ratio
 * to docker-registry, and the fraction of the disk's durable-write ceiling measured in the run.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, rm, writeFile } from 'node:fs/promises';
import { nativeAddon } from '../../src/native/addon.ts';
import { Agent, request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { progress, report, round, type Row } from '../lib/report.ts';
import { dockerRegistryAvailable, startDockerRegistry, startQuayside, type Target } from '../lib/targets.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const PIECE = 1 * MiB;

type Mode = 'chunked' | 'streamed' | 'monolithic';
type TargetName = 'quayside' | 'docker-registry' | 'quayside-wasm';

function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB)?$/i.exec(text.trim());
  if (!match) throw new Error(`not a size: ${text}`);
  const unit = (match[2] ?? 'B').toLowerCase();
  const factor = unit === 'gib' ? GiB : unit === 'mib' ? MiB : unit === 'kib' ? 1024 : 1;
  return Math.round(Number(match[1]) * factor);
}

/** A random pool; blob i's piece k is the pool's slice stamped with (i, k) in its first 16 bytes. */
const POOL = randomBytes(64 * MiB);

function* pieces(blob: number, size: number, first = 0, end = Math.ceil(size / PIECE)): Generator<Buffer> {
  for (let k = first; k < end; k++) {
    const length = Math.min(PIECE, size - k * PIECE);
    const start = (k * PIECE) % (POOL.length - PIECE);
    const piece = Buffer.allocUnsafe(length);
    POOL.copy(piece, 0, start, start + length);
    if (length >= 16) {
      piece.writeBigUInt64BE(BigInt(blob) + 0x5155415953494445n, 0);
      piece.writeBigUInt64BE(BigInt(k), 8);
    }
    yield piece;
  }
}

function digestOf(blob: number, size: number): string {
  const hash = createHash('sha256');
  for (const piece of pieces(blob, size)) hash.update(piece);
  return `sha256:${hash.digest('hex')}`;
}

interface Reply {
  status: number;
  headers: IncomingMessage['headers'];
  bytes: number;
}

function send(agent: Agent, base: string, method: string, path: string, headers: Record<string, string | number>, body?: Iterable<Buffer>): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers, agent }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (!body) {
      req.end();
      return;
    }
    const iterator = body[Symbol.iterator]();
    const pump = (): void => {
      for (;;) {
        const next = iterator.next();
        if (next.done) {
          req.end();
          return;
        }
        if (!req.write(next.value)) {
          req.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
}

function expect(reply: Reply, status: number, what: string): void {
  if (reply.status !== status) throw new Error(`${what}: expected ${status}, got ${reply.status}`);
}

/** The pieces of bytes [from, to): both multiples of PIECE (chunk sizes are whole MiB), or `to` the end. */
function sliceOf(blob: number, size: number, from: number, to: number): Generator<Buffer> {
  return pieces(blob, size, from / PIECE, Math.ceil(to / PIECE));
}

/** One upload in the given mode; returns seconds taken. Throws unless verified. */
async function upload(target: Target, mode: Mode, repo: string, blob: number, size: number, digest: string, chunk: number): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const started = performance.now();
  try {
    if (mode === 'monolithic') {
      const reply = await send(agent, target.url, 'POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, { 'content-type': 'application/octet-stream', 'content-length': size }, pieces(blob, size));
      if (reply.status === 202) throw new Unsupported('monolithic POST answered 202 (not supported)');
      expect(reply, 201, 'monolithic POST');
    } else {
      const start = await send(agent, target.url, 'POST', `/v2/${repo}/blobs/uploads/`, { 'content-length': 0 });
      expect(start, 202, 'POST');
      let location = String(start.headers.location ?? '');
      const path = (): string => (location.startsWith('http') ? new URL(location).pathname + new URL(location).search : location);
      if (mode === 'streamed') {
        const reply = await send(agent, target.url, 'PATCH', path(), { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' }, pieces(blob, size));
        expect(reply, 202, 'PATCH');
        location = String(reply.headers.location ?? location);
      } else {
        for (let at = 0; at < size; at += chunk) {
          const end = Math.min(size, at + chunk);
          const reply = await send(agent, target.url, 'PATCH', path(), { 'content-type': 'application/octet-stream', 'content-range': `${at}-${end - 1}`, 'content-length': end - at }, sliceOf(blob, size, at, end));
          expect(reply, 202, `PATCH ${at}`);
          location = String(reply.headers.location ?? location);
        }
      }
      const sep = path().includes('?') ? '&' : '?';
      const done = await send(agent, target.url, 'PUT', `${path()}${sep}digest=${digest}`, { 'content-length': 0 });
      expect(done, 201, 'PUT');
      if (done.headers['docker-content-digest'] !== digest) throw new Error(`PUT: digest ${String(done.headers['docker-content-digest'])}, expected ${digest}`);
    }
    const seconds = (performance.now() - started) / 1000;
    const head = await send(agent, target.url, 'HEAD', `/v2/${repo}/blobs/${digest}`, {});
    expect(head, 200, 'HEAD');
    if (Number(head.headers['content-length']) !== size) throw new Error(`HEAD: size ${String(head.headers['content-length'])}, expected ${size}`);
    return seconds;
  } finally {
    agent.destroy();
  }
}

class Unsupported extends Error {}

async function pull(target: Target, repo: string, digest: string, size: number): Promise<void> {
  const agent = new Agent({ keepAlive: false });
  const reply = await send(agent, target.url, 'GET', `/v2/${repo}/blobs/${digest}`, {});
  agent.destroy();
  expect(reply, 200, 'GET');
  if (reply.bytes !== size) throw new Error(`GET: ${reply.bytes} bytes, expected ${size}`);
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/**
 * The disk's durable-write ceiling: `writers` files written in parallel, fdatasync every 256 MiB,
 * through the page cache or (direct) with O_DIRECT; the ceiling is the better of the two.
 */
async function diskCeiling(dir: string, writers: number, bytesEach: number, direct: boolean): Promise<number> {
  const block = direct ? alignedBlock(8 * MiB) : POOL.subarray(0, 8 * MiB);
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
  POOL.copy(block, 0, 0, size);
  return block;
}

async function startTarget(name: TargetName, root: string): Promise<Target> {
  if (name === 'docker-registry') return startDockerRegistry({ root });
  return startQuayside({ root, env: { QUAYSIDE_HASH_ENGINE: name === 'quayside-wasm' ? 'wasm' : 'auto' } });
}

interface Scenario {
  readonly parallel: number;
  readonly size: number;
}

async function runScenario(scenario: Scenario, modes: readonly Mode[], targets: readonly TargetName[], chunk: number, withPull: boolean, coldPull: boolean, work: string): Promise<Row[]> {
  const { parallel, size } = scenario;
  const label = `${parallel} × ${round(size / GiB, 2)} GiB`;
  progress(`${label}: computing ${parallel} digests before timing`);
  const digests = Array.from({ length: parallel }, (_, i) => digestOf(i, size));
  const buffered = await diskCeiling(work, 4, Math.min(size, GiB), false);
  const direct = await diskCeiling(work, 4, Math.min(size, GiB), true);
  const ceiling = Math.max(buffered, direct);
  progress(`${label}: disk durable-write ceiling (4 writers, fdatasync): buffered ${round(buffered, 0)} MiB/s, O_DIRECT ${round(direct, 0)} MiB/s`);
  const rows: Row[] = [];
  for (const mode of modes) {
    for (const name of targets) {
      const root = join(work, `${name}-${mode}`);
      const target = await startTarget(name, root);
      try {
        await target.resetPeak();
        const cpu0 = await target.cpuSeconds();
        const started = performance.now();
        let finished = 0;
        const ticker = setInterval(() => progress(`${label} ${mode} ${name}: ${finished}/${parallel} done, ${round((performance.now() - started) / 1000, 0)} s`), 5000);
        let seconds: number[];
        try {
          seconds = await Promise.all(
            digests.map(async (digest, i) => {
              const s = await upload(target, mode, `bench/r${i}`, i, size, digest, chunk);
              finished++;
              return s;
            }),
          );
        } catch (err) {
          clearInterval(ticker);
          if (err instanceof Unsupported) {
            rows.push({ scenario: label, mode, target: name, 'MiB/s': 'n/a', note: err.message });
            continue;
          }
          throw err;
        }
        clearInterval(ticker);
        const wall = (performance.now() - started) / 1000;
        const cpu = (await target.cpuSeconds()) - cpu0;
        const gib = (parallel * size) / GiB;
        const row: Row = {
          scenario: label,
          mode,
          target: name,
          'MiB/s': round((parallel * size) / MiB / wall, 0),
          'p50 s': round(percentile(seconds, 50), 1),
          'max s': round(Math.max(...seconds), 1),
          'cpu s/GiB': round(cpu / gib, 2),
          'peak RSS MiB': round(await target.peakRssMiB(), 0),
          'of disk ceiling': `${round(((parallel * size) / MiB / wall / ceiling) * 100, 0)}% of ${round(ceiling, 0)}`,
        };
        if (withPull && mode === modes[0]) {
          if (coldPull) row['pull from'] = (await dropPageCache()) ? 'disk' : 'cache (drop_caches needs root)';
          const pcpu0 = await target.cpuSeconds();
          const pstart = performance.now();
          await Promise.all(digests.map((digest, i) => pull(target, `bench/r${i}`, digest, size)));
          const pwall = (performance.now() - pstart) / 1000;
          row['pull MiB/s'] = round((parallel * size) / MiB / pwall, 0);
          row['pull cpu s/GiB'] = round(((await target.cpuSeconds()) - pcpu0) / gib, 2);
        }
        rows.push(row);
        progress(`${label} ${mode} ${name}: ${row['MiB/s']} MiB/s, ${row['cpu s/GiB']} cpu-s/GiB`);
      } finally {
        await target.stop();
        await rm(root, { recursive: true, force: true });
      }
    }
  }
  addRatios(rows);
  return rows;
}

/** Each Quayside row gets its ratio to docker-registry's row of the same scenario and mode. */
function addRatios(rows: Row[]): void {
  for (const row of rows) {
    const reference = rows.find((r) => r['target'] === 'docker-registry' && r['scenario'] === row['scenario'] && r['mode'] === row['mode']);
    if (!reference || row === reference || typeof row['MiB/s'] !== 'number' || typeof reference['MiB/s'] !== 'number') continue;
    row['× ref MiB/s'] = round(row['MiB/s'] / reference['MiB/s'], 2);
    row['× ref cpu/GiB'] = round(Number(row['cpu s/GiB']) / Number(reference['cpu s/GiB']), 2);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenarios: { type: 'string' },
      parallel: { type: 'string' },
      size: { type: 'string' },
      modes: { type: 'string', default: 'chunked,streamed,monolithic' },
      targets: { type: 'string' },
      chunk: { type: 'string', default: '32MiB' },
      'no-pull': { type: 'boolean', default: false },
      'cold-pull': { type: 'boolean', default: false },
      dir: { type: 'string' },
    },
  });
  const scenarios: Scenario[] =
    values.parallel || values.size
      ? [{ parallel: Number(values.parallel ?? 4), size: parseSize(values.size ?? '1GiB') }]
      : (values.scenarios ?? '4x1GiB,8x2GiB').split(',').map((s) => {
          const [p, size] = s.split('x');
          return { parallel: Number(p), size: parseSize(size ?? '1GiB') };
        });
  const modes = values.modes.split(',') as Mode[];
  const defaultTargets: TargetName[] = (await dockerRegistryAvailable()) ? ['quayside', 'docker-registry'] : ['quayside'];
  const targets = (values.targets?.split(',') as TargetName[] | undefined) ?? defaultTargets;
  const work = values.dir ?? join(tmpdir(), `quayside-bench-${process.pid}`);
  const rows: Row[] = [];
  await mkdir(work, { recursive: true });
  try {
    for (const scenario of scenarios) rows.push(...(await runScenario(scenario, modes, targets, parseSize(values.chunk), !values['no-pull'], values['cold-pull'], work)));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  await report('throughput', rows);
}

await main();
