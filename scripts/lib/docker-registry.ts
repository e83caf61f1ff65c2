import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Debian's docker-registry (distribution 2.8.2), the reference registry, as a child process on
 * 127.0.0.1: the one config builder and the one spawn-with-port-retry behind the side-by-side and
 * client tests (test/helpers/peers.ts), the S3 layout tests (test/helpers/s3.ts) and the
 * benchmarks (bench/lib/targets.ts).
 *
 * Why here, in scripts/lib/: tests and benchmarks both drive it, and neither should reach into the
 * other (bench/ must not depend on test internals, and test/ should not depend on the benchmark
 * harness). Like scripts/ensure-tools.sh, which installs it, this is tooling around a peer; it
 * imports nothing from src/, test/ or bench/, only node:.
 */

export const DOCKER_REGISTRY_BIN = '/usr/bin/docker-registry';

/**
 * distribution 2.8's s3-aws driver keys (docs/content/storage-drivers/s3.md). No
 * `forcepathstyle`: 2.8 has no such key and always uses path style when `regionendpoint` is set.
 * `secure` follows the endpoint's scheme.
 */
export interface DockerRegistryS3 {
  readonly region: string;
  readonly regionendpoint?: string;
  readonly bucket: string;
  readonly accesskey?: string;
  readonly secretkey?: string;
  readonly rootdirectory?: string;
  /** Multipart part size, bytes (distribution's default: 10 MiB). */
  readonly chunksize?: number;
}

export type DockerRegistryStorage = { readonly filesystem: { readonly rootdirectory: string } } | { readonly s3: DockerRegistryS3 };

export interface DockerRegistryConfig {
  readonly storage: DockerRegistryStorage;
  /** http.secret: the HMAC key of the `_state` upload tokens (fixed, so a test can forge or hand over one). */
  readonly secret: string;
  /** storage.redirect.disable: blob GETs stream through the registry instead of a presigned S3 redirect. */
  readonly redirectDisabled?: boolean;
  /**
   * storage.cache.blobdescriptor: inmemory, as Debian's packaged config has (the benchmarks).
   * Off for tests: another registry changes the same root under this one's feet.
   */
  readonly blobDescriptorCache?: boolean;
  /** auth: htpasswd or token, as in distribution's config.yml (the pull-through cache's upstream tests). */
  readonly auth?: DockerRegistryAuth;
}

export type DockerRegistryAuth =
  | { readonly htpasswd: { readonly realm: string; readonly path: string } }
  | { readonly token: { readonly realm: string; readonly service: string; readonly issuer: string; readonly rootcertbundle: string } };

function authYaml(auth: DockerRegistryAuth | undefined): string[] {
  if (auth === undefined) return [];
  const [scheme, settings] = Object.entries(auth)[0] as [string, Record<string, string>];
  return ['auth:', `  ${scheme}:`, ...Object.entries(settings).map(([key, value]) => `    ${key}: ${JSON.stringify(value)}`)];
}

