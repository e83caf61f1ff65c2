import { createHash } from 'node:crypto';
import { BlobContent } from './content.ts';
import type { BenchClient } from './http-client.ts';
import { ModeUnsupported, pullBlob, pushBlob, UnexpectedReply, type BlobToPush, type PushMode } from './push.ts';
import { ClientCpu, Outcomes } from './stats.ts';

/** One measured scenario on one registry, as `--json` writes it (issue 12's fields, then extras). */
export interface ScenarioResult {
  readonly name: string;
  readonly mode: string;
  readonly parallel: number;
  /** Bytes per blob; for small reads, the size of what is read. */
  readonly size: number;
  readonly mibPerSec?: number;
  readonly requestsPerSec?: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Failed operations by HTTP status ("network": no answer). */
  readonly errors: Readonly<Record<string, number>>;
  readonly seconds: number;
  /** The benchmark's own CPU over the run, in cores: at 0.9 or more the client may be the bottleneck. */
  readonly clientCores: number;
  readonly note?: string;
}

export interface Progress {
  (text: string): void;
}

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const ACCEPT = [MANIFEST, 'application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.docker.distribution.manifest.list.v2+json'].join(', ');

/** Blobs of a push scenario: distinct content, digests computed before timing. */
export function blobsFor(content: BlobContent, repo: string, first: number, parallel: number, size: number): BlobToPush[] {
  return Array.from({ length: parallel }, (_, i) => ({ repo, blob: first + i, size, digest: content.digestOf(first + i, size) }));
}

/** `parallel` verified uploads at once; MiB/s over the wall time of all of them. */
export async function pushScenario(client: BenchClient, content: BlobContent, blobs: readonly BlobToPush[], mode: PushMode, chunk: number, progress: Progress): Promise<ScenarioResult> {
  const outcomes = new Outcomes();
  const cpu = new ClientCpu();
  const started = performance.now();
  let done = 0;
  const ticker = setInterval(() => progress(`push ${mode}: ${done}/${blobs.length} done, ${Math.round((performance.now() - started) / 1000)} s`), 5000);
  let unsupported: string | undefined;
  try {
    await Promise.all(
      blobs.map(async (blob) => {
        try {
          outcomes.ok((await pushBlob(() => client, content, blob, mode, chunk)) * 1000);
        } catch (err) {
          if (err instanceof ModeUnsupported) unsupported = err.message;
          else outcomes.failed(err);
        } finally {
          done++;
        }
      }),
    );
  } finally {
    clearInterval(ticker);
  }
  const seconds = (performance.now() - started) / 1000;
  const size = blobs[0]?.size ?? 0;
  const moved = outcomes.latenciesMs.length * size;
  return {
    name: 'push',
    mode,
    parallel: blobs.length,
    size,
    mibPerSec: round(moved / 2 ** 20 / seconds),
    p50Ms: round(outcomes.percentile(50)),
    p99Ms: round(outcomes.percentile(99)),
    errors: outcomes.errors,
    seconds: round(seconds),
    clientCores: round(cpu.fractionOfCore()),
    ...(unsupported !== undefined ? { note: unsupported } : outcomes.firstError !== undefined ? { note: outcomes.firstError } : {}),
  };
}

/** The pushed blobs pulled at once, whole and verified by size; `mode` cold (first pull) or warm (again). */
export async function pullScenario(client: BenchClient, blobs: readonly BlobToPush[], mode: 'cold' | 'warm'): Promise<ScenarioResult> {
  const outcomes = new Outcomes();
  const cpu = new ClientCpu();
  const started = performance.now();
  await Promise.all(
    blobs.map(async (blob) => {
      try {
        outcomes.ok((await pullBlob(client, blob)) * 1000);
      } catch (err) {
        outcomes.failed(err);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const size = blobs[0]?.size ?? 0;
  return {
    name: 'pull',
    mode,
    parallel: blobs.length,
    size,
    mibPerSec: round((outcomes.latenciesMs.length * size) / 2 ** 20 / seconds),
    p50Ms: round(outcomes.percentile(50)),
    p99Ms: round(outcomes.percentile(99)),
    errors: outcomes.errors,
    seconds: round(seconds),
    clientCores: round(cpu.fractionOfCore()),
    ...(outcomes.firstError !== undefined ? { note: outcomes.firstError } : {}),
  };
}

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

/** `concurrency` loops of one small read each for `durationMs`: requests per second and latency. */
export async function smallReadScenario(client: BenchClient, image: SmallImage, kind: SmallRead, concurrency: number, durationMs: number): Promise<ScenarioResult> {
  const outcomes = new Outcomes();
  const cpu = new ClientCpu();
  const started = performance.now();
  const deadline = started + durationMs;
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        await readOnce(client, image, kind);
        outcomes.ok(performance.now() - t0);
      } catch (err) {
        outcomes.failed(err);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
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
 * A push chain, `concurrency` at once for `durationMs`: POST, one PATCH of a distinct 4 KiB blob,
 * PUT ?digest=, verified (202, 202, 201, the digest, then a HEAD of its size). requestsPerSec
 * counts all four requests of a chain; latency is POST to 201; the note says chains per second.
 */
export async function pushChainScenario(client: BenchClient, content: BlobContent, repo: string, firstBlob: number, concurrency: number, durationMs: number): Promise<ScenarioResult> {
  const SIZE = 4096;
  // Digests before timing: as many as this many loops could use, grown in batches if outrun.
  const digests: string[] = [];
  const digestOf = (i: number): string => {
    while (digests.length <= i) digests.push(content.digestOf(firstBlob + digests.length, SIZE));
    return digests[i] ?? '';
  };
  digestOf(concurrency * 200);
  const outcomes = new Outcomes();
  const cpu = new ClientCpu();
  const started = performance.now();
  const deadline = started + durationMs;
  let nextBlob = 0;
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const i = nextBlob++;
      const blob: BlobToPush = { repo, blob: firstBlob + i, size: SIZE, digest: digestOf(i) };
      try {
        outcomes.ok((await pushBlob(() => client, content, blob, 'chunked', SIZE)) * 1000);
      } catch (err) {
        outcomes.failed(err);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const seconds = (performance.now() - started) / 1000;
  const chains = outcomes.latenciesMs.length;
  return {
    name: 'push-chain',
    mode: 'chunked',
    parallel: concurrency,
    size: SIZE,
    requestsPerSec: round((chains * 4) / seconds, 1),
    p50Ms: round(outcomes.percentile(50), 3),
    p99Ms: round(outcomes.percentile(99), 3),
    errors: outcomes.errors,
    seconds: round(seconds),
    clientCores: round(cpu.fractionOfCore()),
    note: `${round(chains / seconds, 1)} chains/s${outcomes.firstError !== undefined ? `; ${outcomes.firstError}` : ''}`,
  };
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
