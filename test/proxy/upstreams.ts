import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bcrypt } from 'hash-wasm';
import { buildConfig } from '../../src/config/load.ts';
import { createRegistry } from '../../src/registry.ts';
import { spawnDockerRegistry, type DockerRegistryAuth } from '../../scripts/lib/docker-registry.ts';
import { send } from '../helpers/oci-client.ts';
import { pushBlobFollowing, pushImageFollowing } from '../helpers/peer-client.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { buildImage, randomLayer, type Image } from '../helpers/oci-image.ts';

/**
 * Upstreams for the pull-through tests: Debian's docker-registry (the reference registry) on a
 * temp root, optionally with auth, and a counting HTTP proxy in front of it that records every
 * request the cache makes and can hold a blob body midway (to see clients stream a blob that is
 * still arriving, without timing anything).
 */
type Hooks = { after: (fn: () => Promise<void>) => void };

export interface Upstream {
  readonly url: string;
  readonly root: string;
  stop(): Promise<void>;
}

/** docker-registry on a fresh (or given) root; `auth` as in its config.yml. */
export async function startUpstream(t: Hooks, options: { root?: string; auth?: DockerRegistryAuth } = {}): Promise<Upstream> {
  const root = options.root ?? (await mkdtemp(join(tmpdir(), 'quayside-upstream-')));
  if (!options.root) t.after(() => rm(root, { recursive: true, force: true }));
  const registry = await spawnDockerRegistry({ storage: { filesystem: { rootdirectory: root } }, secret: 'proxy-test-secret', ...(options.auth ? { auth: options.auth } : {}) });
  t.after(() => registry.stop());
  return { url: registry.url, root, stop: () => registry.stop() };
}

/** An htpasswd file (bcrypt, as `htpasswd -B` writes it) with one user. */
export async function htpasswdFile(t: Hooks, user: string, password: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'quayside-htpasswd-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const hash = await bcrypt({ password, salt: randomBytes(16), costFactor: 4, outputType: 'encoded' });
  const path = join(dir, 'htpasswd');
  await writeFile(path, `${user}:${hash.replace(/^\$2[ab]\$/, '$2y$')}\n`);
  return path;
}

/** Pushes a one-layer image of `layerSize` random bytes to `base` under repo:tag. */
export async function pushRandomImage(base: string, repo: string, tag: string, layerSize = 4096): Promise<Image> {
  const image = buildImage([randomLayer(layerSize)]);
  await pushImageFollowing(base, repo, image, [tag]);
  return image;
}

export interface CountingProxy {
  readonly url: string;
  /** `METHOD path` of every request forwarded, in arrival order. */
  readonly requests: string[];
  count(method: string, pathPattern: RegExp): number;
  /**
   * Blob GET bodies stop after `bytes` until the returned release() is called (the held
   * response's later bytes are forwarded then).
   */
  holdBlobBodies(bytes: number): { release: () => void; reached: Promise<void> };
  /** Closes the listener and every connection: the upstream is down from now on. */
  stop(): Promise<void>;
}

/** An HTTP forwarder to `target` that counts requests (the "one upstream fetch" assertions). */
export async function startCountingProxy(t: Hooks, target: string): Promise<CountingProxy> {
  const requests: string[] = [];
  let hold: { bytes: number; released: Promise<void>; reached: () => void } | undefined;
  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    requests.push(`${req.method ?? ''} ${req.url ?? ''}`);
    const { hostname, port } = new URL(target);
    const upstream = request({ hostname, port, path: req.url, method: req.method, headers: { ...req.headers, host: `${hostname}:${port}` } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      const held = hold && req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? '') ? hold : undefined;
      if (!held) return void answer.pipe(res);
      void (async () => {
        let sent = 0;
        for await (const chunk of answer as AsyncIterable<Buffer>) {
          if (sent < held.bytes && sent + chunk.length >= held.bytes) {
            const first = chunk.subarray(0, held.bytes - sent);
            res.write(first);
            held.reached();
            await held.released;
            res.write(chunk.subarray(first.length));
          } else res.write(chunk);
          sent += chunk.length;
        }
        res.end();
      })().catch(() => res.destroy());
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  };
  const server: Server = createServer(forward);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      server.close();
      server.closeAllConnections();
      await once(server, 'close').catch(() => undefined);
    })());
  t.after(stop);
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    count: (method, pattern) => requests.filter((line) => line.startsWith(`${method} `) && pattern.test(line.slice(method.length + 1))).length,
    holdBlobBodies(bytes) {
      let release = (): void => undefined;
      let reached = (): void => undefined;
      const released = new Promise<void>((resolve) => (release = resolve));
      const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
      hold = { bytes, released, reached };
      return { release: () => { hold = undefined; release(); }, reached: reachedPromise };
    },
    stop,
  };
}

/** Polls `check` until it returns true (generous deadline: the machine is shared). */
export async function eventually(what: string, check: () => Promise<boolean>, deadlineMs = 30_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`not within ${deadlineMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** GET of `path` on `base`; the body as a Buffer (helpers/oci-client send). */
export function get(base: string, path: string, headers: Record<string, string> = {}): ReturnType<typeof send> {
  return send(base, path, { headers, signal: AbortSignal.timeout(120_000) });
}

/**
 * Waits until the cache at `root` has each blob in storage. A fetched blob is committed after its
 * clients have their bytes; a test that ends sooner would remove the root under that commit.
 */
export async function cached(root: string, digests: readonly string[]): Promise<void> {
  for (const digest of digests) {
    const hex = digest.slice('sha256:'.length);
    const path = join(root, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    await eventually(`${digest} stored`, () => stat(path).then(() => true, () => false));
  }
}

/** A Quayside proxying `remoteurl` that sends its events to `hookUrl` (notifications.endpoints), on a temp root. */
export async function startNotifyingProxy(t: Hooks, remoteurl: string, hookUrl: string): Promise<{ url: string; root: string }> {
  const root = await mkdtemp(join(tmpdir(), 'quayside-proxy-events-'));
  const config = buildConfig({
    log: { level: process.env['QUAYSIDE_TEST_LOG'] ?? 'silent' },
    http: { addr: '127.0.0.1:0' },
    storage: { filesystem: { rootdirectory: root } },
    proxy: { remoteurl },
    notifications: { endpoints: [{ name: 'hook', url: hookUrl, timeout: '5s', threshold: 3, backoff: '100ms' }] },
  });
  const registry = await createRegistry(config, { workers: 1 });
  // Closed before its root goes (after() hooks run in the order they were added).
  t.after(async () => {
    await registry.close(1000);
    await rm(root, { recursive: true, force: true });
  });
  return { url: registry.url, root };
}

/** A cold blob behind a cache: `bytes` random bytes pushed upstream under `repo`, a counting forwarder, a Quayside proxying through it. */
export interface ColdBlob {
  readonly upstream: Upstream;
  readonly bytes: Buffer;
  readonly digest: string;
  readonly counter: CountingProxy;
  readonly cache: TestRegistry;
}

export async function coldBlobBehindCache(t: Hooks, repo: string, size: number): Promise<ColdBlob> {
  const upstream = await startUpstream(t);
  const bytes = randomBytes(size);
  const digest = await pushBlobFollowing(upstream.url, repo, bytes);
  const counter = await startCountingProxy(t, upstream.url);
  const cache = await startRegistry(t, { config: { proxy: { remoteurl: counter.url } } });
  return { upstream, bytes, digest, counter, cache };
}
