import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repo = new URL('../../', import.meta.url).pathname;

type Hooks = { after: (fn: () => Promise<void> | void) => void };

export interface QuaysideBuild {
  /** dist/cli.js of this build. */
  readonly cli: string;
}

/**
 * Compiles src/ with tsc, as the CLI test does, but into a private temp directory rather than
 * dist/: test files may run in parallel, and two tsc runs writing dist/ under a running CLI child
 * would make both tests flaky. The directory mirrors the package root (package.json,
 * node_modules and the native build/ are symlinks), so dist/cli.js finds its version, its
 * dependencies and the native addon exactly as a real build does.
 */
export async function buildQuayside(t: Hooks): Promise<QuaysideBuild> {
  const dir = await mkdtemp(join(tmpdir(), 'quayside-crash-build-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await Promise.all(['package.json', 'node_modules', 'build'].map((name) => symlink(join(repo, name), join(dir, name))));
  const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
  await run(process.execPath, [tsc, '-p', join(repo, 'tsconfig.json'), '--outDir', join(dir, 'dist')], { cwd: repo });
  return { cli: join(dir, 'dist', 'cli.js') };
}

export interface QuaysideProcess {
  readonly url: string;
  readonly pid: number;
  /** Resolves when the child has exited (after kill(), or on its own). */
  readonly exited: Promise<void>;
  /** SIGKILL, sent synchronously: nothing more runs in the child after this returns. */
  kill(): void;
}

/** What the child wrote that a crash test must see: 5xx answers and error-level log lines. */
export interface ServerLog {
  readonly errors: string[];
}

const READY_TIMEOUT_MS = 15_000;
/** QUAYSIDE_KILL_TRACE=<file>: every server log line, prefixed with its pid, for replaying a failure. */
const TRACE = process.env['QUAYSIDE_KILL_TRACE'];

/**
 * `node <cli> serve <config>` on 127.0.0.1:0. Resolves once the child logs 'listening' (its port
 * comes from that line). stdout is read to the end, always: a full pipe would block the child's
 * logger, and every 'request' line with a 5xx status goes to `log.errors`.
 */
export async function startQuayside(t: Hooks, build: QuaysideBuild, configFile: string, log: ServerLog): Promise<QuaysideProcess> {
  const child = spawn(process.execPath, [build.cli, 'serve', configFile], {
    env: { ...process.env, REGISTRY_HTTP_ADDR: '127.0.0.1:0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit').then(() => undefined);
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    if (stderr.length < 64 * 1024) stderr += chunk.toString();
  });
  const addr = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`quayside not listening after ${READY_TIMEOUT_MS} ms\n${stderr}`)), READY_TIMEOUT_MS);
    void exited.then(() => reject(new Error(`quayside exited during start-up (code ${child.exitCode}, signal ${child.signalCode})\n${stderr}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (TRACE) appendFileSync(TRACE, `${child.pid} ${line}\n`);
      let entry: { msg?: string; addr?: string; status?: number; level?: number };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        log.errors.push(`non-JSON log line: ${line.slice(0, 300)}`);
        return;
      }
      if (entry.msg === 'listening') {
        clearTimeout(timer);
        resolve(entry.addr ?? '');
      } else if ((entry.status ?? 0) >= 500 || (entry.level ?? 0) >= 50) {
        log.errors.push(line.slice(0, 2000));
      }
    });
  });
  if (!/^127\.0\.0\.1:\d+$/.test(addr)) throw new Error(`unexpected listening address ${addr}`);
  return {
    url: `http://${addr}`,
    pid: child.pid ?? -1,
    exited,
    kill: () => {
      child.kill('SIGKILL');
    },
  };
}
