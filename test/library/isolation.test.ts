import assert from 'node:assert/strict';
import { truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseDigest } from '../../src/digest/digest.ts';
import { createRegistry, type Registry } from '../../src/index.ts';
import { paths } from '../../src/storage/paths.ts';
import { pushBlob, pushImage } from '../helpers/oci-client.ts';
import { scrape, waitFor, type Scrape } from '../metrics/helpers.ts';

/*
 * Issue 12: "Several registries in one process do not share state by accident." Two registries
 * side by side with metrics on: what one of them runs (garbage collection, the stale upload
 * purge) shows in its own /metrics and never in its neighbour's (src/metrics/runs.ts).
 */
async function metricsRegistry(t: { after: (fn: () => Promise<void>) => void }, purging: boolean): Promise<Registry & { debugUrl: string }> {
  const registry = await createRegistry({
    storage: 'tempdir',
    config: {
      http: { debug: { addr: '127.0.0.1:0', prometheus: { enabled: true } } },
      storage: { maintenance: { uploadpurging: { enabled: purging } } },
    },
  });
  t.after(() => registry.close());
  const { debugUrl } = registry;
  assert.ok(debugUrl, 'the registry has a debug server');
  return Object.assign(registry, { debugUrl });
}

/** The run counters of one scrape (undefined: the series is missing). */
function runs(s: Scrape): Record<string, number | undefined> {
  return {
    gcOk: s.value('registry_gc_runs_total', { result: 'ok' }),
    gcFailed: s.value('registry_gc_runs_total', { result: 'failed' }),
    gcBlobs: s.value('registry_gc_deleted_blobs_total'),
    gcManifests: s.value('registry_gc_deleted_manifests_total'),
    purgeOk: s.value('registry_purge_runs_total', { result: 'ok' }),
    purgeFailed: s.value('registry_purge_runs_total', { result: 'failed' }),
    purgeUploads: s.value('registry_purge_uploads_total'),
  };
}

test('library: garbage collection and purge runs are counted by the registry that ran them, not by its neighbour in the same process', async (t) => {
  const a = await metricsRegistry(t, true);
  const b = await metricsRegistry(t, false);
  await pushBlob(a.url, 'app', 'unreferenced in A');
  const image = await pushImage(b.url, 'app', 'v1', ['a layer of B']);
  // A's purge first runs a second after start (uploads/purge.ts schedulePurging); B's is off.
  await waitFor("A's first purge run", async () => runs(await scrape(a.debugUrl)).purgeOk ?? 0, (n) => n >= 1);

  const report = await a.garbageCollect({ graceMs: 0 });
  assert.equal(report.blobsDeleted.length, 1);
  // B's collection fails before deleting anything: its manifest cannot be parsed (gc fail-closed, issue 9).
  const rootB = b.rootdirectory ?? assert.fail('tempdir storage has a root');
  await truncate(join(rootB, paths.blobData(parseDigest(image.digest))), 10);
  await assert.rejects(b.garbageCollect({ graceMs: 0 }), /cannot|parse|JSON/i);

  const ofA = runs(await scrape(a.debugUrl));
  const ofB = runs(await scrape(b.debugUrl));
  assert.deepEqual({ gcOk: ofA.gcOk, gcFailed: ofA.gcFailed, gcBlobs: ofA.gcBlobs, gcManifests: ofA.gcManifests, purgeFailed: ofA.purgeFailed }, { gcOk: 1, gcFailed: 0, gcBlobs: 1, gcManifests: 0, purgeFailed: 0 }, JSON.stringify(ofA));
  assert.ok((ofA.purgeOk ?? 0) >= 1, JSON.stringify(ofA));
  assert.deepEqual(ofB, { gcOk: 0, gcFailed: 1, gcBlobs: 0, gcManifests: 0, purgeOk: 0, purgeFailed: 0, purgeUploads: 0 });
});
