/**
 * Pull-through cache benchmark (issue 11): the same image pulled
 *
 *   cold through the cache   (Quayside with proxy.remoteurl → docker-registry, nothing cached)
 *   direct from the upstream (docker-registry itself)
 *   warm through the cache   (the same Quayside, everything cached)
 *   local                    (a plain Quayside the image was pushed to)
 *
 * side by side, with the ratios cold/direct and warm/local; then 8 clients pulling one big layer
 * at once, cold through the cache against 8 straight from the upstream, with the upstream blob
 * GETs counted (by a forwarder in front of docker-registry, used for both sides) and the cache's
 * peak RSS. A pull is the manifest by tag, then the config and every layer, 3 at a time (docker's
 * default max-concurrent-downloads).
 *
 *   npm run bench:proxy
 *   PROXY_BENCH_LAYERS=4 PROXY_BENCH_LAYER_MIB=32 PROXY_BENCH_BIG_MIB=256 PROXY_BENCH_ROUNDS=3 npm run bench:proxy
 *
 * Every target is a child process on this machine over its own root on the same disk.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { report, round, type Row } from '../lib/report.ts';
import { startDockerRegistry, startQuayside, type Target } from '../lib/targets.ts';

const MIB = 1024 * 1024;
const LAYERS = Number(process.env['PROXY_BENCH_LAYERS'] ?? 4);
const LAYER_MIB = Number(process.env['PROXY_BENCH_LAYER_MIB'] ?? 32);
const BIG_MIB = Number(process.env['PROXY_BENCH_BIG_MIB'] ?? 256);
const ROUNDS = Number(process.env['PROXY_BENCH_ROUNDS'] ?? 3);
const CLIENTS = 8;
const DOWNLOADS_AT_ONCE = 3;

interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
}

interface PushedImage {
  readonly repo: string;
  readonly tag: string;
  readonly blobs: readonly Descriptor[];
}

function digestOf(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** One HTTP exchange; the body is counted (and hashed when asked), never kept. */
function exchange(url: string, method: string, headers: Record<string, string | number> = {}, body?: Buffer): Promise<{ status: number; headers: IncomingMessage['headers']; bytes: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      let bytes = 0;
      const small: Buffer[] = [];
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes < 64 * 1024) small.push(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, text: Buffer.concat(small).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** POST + monolithic PUT ?digest= to the Location given: what docker-registry and Quayside both take. */
async function pushBlob(base: string, repo: string, bytes: Buffer): Promise<string> {
  const digest = digestOf(bytes);
  const started = await exchange(`${base}/v2/${repo}/blobs/uploads/`, 'POST');
  if (started.status !== 202 || !started.headers.location) throw new Error(`POST upload: ${started.status} ${started.text}`);
  const location = new URL(started.headers.location, base);
  location.searchParams.set('digest', digest);
  const put = await exchange(location.toString(), 'PUT', { 'content-type': 'application/octet-stream', 'content-length': bytes.length }, bytes);
  if (put.status !== 201) throw new Error(`PUT upload: ${put.status} ${put.text}`);
  return digest;
}

/** An image of `layers` random layers of `layerBytes` each, pushed under repo:tag. */
async function pushImage(base: string, repo: string, tag: string, layers: number, layerBytes: number): Promise<PushedImage> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, nonce: randomBytes(8).toString('hex') }));
  const blobs: Descriptor[] = [{ mediaType: 'application/vnd.oci.image.config.v1+json', digest: await pushBlob(base, repo, config), size: config.length }];
  for (let i = 0; i < layers; i++) {
    const layer = randomBytes(layerBytes);
    blobs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: await pushBlob(base, repo, layer), size: layer.length });
  }
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: blobs[0], layers: blobs.slice(1) }));
  const put = await exchange(`${base}/v2/${repo}/manifests/${tag}`, 'PUT', { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': manifest.length }, manifest);
  if (put.status !== 201) throw new Error(`PUT manifest: ${put.status} ${put.text}`);
  return { repo, tag, blobs };
}

/** A docker-like pull: manifest by tag, then every blob, DOWNLOADS_AT_ONCE at a time; seconds. */
async function timePull(base: string, repo: string, image: PushedImage): Promise<number> {
  const started = process.hrtime.bigint();
  const manifest = await exchange(`${base}/v2/${repo}/manifests/${image.tag}`, 'GET', { accept: 'application/vnd.oci.image.manifest.v1+json' });
  if (manifest.status !== 200) throw new Error(`${base} manifest: ${manifest.status} ${manifest.text}`);
  const queue = [...image.blobs];
  const worker = async (): Promise<void> => {
    for (let blob = queue.shift(); blob; blob = queue.shift()) {
      const reply = await exchange(`${base}/v2/${repo}/blobs/${blob.digest}`, 'GET');
      if (reply.status !== 200 || reply.bytes !== blob.size) throw new Error(`${base} blob ${blob.digest}: ${reply.status}, ${reply.bytes} of ${blob.size} bytes`);
    }
  };
  await Promise.all(Array.from({ length: DOWNLOADS_AT_ONCE }, worker));
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** `clients` GETs of one blob at once; seconds until the last one has it all. */
async function timeConcurrentBlob(base: string, repo: string, blob: Descriptor, clients: number): Promise<number> {
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      const reply = await exchange(`${base}/v2/${repo}/blobs/${blob.digest}`, 'GET');
      if (reply.status !== 200 || reply.bytes !== blob.size) throw new Error(`${base}: ${reply.status}, ${reply.bytes} of ${blob.size} bytes`);
    }),
  );
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** A forwarder to `target` counting blob GETs: the "one upstream fetch" figure. */
async function startForwarder(target: string): Promise<{ url: string; blobGets: () => number; close: () => void }> {
  const { hostname, port } = new URL(target);
  let blobGets = 0;
  const server = createServer((req, res) => {
    if (req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? '')) blobGets++;
    const upstream = request({ hostname, port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, blobGets: () => blobGets, close: () => { server.closeAllConnections(); server.close(); } };
}

/** Until the cache has every blob in storage (it commits after the clients have their bytes). */
async function waitStored(root: string, image: PushedImage): Promise<void> {
  for (const blob of image.blobs) {
    const hex = blob.digest.slice('sha256:'.length);
    const path = join(root, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    for (let i = 0; ; i++) {
      if ((await stat(path).catch(() => undefined))?.size === blob.size) break;
      if (i > 1200) throw new Error(`${blob.digest} not stored after 60 s`);
      await sleep(50);
    }
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

const mibOf = (image: PushedImage): number => image.blobs.reduce((sum, b) => sum + b.size, 0) / MIB;

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'quayside-bench-proxy-'));
  const targets: Target[] = [];
  let forwarder: Awaited<ReturnType<typeof startForwarder>> | undefined;
  try {
    const upstream = await startDockerRegistry({ root: join(dir, 'upstream') });
    targets.push(upstream);
    const local = await startQuayside({ root: join(dir, 'local') });
    targets.push(local);
    console.log(`seeding: ${ROUNDS} images of ${LAYERS} × ${LAYER_MIB} MiB upstream and locally, one ${BIG_MIB} MiB layer upstream`);
    const images: PushedImage[] = [];
    const localImages: PushedImage[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      images.push(await pushImage(upstream.url, `bench/image${r}`, 'v1', LAYERS, LAYER_MIB * MIB));
      localImages.push(await pushImage(local.url, `bench/image${r}`, 'v1', LAYERS, LAYER_MIB * MIB));
    }
    const big = await pushImage(upstream.url, 'bench/big', 'v1', 1, BIG_MIB * MIB);
    const bigLayer = big.blobs[1];
    if (!bigLayer) throw new Error('no big layer');

    forwarder = await startForwarder(upstream.url);
    const cacheRoot = join(dir, 'cache');
    const cache = await startQuayside({ root: cacheRoot, env: { REGISTRY_PROXY_REMOTEURL: forwarder.url } });
    targets.push(cache);

    const cold: number[] = [];
    const direct: number[] = [];
    const warm: number[] = [];
    const localPull: number[] = [];
    // CPU of the cache from a cold pull's first request until its blobs are stored (the store
    // follows the clients): a figure the busy machine disturbs less than the seconds.
    let coldCpu = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const image = images[r] as PushedImage;
      // Through the forwarder, as the cache's own fetches go: the same hop on both sides.
      direct.push(await timePull(forwarder.url, image.repo, image));
      const cpuBefore = await cache.cpuSeconds();
      cold.push(await timePull(cache.url, image.repo, image));
      await waitStored(cacheRoot, image);
      coldCpu += (await cache.cpuSeconds()) - cpuBefore;
      warm.push(await timePull(cache.url, image.repo, image));
      localPull.push(await timePull(local.url, image.repo, localImages[r] as PushedImage));
    }
    const size = mibOf(images[0] as PushedImage);
    const row = (name: string, seconds: readonly number[], against?: readonly number[]): Row => ({
      pull: name,
      MiB: round(size, 1),
      'median s': round(median(seconds), 3),
      'MiB/s': round(size / median(seconds), 0),
      ratio: against ? `${round(median(seconds) / median(against), 2)}×` : '',
    });
    const rows: Row[] = [
      row('direct from upstream (docker-registry, via the forwarder)', direct),
      { ...row('cold through the cache', cold, direct), 'cache CPU s/GiB': round(coldCpu / ((ROUNDS * size) / 1024), 2) },
      row('local pull (plain Quayside)', localPull),
      row('warm through the cache', warm, localPull),
    ];

    // 8 clients, one big layer: straight from upstream (through the forwarder, as the cache's
    // own fetch is) against cold through the cache; upstream blob GETs counted for both.
    const beforeDirect = forwarder.blobGets();
    const directConcurrent = await timeConcurrentBlob(forwarder.url, big.repo, bigLayer, CLIENTS);
    const directGets = forwarder.blobGets() - beforeDirect;
    await cache.resetPeak();
    const beforeCold = forwarder.blobGets();
    const coldConcurrent = await timeConcurrentBlob(cache.url, big.repo, bigLayer, CLIENTS);
    const coldGets = forwarder.blobGets() - beforeCold;
    const peak = await cache.peakRssMiB();
    const concurrentRow = (name: string, seconds: number, gets: number, against?: number): Row => ({
      pull: name,
      MiB: `${CLIENTS} × ${BIG_MIB}`,
      'median s': round(seconds, 3),
      'MiB/s': round((CLIENTS * BIG_MIB) / seconds, 0),
      ratio: against ? `${round(seconds / against, 2)}×` : '',
      'upstream GETs': gets,
    });
    rows.push(concurrentRow(`${CLIENTS} clients, one layer, direct from upstream`, directConcurrent, directGets));
    rows.push({ ...concurrentRow(`${CLIENTS} clients, one layer, cold through the cache`, coldConcurrent, coldGets, directConcurrent), 'cache peak RSS MiB': round(peak, 0) });
    await report('proxy-pull-through', rows, { rounds: ROUNDS, layers: LAYERS, layerMiB: LAYER_MIB, bigMiB: BIG_MIB, downloadsAtOnce: DOWNLOADS_AT_ONCE });
  } finally {
    forwarder?.close();
    for (const target of targets.reverse()) await target.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
