import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Event } from '../../src/notifications/event.ts';
import { S3Driver } from '../../src/storage/s3/driver.ts';
import { pushImage } from '../helpers/oci-client.ts';
import { freshRoot, s3TestParams, s3Unavailable } from '../helpers/s3.ts';
import { Receiver, waitFor } from './receiver.ts';
import { endpoint, startNotifyingRegistry } from './registry.ts';

function deduplicated(events: readonly Event[]): Event[] {
  const seen = new Set<string>();
  return events.filter((e) => !seen.has(e.id) && seen.add(e.id) !== undefined);
}

const SEGMENTS = (instance: string) => `/docker/registry/v2/notifications/${instance}/segments`;

test('notifications on S3: the queue is in the bucket, per instance; a restart with the same instance id delivers what another replica left alone', { skip: s3Unavailable }, async (t) => {
  const s3 = s3TestParams(freshRoot());
  const driver = new S3Driver(s3);
  t.after(async () => {
    await driver.delete('/');
    driver.close();
  });
  const receiver = await Receiver.start(t);
  await receiver.stop();
  const replicaA = await startNotifyingRegistry(t, { endpoints: [endpoint('ci', receiver.url)], queue: { instanceid: 'replica-a' }, driverParams: { s3 } });
  const image = await pushImage(replicaA.url, 's3/app', 'v1');
  await replicaA.registry.close();
  assert.ok((await driver.list(SEGMENTS('replica-a'))).length > 0, 'replica-a wrote its queue to the bucket');

  // Another replica on the same bucket, receiver up: it delivers only its own queue (empty).
  await receiver.listen();
  const replicaB = await startNotifyingRegistry(t, { endpoints: [endpoint('ci', receiver.url)], queue: { instanceid: 'replica-b' }, driverParams: { s3 } });
  assert.equal(replicaB.registry.notifications?.queued, 0);
  assert.equal(receiver.events.length, 0);

  // replica-a back (same instance id): its three events go out, in order.
  await startNotifyingRegistry(t, { endpoints: [endpoint('ci', receiver.url)], queue: { instanceid: 'replica-a' }, driverParams: { s3 } });
  await waitFor(() => deduplicated(receiver.events).length >= 3, 30_000, () => `got ${receiver.events.length}`);
  const events = deduplicated(receiver.events);
  assert.deepEqual(events.map((e) => e.source.instanceID), ['replica-a', 'replica-a', 'replica-a']);
  assert.equal(events[2]?.target.digest, image.digest);
  for (const deadline = Date.now() + 30_000; (await driver.list(SEGMENTS('replica-a'))).length > 0; ) {
    assert.ok(Date.now() < deadline, 'delivered segments are deleted from the bucket');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
});
