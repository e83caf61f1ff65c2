import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WRK_BIN } from '../load/wrk.ts';
import { DOCKER_REGISTRY_BIN, spawnDockerRegistry, type DockerRegistryS3, type DockerRegistryStorage } from '../../scripts/lib/docker-registry.ts';

/**
 * Benchmark targets: Quayside (from the build, as it ships) and docker-registry (Debian's
 * distribution 2.8.2), each a child process on 127.0.0.1 over its own storage root on the same
 * disk, so one client drives both in the same run. CPU and peak RSS come from /proc, for the
 * whole process (all threads).
 */
export interface Target {
  readonly name: 'quayside' | 'docker-registry' | 'node:http ceiling';
  readonly url: string;
  readonly root: string;
  /** user + system CPU seconds of the server process so far. */
  cpuSeconds(): Promise<number>;
  /** Peak resident set since the last resetPeak(), MiB. */
  peakRssMiB(): Promise<number>;
  resetPeak(): Promise<void>;
  stop(): Promise<void>;
}

export const repoRoot = new URL('../../', import.meta.url).pathname;
const TICKS_PER_SECOND = 100; // sysconf(_SC_CLK_TCK) on Linux

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  server.close();
  await once(server, 'close');
  return port;
}

async function waitReady(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`${url}: server exited with ${child.exitCode}`);
    try {
      const res = await fetch(`${url}/v2/`);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error(`${url}: not ready after 10 s`);
}

