import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { BlobContent } from './content.ts';
import type { BenchClient } from './http-client.ts';
import { pullBlob, pushBlob, UnexpectedReply, type BlobToPush } from './push.ts';
import type { ReadWorkerData, ReadWorkerResult, ReadWorkerStart } from './read-worker.ts';
import { round, type ScenarioResult } from './scenarios.ts';
import { ClientCpu, Outcomes } from './stats.ts';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const ACCEPT = [MANIFEST, 'application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.docker.distribution.manifest.list.v2+json'].join(', ');

/** From source, the .mjs shim that registers tsx first (STYLE §6.2); from a build, the compiled worker. */
const WORKER_ENTRY = import.meta.url.endsWith('.ts') ? new URL('./read-worker-dev.mjs', import.meta.url) : new URL('./read-worker.js', import.meta.url);

/** A small image to read: a 4 KiB layer, its config, and a manifest tagged `latest`, plus `tags` more tags. */
export interface SmallImage {
  readonly repo: string;
  readonly layer: BlobToPush;
  readonly config: BlobToPush;
  readonly manifest: Buffer;
  readonly manifestDigest: string;
  readonly tags: readonly string[];
}

export async function seedSmallImage(client: BenchClient, content: BlobContent, repo: string, firstBlob: number, tagCount = 10): Promise<SmallImage> {
  const layer: BlobToPush = { repo, blob: firstBlob, size: 4096, digest: content.digestOf(firstBlob, 4096) };
  await pushBlob(() => client, content, layer, 'chunked', 4096);
  const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] }, config: {} }));
  const config: BlobToPush = { repo, blob: -1, size: configBytes.length, digest: `sha256:${createHash('sha256').update(configBytes).digest('hex')}` };
  await putSmallBlob(client, repo, configBytes, config.digest);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: layer.size }],
    }),
  );
  const tags = ['latest', ...Array.from({ length: tagCount }, (_, i) => `t${i}`)];
  for (const tag of tags) {
    const reply = await client.send('PUT', `/v2/${repo}/manifests/${tag}`, { headers: { 'content-type': MANIFEST, 'content-length': manifest.length }, body: () => [manifest] });
    if (reply.status !== 201) throw new UnexpectedReply(reply.status, `PUT manifest ${repo}:${tag}`, 201);
  }
  return { repo, layer, config, manifest, manifestDigest: `sha256:${createHash('sha256').update(manifest).digest('hex')}`, tags };
}

async function putSmallBlob(client: BenchClient, repo: string, bytes: Buffer, digest: string): Promise<void> {
  const start = await client.send('POST', `/v2/${repo}/blobs/uploads/`, { headers: { 'content-length': 0 } });
  if (start.status !== 202) throw new UnexpectedReply(start.status, 'POST', 202);
  const location = String(start.headers.location ?? '');
  const path = /^https?:\/\//.test(location) ? new URL(location).pathname + new URL(location).search : location;
  const done = await client.send('PUT', `${path}${path.includes('?') ? '&' : '?'}digest=${digest}`, { headers: { 'content-type': 'application/octet-stream', 'content-length': bytes.length }, body: () => [bytes] });
  if (done.status !== 201) throw new UnexpectedReply(done.status, 'PUT', 201);
}

export type SmallRead = 'manifest' | 'tags' | 'blob';
export const SMALL_READS: readonly SmallRead[] = ['manifest', 'tags', 'blob'];

/** One small read, checked: the manifest's bytes, the tags' count, the blob's size. */
async function readOnce(client: BenchClient, image: SmallImage, kind: SmallRead): Promise<void> {
  if (kind === 'manifest') {
    const reply = await client.send('GET', `/v2/${image.repo}/manifests/latest`, { headers: { accept: ACCEPT }, keepBody: true });
    if (reply.status !== 200) throw new UnexpectedReply(reply.status, 'GET manifest', 200);
    if (reply.body?.equals(image.manifest) !== true) throw new UnexpectedReply(reply.status, 'GET manifest: other bytes', 'the pushed manifest');
  } else if (kind === 'tags') {
    const reply = await client.send('GET', `/v2/${image.repo}/tags/list`, { keepBody: true });
    if (reply.status !== 200) throw new UnexpectedReply(reply.status, 'GET tags', 200);
    const tags = (JSON.parse(reply.body?.toString() ?? '{}') as { tags?: unknown[] }).tags;
    if (tags?.length !== image.tags.length) throw new UnexpectedReply(reply.status, `tags list of ${tags?.length ?? 0}`, image.tags.length);
  } else {
    await pullBlob(client, image.layer);
  }
}

