import { randomBytes } from 'node:crypto';
import type { S3Driver } from './driver.ts';

/**
 * Whether the store honours conditional PutObject, asked once at start-up. Uploads that any
 * replica may continue rest on it (upload-state.ts: every PATCH is acknowledged by a
 * compare-and-swap of the upload's state). A store that ignores the headers answers 200 to all
 * three writes below, and two replicas would then overwrite each other's acknowledged bytes
 * without either knowing (seen elsewhere: a gateway that parses If-None-Match and drops it).
 *
 * Where the headers are honoured: AWS S3 since 2024 (If-None-Match in August, If-Match in
 * November); Ceph RGW long before, as its own extension (ceph/s3-tests' test_put_object_ifmatch_*;
 * RGW 16.2 pacific checked here, with the quirks in upload-state.ts); MinIO, R2, B2, GCS's XML API.
 *
 * The probe key lies outside distribution's `docker/registry/v2` tree, and is removed afterwards.
 */
export interface ConditionalWriteSupport {
  readonly ifNoneMatch: boolean;
  readonly ifMatch: boolean;
}

export async function probeConditionalWrites(driver: S3Driver): Promise<ConditionalWriteSupport> {
  const key = driver.layout.key(`/quayside/probe/conditional-${randomBytes(8).toString('hex')}`);
  try {
    const created = await driver.client.putObjectIf(key, Buffer.from('1'), { ifNoneMatch: '*' });
    if (created === 'precondition-failed') throw new Error(`s3 probe: ${key} exists before it was created`);
    const again = await driver.client.putObjectIf(key, Buffer.from('2'), { ifNoneMatch: '*' });
    const stale = await driver.client.putObjectIf(key, Buffer.from('3'), { ifMatch: 'not-the-etag-of-anything' });
    return { ifNoneMatch: again === 'precondition-failed', ifMatch: stale === 'precondition-failed' };
  } finally {
    await driver.client.deleteObject(key).catch(() => undefined);
  }
}