function processStats(child: ChildProcess, name: Target['name'], url: string, root: string): Target {
  const pid = child.pid ?? 0;
  return {
    name,
    url,
    root,
    async cpuSeconds() {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
    },
    async peakRssMiB() {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      const kib = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
      return kib / 1024;
    },
    async resetPeak() {
      await writeFile(`/proc/${pid}/clear_refs`, '5').catch(() => undefined);
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Builds Quayside (npm run build) once per process; a failed build fails every later start too, without building again. */
let built: Error | true | undefined;
export function buildQuayside(): void {
  if (built === undefined) {
    const result = spawnSync('npm', ['run', '--silent', 'build'], { cwd: repoRoot, stdio: 'inherit' });
    built = result.status === 0 ? true : new Error('npm run build failed');
  }
  if (built !== true) throw built;
}

export interface QuaysideOptions {
  /** The filesystem root; with `storageEnv`, only the target's name in reports (nothing is made). */
  readonly root: string;
  /** Storage settings instead of REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=root (bench/lib/s3.ts quaysideS3Env). */
  readonly storageEnv?: Readonly<Record<string, string>>;
  readonly env?: NodeJS.ProcessEnv;
  /** Node flags instead of the launcher's own (bench/load/idle-gap.ts compares them). */
  readonly nodeFlags?: readonly string[];
}

const LAUNCHER = join(repoRoot, 'bin', 'quayside.cjs');

/** The node flags of bin/quayside.cjs's shebang (`#!/usr/bin/env -S node --expose-gc …`): the bench runs Quayside as the command does, with this process's node. */
export function launcherFlags(): string[] {
  const shebang = readFileSync(LAUNCHER, 'utf8').split('\n', 1)[0] ?? '';
  const words = shebang.split(/\s+/);
  return words.slice(words.indexOf('node') + 1);
}

export async function startQuayside(options: QuaysideOptions): Promise<Target> {
  buildQuayside();
  if (options.storageEnv === undefined) await mkdir(options.root, { recursive: true });
  const port = await freePort();
  const child = spawn(process.execPath, [...(options.nodeFlags ?? launcherFlags()), LAUNCHER, 'serve'], {
    env: {
      ...process.env,
      REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
      ...(options.storageEnv ?? { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: options.root }),
      REGISTRY_STORAGE_DELETE_ENABLED: 'true',
      REGISTRY_LOG_LEVEL: 'warn',
      ...options.env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const target = processStats(child, 'quayside', url, options.root);
  await waitReady(url, child).catch(async (err: unknown) => {
    await target.stop();
    throw err;
  });
  return target;
}

/**
 * Whether `bin` is installed. When it is missing, scripts/ensure-tools.sh installs it (Debian's
 * package; needs root), as the tests do: a benchmark on a fresh machine compares.
 */
async function toolAvailable(tool: 'docker-registry' | 'wrk', bin: string): Promise<boolean> {
  if (existsSync(bin)) return true;
  const script = new URL('../../scripts/ensure-tools.sh', import.meta.url).pathname;
  console.log(`${bin} is not installed: running scripts/ensure-tools.sh`);
  await new Promise<void>((resolve) => execFile('bash', [script, tool], (err, _out, stderr) => {
    if (err) console.log(`scripts/ensure-tools.sh failed:\n${stderr.trim()}`);
    resolve();
  }));
  return existsSync(bin);
}

export function dockerRegistryAvailable(): Promise<boolean> {
  return toolAvailable('docker-registry', DOCKER_REGISTRY_BIN);
}

/** wrk (bench/load/wrk.ts), the load client of the small-read rows. */
export function wrkAvailable(): Promise<boolean> {
  return toolAvailable('wrk', WRK_BIN);
}

export type DockerRegistryTargetOptions =
  | { readonly root: string }
  /** On S3: `root` is the rootdirectory in the bucket (it names the target in reports). */
  | { readonly root: string; readonly s3: DockerRegistryS3 };

/**
 * docker-registry with Debian's default settings (in-memory blob descriptor cache), deletes on;
 * on a filesystem root, or with its s3-aws driver and redirects off, so pulls stream through it
 * as they do through Quayside. Config and start-up: scripts/lib/docker-registry.ts.
 */
export async function startDockerRegistry(options: DockerRegistryTargetOptions): Promise<Target> {
  if (!(await dockerRegistryAvailable())) throw new Error('docker-registry is not installed, and scripts/ensure-tools.sh could not install it (root needed)');
  let storage: DockerRegistryStorage;
  if ('s3' in options) {
    storage = { s3: { ...options.s3, rootdirectory: options.root } };
  } else {
    await mkdir(options.root, { recursive: true });
    storage = { filesystem: { rootdirectory: options.root } };
  }
  const registry = await spawnDockerRegistry({ storage, secret: 'quayside-bench', blobDescriptorCache: true, redirectDisabled: true }, { echo: true });
  const target = processStats(registry.child, 'docker-registry', registry.url, options.root);
  return { ...target, stop: () => registry.stop() };
}

/** An answer as the ceiling server replays it (bench/lib/ceiling-server.ts). */
export interface RecordedAnswer {
  readonly path: string;
  readonly status: number;
  /** Lower-case names, as sent; without Date, Connection and Keep-Alive, which node adds itself. */
  readonly headers: Record<string, string>;
  /** base64 */
  readonly body: string;
}

const NODE_ADDS = new Set(['date', 'connection', 'keep-alive']);

/** What `target` answers to GET `path`: status, headers and body, byte for byte. */
export function recordAnswer(target: Target, path: string, headers: Readonly<Record<string, string>>): Promise<RecordedAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${target.url}${path}`, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const recorded: Record<string, string> = {};
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
          const name = (res.rawHeaders[i] as string).toLowerCase();
          if (!NODE_ADDS.has(name)) recorded[name] = res.rawHeaders[i + 1] as string;
        }
        resolve({ path, status: res.statusCode ?? 0, headers: recorded, body: Buffer.concat(chunks).toString('base64') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The bare node:http server replaying `answers` (bench/lib/ceiling-server.ts), a child process like the others. */
export async function startCeiling(options: { root: string; answers: readonly RecordedAnswer[] }): Promise<Target> {
  await mkdir(options.root, { recursive: true });
  const file = join(options.root, 'answers.json');
  await writeFile(file, JSON.stringify(options.answers));
  const port = await freePort();
  const script = join(repoRoot, 'bench', 'lib', 'ceiling-server.ts');
  // The launcher's node flags too: the ceiling is what node:http costs with the same V8 settings
  // (without --no-memory-reducer, an idle ceiling slowed by ~25 % between rounds).
  const child = spawn(process.execPath, [...launcherFlags(), '--import', 'tsx', script, file, String(port)], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  await waitReady(url, child);
  return processStats(child, 'node:http ceiling', url, options.root);
}
