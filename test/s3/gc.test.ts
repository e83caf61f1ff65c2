import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { garbageCollect, type GcOptions } from '../../src/gc/garbage-collect.ts';
import { LINK_TTL_MS } from '../../src/storage/link-cache.ts';
import { paths } from '../../src/storage/paths.ts';
import { expectStatus } from '../helpers/assertions.ts';
import { pushBlob, pushImage, send } from '../helpers/oci-client.ts';
import { s3DriverOf, startS3Registry } from '../helpers/s3-registry.ts';
import { s3Unavailable } from '../helpers/s3.ts';
import { parseDigest } from '../../src/digest/digest.ts';

/*
 * Garbage collection on S3, where times are the store's LastModified (whole seconds, another
 * clock): a touch is a copy of the object onto itself, and the grace period is widened by the
 * driver's timestamp slack (15 min + 1 s), so nothing written recently can look old.
 */
const skip = s3Unavailable;

const gc = (extra: Partial<GcOptions> = {}): GcOptions => ({ dryRun: false, deleteUntagged: false, graceMs: 1000, ...extra });

test('s3 gc: a fresh orphan is kept (times within the slack are recent); an old one goes, referenced blobs stay', { skip }, async (t) => {
  const reg = await startS3Registry(t);
  const driver = s3DriverOf(t, reg);
  const image = await pushImage(reg.url, 'gc/s3', 'v1', ['layer one', 'layer two']);
  const orphan = await pushBlob(reg.url, 'gc/s3', randomBytes(5000));

  const now = await garbageCollect(driver, gc());
  assert.deepEqual(now.blobsDeleted, [], 'nothing written a moment ago is deleted, whatever the clocks say');
  assert.equal(now.keptAsRecent, 1);

  // Later than grace + slack: the orphan is garbage, the image is not.
  const later = Date.now() + driver.timestampSlackMs + 60_000;
  const dry = await garbageCollect(driver, gc({ dryRun: true, now: later, settleMs: 0 }));
  assert.deepEqual(dry.blobsDeleted, [orphan]);
  const report = await garbageCollect(driver, gc({ now: later, settleMs: LINK_TTL_MS + 100 }));
  assert.deepEqual(report.blobsDeleted, [orphan]);
  assert.equal(report.bytesFreed, 5000);
  assert.equal(await driver.stat(paths.blobData(parseDigest(orphan))), undefined);
  await sleep(LINK_TTL_MS + 100);
  assert.equal((await send(reg.url, `/v2/gc/s3/blobs/${orphan}`, { method: 'HEAD' })).status, 404);
  expectStatus(await send(reg.url, '/v2/gc/s3/manifests/v1'), 200);
  for (const layer of image.manifest['layers'] as { digest: string }[]) expectStatus(await send(reg.url, `/v2/gc/s3/blobs/${layer.digest}`, { method: 'HEAD' }), 200);
});