/** The YAML of `config` listening on `port`: log level error, no access log, deletes on, no upload purging. */
export function dockerRegistryConfigYaml(config: DockerRegistryConfig, port: number): string {
  const q = (value: string): string => JSON.stringify(value);
  const storage =
    'filesystem' in config.storage
      ? ['  filesystem:', `    rootdirectory: ${q(config.storage.filesystem.rootdirectory)}`]
      : s3Yaml(config.storage.s3);
  return [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    ...storage,
    ...(config.blobDescriptorCache === true ? ['  cache:', '    blobdescriptor: inmemory'] : []),
    ...(config.redirectDisabled === true ? ['  redirect:', '    disable: true'] : []),
    '  delete:',
    '    enabled: true',
    // An upload may be handed over between two registries on one root, and a purge would race it.
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${q(config.secret)}`,
    ...authYaml(config.auth),
    '',
  ].join('\n');
}

function s3Yaml(s3: DockerRegistryS3): string[] {
  const q = (value: string): string => JSON.stringify(value);
  const optional = (key: string, value: string | number | undefined): string[] =>
    value === undefined ? [] : [`    ${key}: ${typeof value === 'number' ? String(value) : q(value)}`];
  const secure = s3.regionendpoint === undefined || !s3.regionendpoint.startsWith('http://');
  return [
    '  s3:',
    `    region: ${q(s3.region)}`,
    ...optional('regionendpoint', s3.regionendpoint),
    `    bucket: ${q(s3.bucket)}`,
    ...optional('accesskey', s3.accesskey),
    ...optional('secretkey', s3.secretkey),
    ...optional('rootdirectory', s3.rootdirectory),
    ...optional('chunksize', s3.chunksize),
    `    secure: ${String(secure)}`,
    '    v4auth: true',
  ];
}

export interface DockerRegistryProcess {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** stdout + stderr so far, first 64 KiB (log level error: normally empty). */
  output(): string;
  /** SIGTERM, SIGKILL after 5 s; then removes the config folder. Idempotent. */
  stop(): Promise<void>;
}

export interface SpawnOptions {
  /** Also copy the registry's output to this process's stderr as it comes (the benchmarks). */
  readonly echo?: boolean;
}

const READY_TIMEOUT_MS = 10_000;
const ATTEMPTS = 5;

/**
 * Writes the config into a fresh temp folder, spawns docker-registry and resolves once GET /v2/
 * answers 200. docker-registry cannot listen on :0 and report its port, so this is the racy
 * pick-then-bind that STYLE habit 9 warns about: a start that loses the race (address already in
 * use) is retried on another port, up to 5 times. On any failure the process and the folder are
 * gone before this rejects; on success the caller owns `stop()` (register it at once).
 */
export async function spawnDockerRegistry(config: DockerRegistryConfig, options: SpawnOptions = {}): Promise<DockerRegistryProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'quayside-docker-registry-'));
  const file = join(dir, 'config.yml');
  // aws-sdk-go v1 (2.8's s3-aws driver) panics at start-up on AWS_CA_BUNDLE ("unsupported
  // transport") with distribution's own transport; the test endpoint is plain http anyway.
  const { AWS_CA_BUNDLE: _unused, ...env } = process.env;
  try {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      await writeFile(file, dockerRegistryConfigYaml(config, port));
      const child = spawn(DOCKER_REGISTRY_BIN, ['serve', file], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let log = '';
      const collect = (chunk: Buffer): void => {
        if (log.length < 64 * 1024) log += chunk.toString();
        if (options.echo === true) process.stderr.write(chunk);
      };
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);
      const spawned = new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
      child.on('error', (err) => (log += `\n${String(err)}`));
      const exited = once(child, 'exit').then(() => undefined);
      const kill = async (): Promise<void> => {
        if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(timer);
        }
      };
      const url = `http://127.0.0.1:${port}`;
      try {
        await spawned;
        await waitReady(child, url, () => log, config.auth === undefined ? 200 : 401);
      } catch (err) {
        await kill();
        const lostRace = err instanceof ExitedEarly && /address already in use/i.test(err.output);
        if (!lostRace || attempt >= ATTEMPTS) throw err;
        continue;
      }
      let stopping: Promise<void> | undefined;
      return {
        url,
        port,
        child,
        output: () => log,
        stop: () => (stopping ??= kill().then(() => rm(dir, { recursive: true, force: true }))),
      };
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** A port that was free a moment ago (see spawnDockerRegistry on the race). */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

class ExitedEarly extends Error {
  constructor(readonly output: string) {
    super(`docker-registry exited during start-up:\n${output}`);
  }
}

/** Resolves when GET /v2/ answers 200; rejects when the process exits first or time runs out. */
async function waitReady(child: ChildProcess, url: string, output: () => string, readyStatus = 200): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new ExitedEarly(output());
    if ((await statusOf(`${url}/v2/`)) === readyStatus) return;
    await sleep(20);
  }
  throw new Error(`docker-registry at ${url} not ready after ${READY_TIMEOUT_MS} ms\n${output()}`);
}

/** The status of GET `url` on a fresh connection (none is left in a pool), 0 when it cannot connect. */
function statusOf(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}
