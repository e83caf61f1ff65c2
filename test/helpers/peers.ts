import { execFile } from 'node:child_process';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { spawnDockerRegistry } from '../../scripts/lib/docker-registry.ts';

/**
 * Real peers for the client and compat tests: skopeo and the reference registry (distribution
 * 2.8, Debian's docker-registry). Both come from Debian packages that scripts/ensure-tools.sh
 * installs when missing.
 */

type Hooks = Pick<TestContext, 'after'> | { after: (fn: () => Promise<void>) => void };

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
  /** Stops it before the test ends (an upstream going down); the test's own clean-up does it otherwise. */
  stop(): Promise<void>;
}

export interface DockerRegistryOptions {
  readonly root: string;
  readonly secret?: string;
}

export const DEFAULT_SECRET = 'quayside-side-by-side-secret';

/**
 * docker-registry serving `root` on 127.0.0.1, with delete enabled, no blob descriptor cache (the
 * other registry changes the same root under this one's feet), no upload purging and a fixed
 * http.secret (scripts/lib/docker-registry.ts). Killed (and its config dir removed) on `t.after`.
 */
export async function startDockerRegistry(t: Hooks, options: DockerRegistryOptions): Promise<DockerRegistry> {
  const secret = options.secret ?? DEFAULT_SECRET;
  const registry = await spawnDockerRegistry({ storage: { filesystem: { rootdirectory: options.root } }, secret });
  t.after(() => registry.stop());
  return { url: registry.url, port: registry.port, root: options.root, secret, output: () => registry.output(), stop: () => registry.stop() };
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
