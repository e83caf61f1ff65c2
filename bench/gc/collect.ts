import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseDigest } from '../../src/digest/digest.ts';
import { garbageCollect, type GcOptions, type GcReport } from '../../src/gc/garbage-collect.ts';
import type { StorageDriver } from '../../src/storage/driver.ts';
import { createDriver } from '../../src/storage/factory.ts';
import { paths } from '../../src/storage/paths.ts';

/**
 * src/gc/garbage-collect.ts over a root of `--blobs` blobs in `--repos` repositories (default
 * 10 000 in 200, issue 9): per repository one tagged OCI manifest references half its blobs (a
 * config and layers), the other half are linked but unreferenced, so a run deletes half the blobs.
 * Times a dry run, then a real run, on a fresh copy each, and counts the storage calls.
 *
 *   node --import tsx bench/gc/collect.ts [--blobs 10000] [--repos 200]
 *
 * The run against the code before issue 9: `git stash` (or check out the old src/gc) and run the
 * same command; options the old code does not know are ignored by it.
 */
const { values } = parseArgs({ options: { blobs: { type: 'string', default: '10000' }, repos: { type: 'string', default: '200' } } });
const BLOBS = Number(values.blobs);
const REPOS = Number(values.repos);
const PER_REPO = Math.floor(BLOBS / REPOS);
const REFERENCED = Math.ceil(PER_REPO / 2);

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

async function put(root: string, path: string, content: string | Buffer): Promise<void> {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), content);
}

/** The root as distribution lays it out: blob data, _layers links, a manifest, its revision and tag links. */
async function buildRoot(root: string): Promise<{ orphans: number; referenced: number }> {
  for (let r = 0; r < REPOS; r++) {
    const repo = `bench/repo-${String(r).padStart(4, '0')}`;
    const blobs = Array.from({ length: PER_REPO }, () => randomBytes(64));
    const digests = blobs.map(sha256);
    const writes: Promise<void>[] = [];
    for (const [i, bytes] of blobs.entries()) {
      const d = parseDigest(digests[i] ?? '');
      writes.push(put(root, paths.blobData(d), bytes), put(root, paths.layerLink(repo, d), d.value));
    }
    const [config, ...layers] = digests.slice(0, REFERENCED);
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 64 },
      layers: layers.map((digest) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size: 64 })),
    }));
    const m = parseDigest(sha256(manifest));
    writes.push(put(root, paths.blobData(m), manifest), put(root, paths.revisionLink(repo, m), m.value), put(root, paths.tagCurrentLink(repo, 'latest'), m.value));
    await Promise.all(writes);
  }
  return { orphans: REPOS * (PER_REPO - REFERENCED), referenced: REPOS * (REFERENCED + 1) };
}

/** The filesystem driver, counting its calls by method (not a mock: every call goes through). */
function counting(driver: StorageDriver): { driver: StorageDriver; calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const proxy = new Proxy(driver, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if (typeof value !== 'function' || typeof key !== 'string') return value;
      return (...args: unknown[]) => {
        calls[key] = (calls[key] ?? 0) + 1;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { driver: proxy, calls };
}

async function timed(dryRun: boolean): Promise<{ ms: number; report: GcReport; calls: Record<string, number> }> {
  const root = await mkdtemp(join(tmpdir(), 'quayside-bench-gc-'));
  try {
    const expected = await buildRoot(root);
    const { driver, calls } = counting(createDriver({ filesystem: { rootdirectory: root } }));
    // Everything is older than the grace period: the clock is set two hours on.
    const options: GcOptions = { dryRun, deleteUntagged: false, graceMs: 3_600_000, now: Date.now() + 7_200_000 };
    const started = performance.now();
    const report = await garbageCollect(driver, options);
    const ms = performance.now() - started;
    // The answer first: exactly the unreferenced half goes, every referenced blob is marked.
    assert.equal(report.blobsDeleted.length, expected.orphans, 'deleted');
    assert.equal(report.blobsMarked, expected.referenced, 'marked');
    return { ms, report, calls };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const rows = [];
for (const dryRun of [true, false]) {
  const { ms, report, calls } = await timed(dryRun);
  rows.push({ run: dryRun ? 'dry run' : 'delete', blobs: BLOBS + REPOS, repos: REPOS, deleted: report.blobsDeleted.length, seconds: (ms / 1000).toFixed(2), ...calls });
}
console.table(rows);