/** `loops` loops of one small read each until `deadline` (Date.now() ms), in this thread. */
export async function readLoops(client: BenchClient, image: SmallImage, kind: SmallRead, loops: number, deadline: number): Promise<Outcomes> {
  const outcomes = new Outcomes();
  const loop = async (): Promise<void> => {
    while (Date.now() < deadline) {
      const t0 = performance.now();
      try {
        await readOnce(client, image, kind);
        outcomes.ok(performance.now() - t0);
      } catch (err) {
        outcomes.failed(err);
      }
    }
  };
  await Promise.all(Array.from({ length: loops }, loop));
  return outcomes;
}

/**
 * `concurrency` loops of one small read each for `durationMs`, spread over `threads` threads
 * (read-worker.ts; 1: this thread only): requests per second and latency.
 */
export async function smallReadScenario(client: BenchClient, image: SmallImage, kind: SmallRead, concurrency: number, durationMs: number, threads = 1): Promise<ScenarioResult> {
  const threaded = threads > 1 ? await startReadThreads(client, image, kind, concurrency, threads) : undefined;
  const cpu = new ClientCpu();
  const started = performance.now();
  const deadline = Date.now() + durationMs;
  const outcomes = threaded === undefined ? await readLoops(client, image, kind, concurrency, deadline) : await threaded(deadline);
  const seconds = (performance.now() - started) / 1000;
  const size = kind === 'manifest' ? image.manifest.length : kind === 'blob' ? image.layer.size : 0;
  return {
    name: 'small-read',
    mode: kind,
    parallel: concurrency,
    size,
    requestsPerSec: round(outcomes.latenciesMs.length / seconds, 1),
    p50Ms: round(outcomes.percentile(50), 3),
    p99Ms: round(outcomes.percentile(99), 3),
    errors: outcomes.errors,
    seconds: round(seconds),
    clientCores: round(cpu.fractionOfCore()),
    ...(outcomes.firstError !== undefined ? { note: outcomes.firstError } : {}),
  };
}


/**
 * The loops split over `threads` worker threads, each with its own client: resolves once all are
 * loaded with a function that starts them and merges their outcomes.
 */
async function startReadThreads(client: BenchClient, image: SmallImage, kind: SmallRead, concurrency: number, threads: number): Promise<(deadline: number) => Promise<Outcomes>> {
  const count = Math.min(threads, concurrency);
  const workers = Array.from({ length: count }, (_, i) => {
    const loops = Math.floor(concurrency / count) + (i < concurrency % count ? 1 : 0);
    const data: ReadWorkerData = { url: client.base.href, client: client.options, image, kind, loops };
    return new Worker(WORKER_ENTRY, { workerData: data });
  });
  const answer = <T>(worker: Worker): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const onExit = (code: number): void => reject(new Error(`read worker exited with ${code} before answering`));
      worker.once('message', (message: T) => {
        worker.off('exit', onExit);
        resolve(message);
      });
      worker.once('error', reject);
      worker.once('exit', onExit);
    });
  await Promise.all(workers.map((w) => answer<'ready'>(w)));
  return async (deadline) => {
    const answers = workers.map((w) => answer<ReadWorkerResult>(w));
    for (const worker of workers) worker.postMessage({ deadline } satisfies ReadWorkerStart);
    const results = await Promise.all(answers);
    const merged = new Outcomes();
    for (const result of results) {
      for (const ms of result.latenciesMs) merged.ok(ms);
      for (const [status, n] of Object.entries(result.errors)) merged.errors[status] = (merged.errors[status] ?? 0) + n;
      merged.firstError ??= result.firstError;
    }
    return merged;
  };
}
