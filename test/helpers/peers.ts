import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { send } from './oci-client.ts';

/**
 * Real peers for the client and compat tests: skopeo and the reference registry (distribution
 * 2.8, Debian's docker-registry). Both come from Debian packages that scripts/ensure-tools.sh
 * installs when missing.
 */

type Hooks = Pick<TestContext, 'after'> | { after: (fn: () => Promise<void>) => void };

export const DOCKER_REGISTRY_BIN = '/usr/bin/docker-registry';

export type ToolsStatus = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const ENSURE_TOOLS = fileURLToPath(new URL('../../scripts/ensure-tools.sh', import.meta.url));
let tools: Promise<ToolsStatus> | undefined;

/**
 * Runs scripts/ensure-tools.sh once per process. Not root and tools missing → `{ ok: false }`
 * with the script's install hint, for a skip message. As root a failure is a real failure (CI
 * must run these tests), so it throws.
 */
export function ensureTools(): Promise<ToolsStatus> {
  tools ??= new Promise<ToolsStatus>((resolve, reject) => {
    // No timeout: on a fresh machine this is apt-get update + install.
    execFile('bash', [ENSURE_TOOLS], (err, _stdout, stderr) => {
      if (!err) resolve({ ok: true });
      else if (process.getuid?.() !== 0) resolve({ ok: false, reason: `skopeo/docker-registry not installed (not root, so not installing):\n${stderr.trim()}` });
      else reject(new Error(`scripts/ensure-tools.sh failed (${err.message})\n${stderr}`));
    });
  });
  return tools;
}

/** The value for a test's `skip` option: false when the peers are there, else the reason. */
export async function peersSkipReason(): Promise<string | false> {
  const status = await ensureTools();
  return status.ok ? false : status.reason;
}

export interface DockerRegistry {
  readonly url: string;
  readonly port: number;
  readonly root: string;
  /** http.secret: the HMAC key of the `_state` upload tokens. */
  readonly secret: string;
  /** stdout + stderr so far (log level error: normally empty). */
  output(): string;
}

export interface DockerRegistryOptions {
  readonly root: string;
  readonly secret?: string;
}

export const DEFAULT_SECRET = 'quayside-side-by-side-secret';

function configYaml(root: string, port: number, secret: string): string {
  // No storage.cache: the other registry changes the same root under this one's feet.
  // No upload purging: an upload may be handed over between the two registries.
  return [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(root)}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${JSON.stringify(secret)}`,
    '',
  ].join('\n');
}

/**
 * A port that was free a moment ago. docker-registry cannot listen on :0 and tell us the port,
 * so this is the racy pick-then-bind that STYLE habit 9 warns about; startDockerRegistry retries
 * when it loses the race (EADDRINUSE).
 */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

const READY_TIMEOUT_MS = 10_000;

/** Resolves when GET /v2/ answers 200; rejects when the process exits first or time runs out. */
async function waitReady(child: ChildProcess, url: string, output: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new ExitedEarly(output());
    try {
      const reply = await send(url, '/v2/');
      if (reply.status === 200) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`docker-registry at ${url} not ready after ${READY_TIMEOUT_MS} ms\n${output()}`);
}

class ExitedEarly extends Error {
  constructor(readonly output: string) {
    super(`docker-registry exited during start-up:\n${output}`);
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

/**
 * docker-registry serving `root` on 127.0.0.1, with delete enabled and a fixed http.secret.
 * Killed (and its config dir removed) on `t.after`.
 */
export async function startDockerRegistry(t: Hooks, options: DockerRegistryOptions): Promise<DockerRegistry> {
  const secret = options.secret ?? DEFAULT_SECRET;
  const dir = await mkdtemp(join(tmpdir(), 'quayside-docker-registry-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'config.yml');

  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    await writeFile(config, configYaml(options.root, port, secret));
    const child = spawn(DOCKER_REGISTRY_BIN, ['serve', config], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => stop(child));
    let log = '';
    const collect = (chunk: Buffer): void => {
      if (log.length < 64 * 1024) log += chunk.toString();
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    const spawned = once(child, 'spawn').then(() => undefined);
    const failed = once(child, 'error').then(([err]: unknown[]) => {
      throw err instanceof Error ? err : new Error(String(err));
    });
    await Promise.race([spawned, failed]);

    const url = `http://127.0.0.1:${port}`;
    try {
      await waitReady(child, url, () => log);
      return { url, port, root: options.root, secret, output: () => log };
    } catch (err) {
      await stop(child);
      const lostRace = err instanceof ExitedEarly && /address already in use/i.test(err.output);
      if (!lostRace || attempt >= 5) throw err;
    }
  }
}

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs skopeo with a timeout; rejects with its whole output on a non-zero exit. */
export function skopeo(args: readonly string[], timeoutMs = 30_000): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile('skopeo', [...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`skopeo ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}
