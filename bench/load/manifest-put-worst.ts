/**
 * The costliest manifest PUTs (issue 9, "The suite holds on a busy machine": `PUT extreme-26`,
 * 25 000 layers, got no reply within 5 s). Each case is one image manifest whose every reference
 * is present, so the registry must check them all before it answers:
 *
 *   same-blob-25k     25 000 layers naming 4 blobs (the fuzz extreme): refused above the limit
 *   same-blob-10k     10 000 descriptors naming 4 blobs, at the limit
 *   distinct-10k      10 000 distinct blobs: the most that manifests.maxReferences accepts by default
 *   distinct-4mib     as many distinct blobs as fit in 4 MiB (about 40 000): accepted before the
 *                     limit, refused with 400 MANIFEST_INVALID after it
 *
 *   node --import tsx bench/load/manifest-put-worst.ts [--rounds 3] [--load 2]
 *
 * `--load N` runs N `yes > /dev/null` processes beside the server for the whole run (the busy
 * machine of the issue) and ends them, by their pids, afterwards. Blobs are seeded straight into
 * the storage layout (paths.ts) before the server starts; tens of thousands of uploads over HTTP
 * would take longer than the measurement. Each round pushes to a fresh tag after the link cache's
 * one-second lifetime, so every round checks storage, not the cache. Reported: status and
 * milliseconds to the reply per case (median and worst of the rounds).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { sha256Digest } from '../../src/digest/digest.ts';
import { FilesystemDriver } from '../../src/storage/filesystem/driver.ts';
import { paths } from '../../src/storage/paths.ts';
import { report, round, type Row } from '../lib/report.ts';
import { startQuayside } from '../lib/targets.ts';

const REPO = 'worst/app';
const LIMIT = 4 * 1024 * 1024;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** The shortest media type the validator takes: the most descriptors per MiB. */
const SHORT_TYPE = 'x';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, load: { type: 'string', default: '0' } } });
const rounds = Number(values.rounds);
const loadJobs = Number(values.load);

interface Blob {
  readonly digest: string;
  readonly size: number;
}

function blobFor(i: number): { bytes: Buffer; blob: Blob } {
  const bytes = Buffer.from(`worst-case blob ${i}`);
  return { bytes, blob: { digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.length } };
}

function descriptor(blob: Blob): string {
  return JSON.stringify({ mediaType: SHORT_TYPE, digest: blob.digest, size: blob.size });
}

function manifest(config: Blob, layers: readonly Blob[]): Buffer {
  return Buffer.from(`{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${descriptor(config)},"layers":[${layers.map(descriptor).join(',')}]}`);
}

/** How many distinct layers fit in one manifest of at most LIMIT bytes. */
function distinctThatFit(config: Blob, sample: Blob): number {
  const shell = manifest(config, []).length;
  return Math.floor((LIMIT - shell) / (descriptor(sample).length + 1));
}

async function seed(root: string, count: number): Promise<Blob[]> {
  const driver = new FilesystemDriver(root, { directIo: false });
  const blobs: Blob[] = [];
  const batch = 64;
  for (let start = 0; start < count; start += batch) {
    const chunk = Array.from({ length: Math.min(batch, count - start) }, (_, k) => blobFor(start + k));
    await Promise.all(
      chunk.map(async ({ bytes, blob }) => {
        const digest = sha256Digest(blob.digest.slice('sha256:'.length));
        await driver.putContent(paths.blobData(digest), bytes, { durable: false });
        await driver.putContent(paths.layerLink(REPO, digest), blob.digest, { durable: false });
      }),
    );
    blobs.push(...chunk.map((c) => c.blob));
  }
  return blobs;
}

function startLoad(jobs: number): ChildProcess[] {
  return Array.from({ length: jobs }, () => spawn('yes', [], { stdio: ['ignore', 'ignore', 'ignore'] }));
}

function stopLoad(children: readonly ChildProcess[]): void {
  for (const child of children) if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGTERM');
}

async function timedPut(url: string, tag: string, body: Buffer): Promise<{ status: number; ms: number; code: string }> {
  const started = performance.now();
  const res = await fetch(`${url}/v2/${REPO}/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body, signal: AbortSignal.timeout(120_000) });
  const text = await res.text();
  const ms = performance.now() - started;
  const code = res.status >= 400 ? ((JSON.parse(text) as { errors?: { code: string }[] }).errors?.[0]?.code ?? '') : '';
  return { status: res.status, ms, code };
}

function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

const root = await mkdtemp(join(tmpdir(), 'quayside-worst-put-'));
const config = blobFor(-1);
const fit = distinctThatFit(config.blob, blobFor(0).blob);
console.log(`seeding ${fit} blobs and their links under ${root}`);
const blobs = await seed(root, fit);
const driver = new FilesystemDriver(root, { directIo: false });
const configDigest = sha256Digest(config.blob.digest.slice('sha256:'.length));
await driver.putContent(paths.blobData(configDigest), config.bytes, { durable: false });
await driver.putContent(paths.layerLink(REPO, configDigest), config.blob.digest, { durable: false });

const cases: ReadonlyArray<{ name: string; body: Buffer }> = [
  { name: 'same-blob-25k', body: manifest(config.blob, Array.from({ length: 25_000 }, (_, i) => blobs[i % 4] as Blob)) },
  { name: 'same-blob-10k', body: manifest(config.blob, Array.from({ length: 10_000 - 1 }, (_, i) => blobs[i % 4] as Blob)) },
  { name: 'distinct-10k', body: manifest(config.blob, blobs.slice(0, 10_000 - 1)) },
  { name: `distinct-4mib (${fit})`, body: manifest(config.blob, blobs) },
];

const target = await startQuayside({ root });
const load = startLoad(loadJobs);
const rows: Row[] = [];
try {
  for (const c of cases) {
    const results = [];
    for (let r = 0; r < rounds; r++) {
      await sleep(1100); // past the link cache's lifetime: every round reads storage
      results.push(await timedPut(target.url, `r${r}-${rows.length}`, c.body));
    }
    const times = results.map((x) => x.ms);
    rows.push({
      case: c.name,
      bytes: c.body.length,
      answer: [...new Set(results.map((x) => `${x.status} ${x.code}`.trim()))].join(', '),
      medianMs: round(median(times), 0),
      worstMs: round(Math.max(...times), 0),
    });
  }
} finally {
  stopLoad(load);
  await target.stop();
}
await report('manifest-put-worst', rows, { rounds, loadJobs });
await rm(root, { recursive: true, force: true });
