/**
 * Start time and idle footprint, side by side in one run (issue 12, "Start and footprint"):
 * - quayside: `bin/quayside.cjs serve` as users run it (node + the launcher's shebang flags,
 *   dist/ build), filesystem storage in a fresh temp dir; and the same with QUAYSIDE_CODE_CACHE=off;
 * - bare node:http, with the launcher's node flags and without (Node's own floor);
 * - docker-registry 2.8.2 (Debian's /usr/bin/docker-registry), when installed.
 * Rounds are interleaved (q, bare, bare+flags, docker, q, ...) so machine noise hits all alike.
 *
 * ready: spawn() to the first answer (200/401) on GET /v2/, a fresh connection per attempt,
 * retried every 2 ms. CPU to ready: user + system time of the server process at that moment
 * (10 ms ticks; it moves less than the wall time when the machine is busy). idle RSS: VmRSS 2 s
 * after ready (all threads of the process). Ratios are to bare node:http without flags.
 *
 *   npm run bench:startup -- [--rounds 10] [--idle-ms 2000] [--only quayside,bare]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildQuayside, freePort, launcherFlags, repoRoot } from '../lib/targets.ts';
import { report, round, type Row } from '../lib/report.ts';
import { DOCKER_REGISTRY_BIN, dockerRegistryConfigYaml } from '../../scripts/lib/docker-registry.ts';

interface Contender {
  readonly name: string;
  /** The command for a server on `port` with its data under `dir`. */
  command(port: number, dir: string): Promise<{ file: string; args: string[]; env?: NodeJS.ProcessEnv }>;
}

const BARE = join(repoRoot, 'bench', 'startup', 'bare-server.mjs');
const LAUNCHER = join(repoRoot, 'bin', 'quayside.cjs');

const contenders: Contender[] = [
  {
    name: 'quayside serve',
    command: async (port, dir) => ({
      file: process.execPath,
      args: [...launcherFlags(), LAUNCHER, 'serve'],
      env: { ...process.env, REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`, REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(dir, 'data'), REGISTRY_LOG_LEVEL: 'warn' },
    }),
  },
  {
    // The same, compiling the bundle without its V8 code cache (bin/code-cache.cjs): what the cache saves.
    name: 'quayside serve, no code cache',
    command: async (port, dir) => ({
      file: process.execPath,
      args: [...launcherFlags(), LAUNCHER, 'serve'],
      env: { ...process.env, QUAYSIDE_CODE_CACHE: 'off', REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`, REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(dir, 'data'), REGISTRY_LOG_LEVEL: 'warn' },
    }),
  },
  { name: 'bare node:http', command: async (port) => ({ file: process.execPath, args: [BARE, String(port)] }) },
  { name: 'bare node:http + launcher flags', command: async (port) => ({ file: process.execPath, args: [...launcherFlags(), BARE, String(port)] }) },
];
if (existsSync(DOCKER_REGISTRY_BIN)) {
  contenders.push({
    name: 'docker-registry 2.8.2',
    command: async (port, dir) => {
      const file = join(dir, 'config.yml');
      await writeFile(file, dockerRegistryConfigYaml({ storage: { filesystem: { rootdirectory: join(dir, 'data') } }, secret: 'bench', blobDescriptorCache: true }, port));
      const { AWS_CA_BUNDLE: _unused, ...env } = process.env;
      return { file: DOCKER_REGISTRY_BIN, args: ['serve', file], env };
    },
  });
}

/** One GET /v2/ on a fresh connection: its status, or undefined while nothing listens. */
function probe(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/v2/', agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.once('error', () => resolve(undefined));
    req.end();
  });
}

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

const TICKS_PER_SECOND = 100; // sysconf(_SC_CLK_TCK) on Linux

async function cpuMsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND) * 1000;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

interface Sample {
  readonly readyMs: number;
  /** user + system CPU of the server up to ready: less sensitive than readyMs to a busy machine. */
  readonly cpuMs: number;
  readonly idleRssMiB: number;
}

async function measure(contender: Contender, idleMs: number): Promise<Sample> {
  const dir = await mkdtemp(join(tmpdir(), 'quayside-startup-'));
  const port = await freePort();
  const { file, args, env } = await contender.command(port, dir);
  const started = performance.now();
  const child = spawn(file, args, { env: env ?? process.env, stdio: ['ignore', 'ignore', 'inherit'], cwd: dir });
  try {
    const deadline = started + 30_000;
    let status: number | undefined;
    while ((status = await probe(port)) === undefined) {
      if (child.exitCode !== null) throw new Error(`${contender.name} exited with ${child.exitCode}`);
      if (performance.now() > deadline) throw new Error(`${contender.name}: no answer on /v2/ after 30 s`);
      await sleep(2);
    }
    const readyMs = performance.now() - started;
    const cpuMs = await cpuMsOf(child.pid ?? 0);
    if (status !== 200 && status !== 401) throw new Error(`${contender.name}: GET /v2/ answered ${status}`);
    await sleep(idleMs);
    return { readyMs, cpuMs, idleRssMiB: await rssMiB(child.pid ?? 0) };
  } finally {
    await stop(child);
    await rm(dir, { recursive: true, force: true });
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '10' }, 'idle-ms': { type: 'string', default: '2000' }, only: { type: 'string' } } });
  // --only quayside,bare: the targets whose name contains one of the words (the ratios need a bare row).
  const only = values.only?.split(',');
  if (only !== undefined) contenders.splice(0, contenders.length, ...contenders.filter((c) => only.some((word) => c.name.includes(word))));
  const rounds = Number(values.rounds);
  const idleMs = Number(values['idle-ms']);
  buildQuayside();
  const samples = new Map<string, Sample[]>(contenders.map((c) => [c.name, []]));
  // One warm-up start each (page cache, the build's first read), not counted.
  for (const contender of contenders) await measure(contender, 0);
  for (let round = 1; round <= rounds; round++) {
    for (const contender of contenders) samples.get(contender.name)?.push(await measure(contender, idleMs));
    process.stderr.write(`round ${round}/${rounds}\n`);
  }
  // The floor is bare node:http as Node starts it; the launcher's flags are ours to pay for.
  const bare = samples.get('bare node:http') ?? [];
  const bareReady = median(bare.map((s) => s.readyMs));
  const bareRss = median(bare.map((s) => s.idleRssMiB));
  const bareWithFlagsReady = median((samples.get('bare node:http + launcher flags') ?? []).map((s) => s.readyMs));
  const rows: Row[] = contenders.map((contender) => {
    const list = samples.get(contender.name) ?? [];
    const ready = list.map((s) => s.readyMs);
    const rss = list.map((s) => s.idleRssMiB);
    return {
      target: contender.name,
      'ready p50 ms': round(median(ready), 1),
      'ready min ms': round(Math.min(...ready), 1),
      'ready max ms': round(Math.max(...ready), 1),
      'CPU to ready p50 ms': round(median(list.map((s) => s.cpuMs)), 0),
      'idle RSS p50 MiB': round(median(rss), 1),
      'ready ×bare': round(median(ready) / bareReady),
      'ready ×bare+flags': round(median(ready) / bareWithFlagsReady),
      'RSS ×bare': round(median(rss) / bareRss),
    };
  });
  await report('startup', rows, { rounds, idleMs, launcherFlags: launcherFlags(), samples: Object.fromEntries(samples) });
}

await main();
