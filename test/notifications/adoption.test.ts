import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Event } from '../../src/notifications/event.ts';
import type { DriverParams } from '../../src/storage/driver.ts';
import { S3Driver } from '../../src/storage/s3/driver.ts';
import { pushImage } from '../helpers/oci-client.ts';
import { freshRoot, s3TestParams, s3Unavailable } from '../helpers/s3.ts';
import { Receiver, waitFor } from './receiver.ts';
import { endpoint, startNotifyingRegistry } from './registry.ts';

/**
 * quayside.notifications.adoptafter (notifications/adoption.ts): the queue of a replica whose
 * heartbeat stopped is delivered by another replica and removed; a live replica's queue is left
 * to it. Each replica's endpoint sends its own X-Replica header, so the receiver tells who delivered.
 */

function deduplicated(events: readonly Event[]): Event[] {
  const seen = new Set<string>();
  return events.filter((e) => !seen.has(e.id) && seen.add(e.id) !== undefined);
}

const replica = (name: string, url: string) => endpoint('ci', url, { headers: { 'X-Replica': [name] } });
const attemptsBy = (receiver: Receiver, name: string) => receiver.attemptHeaders.filter((h) => h['x-replica'] === name).length;

interface Storage {
  /** Options for startNotifyingRegistry: the same storage for both replicas. */
  readonly options: { root?: string; driverParams?: DriverParams };
  /** Whether any object of `instance`'s queue folder is left. */
  folderExists(instance: string): Promise<boolean>;
}

async function filesystemStorage(): Promise<Storage> {
  const root = await mkdtemp(join(tmpdir(), 'quayside-adopt-'));
  const folder = (instance: string) => join(root, 'docker/registry/v2/notifications', instance);
  return {
    options: { root },
    // Empty folders may stay (only named objects are deleted); a file left is what counts.
    folderExists: async (instance) => (await readdir(folder(instance), { recursive: true, withFileTypes: true }).catch(() => [])).some((entry) => entry.isFile()),
  };
}

for (const driver of ['filesystem', 's3'] as const) {
  test(`notifications on ${driver}: a live replica's queue is left to it; once its heartbeat stops, another replica delivers its events (in order, its instance id) and removes the queue`, { skip: driver === 's3' && s3Unavailable, timeout: 120_000 }, async (t) => {
    let storage: Storage;
    let cleanup: () => Promise<void>;
    if (driver === 'filesystem') {
      storage = await filesystemStorage();
      const root = storage.options.root ?? '';
      cleanup = () => rm(root, { recursive: true, force: true });
    } else {
      const s3 = s3TestParams(freshRoot());
      const store = new S3Driver(s3);
      storage = { options: { driverParams: { s3 } }, folderExists: async (instance) => (await store.list(`/docker/registry/v2/notifications/${instance}`)).length > 0 };
      cleanup = async () => {
        await store.delete('/');
        store.close();
      };
    }
    const receiver = await Receiver.start(t);
    receiver.status = 503;
    const queue = { adoptafter: '1s' };
    const a = await startNotifyingRegistry(t, { endpoints: [replica('a', receiver.url)], queue: { ...queue, instanceid: 'replica-a' }, ...storage.options });
    const image = await pushImage(a.url, 'adopt/app', 'v1');
    const b = await startNotifyingRegistry(t, { endpoints: [replica('b', receiver.url)], queue: { ...queue, instanceid: 'replica-b' }, ...storage.options });
    // The root goes last: after() hooks run in order, the registries' first.
    t.after(cleanup);

    // replica-a beats every ~333 ms: replica-b's scans (every 500 ms) leave its queue alone.
    const scans = () => b.registry.notifications?.adoption.scans ?? 0;
    await waitFor(() => scans() >= 4, 30_000, () => `replica-b scanned ${scans()} times`);
    assert.ok(attemptsBy(receiver, 'a') >= 1, 'replica-a is delivering (and failing) its own events');
    assert.equal(attemptsBy(receiver, 'b'), 0, 'replica-b did not touch the live replica-a queue');
    assert.equal(b.registry.notifications?.adoption.adopted, 0);

    // replica-a stops for good (its events undelivered, the receiver still refusing), then the receiver recovers.
    await a.registry.close();
    assert.ok(await storage.folderExists('replica-a'));
    assert.equal(receiver.events.length, 0, 'nothing was accepted while the receiver refused');
    receiver.status = 200;
    await waitFor(() => (b.registry.notifications?.adoption.adopted ?? 0) >= 1, 60_000, () => `adopted ${b.registry.notifications?.adoption.adopted}, events ${receiver.events.length}`);
    const events = deduplicated(receiver.deliveries.filter((d) => d.headers['x-replica'] === 'b').flatMap((d) => [...d.envelope.events]));
    assert.deepEqual(events.map((e) => [e.action, e.source.instanceID]), [['push', 'replica-a'], ['push', 'replica-a'], ['push', 'replica-a']]);
    assert.equal(events[2]?.target.digest, image.digest);
    assert.equal(events[2]?.target.tag, 'v1');
    assert.equal(await storage.folderExists('replica-a'), false, 'the adopted queue is removed once delivered');
    assert.equal(await storage.folderExists('replica-b'), true, 'replica-b keeps its own');
  });
}

test('notifications on port 0 with no instanceid: two live registries on one root get ids of their own (<hostname>-0-<random>), separate queue folders, and every event of each is delivered', async (t) => {
  const storage = await filesystemStorage();
  const root = storage.options.root ?? '';
  const receiver = await Receiver.start(t);
  const a = await startNotifyingRegistry(t, { endpoints: [replica('a', receiver.url)], queue: { instanceid: '' }, root });
  const b = await startNotifyingRegistry(t, { endpoints: [replica('b', receiver.url)], queue: { instanceid: '' }, root });
  t.after(() => rm(root, { recursive: true, force: true }));
  // Interleaved pushes: with one shared folder both queues would write the same segment names.
  for (let i = 0; i < 3; i++) {
    await pushImage(a.url, 'shared/a', `v${i}`, [`a-layer-${i}`]);
    await pushImage(b.url, 'shared/b', `v${i}`, [`b-layer-${i}`]);
  }
  // Each image: its config, its layer, its manifest.
  await receiver.waitForEvents(18);
  const events = deduplicated(receiver.events);
  const byRepository = (name: string) => events.filter((e) => e.target.repository === name);
  const idsOf = (name: string) => [...new Set(byRepository(name).map((e) => e.source.instanceID))];
  assert.equal(byRepository('shared/a').length, 9);
  assert.equal(byRepository('shared/b').length, 9);
  const [idA, ...moreA] = idsOf('shared/a');
  const [idB, ...moreB] = idsOf('shared/b');
  assert.deepEqual([moreA, moreB], [[], []], 'one instance id per registry');
  assert.match(idA ?? '', /-0-[0-9a-f]{8}$/);
  assert.match(idB ?? '', /-0-[0-9a-f]{8}$/);
  assert.notEqual(idA, idB);
  assert.ok(await storage.folderExists(idA ?? ''), `${idA}'s queue folder`);
  assert.ok(await storage.folderExists(idB ?? ''), `${idB}'s queue folder`);
  // Each registry delivered its own events through its own endpoint.
  assert.ok(receiver.deliveries.filter((d) => d.headers['x-replica'] === 'a').every((d) => d.envelope.events.every((e) => e.target.repository === 'shared/a')));
  assert.ok(receiver.deliveries.filter((d) => d.headers['x-replica'] === 'b').every((d) => d.envelope.events.every((e) => e.target.repository === 'shared/b')));
});
