import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Event } from '../../src/notifications/event.ts';
import { pushBlob, pushImage, send } from '../helpers/oci-client.ts';
import { expectStatus } from '../helpers/assertions.ts';
import { Receiver, waitFor } from './receiver.ts';
import { endpoint, startNotifyingRegistry } from './registry.ts';

/** Delivery is at-least-once: what a receiver sees, its duplicates (same id) removed, first kept. */
function deduplicated(events: readonly Event[]): Event[] {
  const seen = new Set<string>();
  return events.filter((e) => !seen.has(e.id) && seen.add(e.id) !== undefined);
}

function digests(events: readonly Event[]): string[] {
  return events.map((e) => e.target.digest ?? '-');
}

test('notifications: a receiver stopped during pushes and started again gets every event, in order; the pushes never wait for it', async (t) => {
  const receiver = await Receiver.start(t);
  const { url, registry } = await startNotifyingRegistry(t, { endpoints: [endpoint('ci', receiver.url)] });
  const first = await pushBlob(url, 'r', 'before the outage');
  await receiver.waitForEvents(1);

  await receiver.stop();
  const during: string[] = [];
  for (let i = 0; i < 20; i++) during.push(await pushBlob(url, 'r', `during the outage ${i}`));
  const stats = registry.notifications?.endpoints[0];
  assert.ok(stats, 'endpoint stats');
  await waitFor(() => stats.failures > 0, 30_000, () => 'no failed POST counted while the receiver was down');
  assert.ok(stats.pending > 0 && stats.pending <= 20, `pending ${stats.pending}`);

  await receiver.listen();
  const after = await pushBlob(url, 'r', 'after the outage');
  await waitFor(() => deduplicated(receiver.events).length >= 22, 30_000, () => `got ${deduplicated(receiver.events).length} of 22 events`);
  assert.deepEqual(digests(deduplicated(receiver.events)), [first, ...during, after]);
  await waitFor(() => stats.pending === 0, 30_000, () => `pending ${stats.pending}`);
  assert.equal(registry.notifications?.queued, 0);
});

test('notifications: an endpoint that hangs is cut by its timeout and retried; requests are answered meanwhile', async (t) => {
  const receiver = await Receiver.start(t);
  receiver.hang = true;
  const { url, registry } = await startNotifyingRegistry(t, { endpoints: [endpoint('slow', receiver.url, { timeout: '200ms', threshold: 2, backoff: '50ms' })] });
  const pushed = [await pushBlob(url, 'h', 'one'), await pushBlob(url, 'h', 'two')];
  const stats = registry.notifications?.endpoints[0];
  await waitFor(() => (stats?.failures ?? 0) >= 2, 30_000, () => `failures ${stats?.failures}`);
  assert.equal(receiver.deliveries.length, 0);
  receiver.hang = false;
  await waitFor(() => deduplicated(receiver.events).length >= 2, 30_000, () => `got ${receiver.events.length} events`);
  assert.deepEqual(digests(deduplicated(receiver.events)), pushed);
});

test('notifications: an endpoint answering 500 is retried (threshold, then backoff) until it accepts; failures are counted', async (t) => {
  const receiver = await Receiver.start(t);
  receiver.status = 500;
  const { url, registry } = await startNotifyingRegistry(t, { endpoints: [endpoint('flaky', receiver.url, { threshold: 2, backoff: '50ms' })] });
  const digest = await pushBlob(url, 'f', 'retried');
  const stats = registry.notifications?.endpoints[0];
  await waitFor(() => (stats?.failures ?? 0) >= 4, 30_000, () => `failures ${stats?.failures}, attempts ${receiver.attempts}`);
  assert.equal(stats?.successes, 0);
  receiver.status = 200;
  const [event] = await receiver.waitForEvents(1);
  assert.equal(event?.target.digest, digest);
  // The receiver records before it answers: the registry counts the success when the answer arrives.
  await waitFor(() => stats?.successes === 1, 30_000, () => `successes ${stats?.successes}`);
});

test('notifications: quayside.notifications.queuesize bounds the queue; when full, requests still succeed and new events are dropped and counted', async (t) => {
  const receiver = await Receiver.start(t);
  await receiver.stop();
  const { url, registry } = await startNotifyingRegistry(t, { endpoints: [endpoint('ci', receiver.url)], queue: { queuesize: 3 } });
  const pushed: string[] = [];
  for (let i = 0; i < 5; i++) pushed.push(await pushBlob(url, 'q', `bounded ${i}`));
  assert.equal(registry.notifications?.queued, 3);
  assert.equal(registry.notifications?.dropped, 2);
  await receiver.listen();
  await waitFor(() => deduplicated(receiver.events).length >= 3, 30_000, () => `got ${receiver.events.length}`);
  await waitFor(() => registry.notifications?.queued === 0, 30_000, () => `queued ${registry.notifications?.queued}`);
  // Room again: the next event is taken and delivered after the first three; the two dropped never come.
  const next = await pushBlob(url, 'q', 'after the drain');
  await waitFor(() => deduplicated(receiver.events).length >= 4, 30_000, () => `got ${receiver.events.length}`);
  assert.deepEqual(digests(deduplicated(receiver.events)), [...pushed.slice(0, 3), next]);
  assert.equal(registry.notifications?.dropped, 2);
});

test('notifications: events left undelivered at a graceful close are delivered by the next start on the same root', async (t) => {
  const receiver = await Receiver.start(t);
  await receiver.stop();
  const first = await startNotifyingRegistry(t, { endpoints: [endpoint('ci', receiver.url)] });
  const image = await pushImage(first.url, 'restart', 'v1');
  await first.registry.close();
  const segments = await readdir(join(first.root, 'docker/registry/v2/notifications/test-instance/segments'));
  assert.ok(segments.length > 0, 'the queue is on disk');

  await receiver.listen();
  await startNotifyingRegistry(t, { endpoints: [endpoint('ci', receiver.url)], root: first.root });
  await waitFor(() => deduplicated(receiver.events).length >= 3, 30_000, () => `got ${receiver.events.length}`);
  assert.equal(deduplicated(receiver.events)[2]?.target.digest, image.digest);
  // Once delivered, the segments go (after the cursor is written).
  const dir = join(first.root, 'docker/registry/v2/notifications/test-instance/segments');
  for (const deadline = Date.now() + 30_000; (await readdir(dir)).length > 0; ) {
    assert.ok(Date.now() < deadline, `segments left: ${(await readdir(dir)).join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
});

test('notifications: ignore rules (ignore.actions, ignore.mediatypes, ignoredmediatypes) per endpoint; a disabled endpoint gets nothing', async (t) => {
  const [noPulls, noManifests, disabled] = await Promise.all([Receiver.start(t), Receiver.start(t), Receiver.start(t)]);
  const { url, registry } = await startNotifyingRegistry(t, {
    endpoints: [
      endpoint('no-pulls', noPulls.url, { ignore: { actions: ['pull'] } }),
      endpoint('no-manifests', noManifests.url, { ignoredmediatypes: ['application/vnd.oci.image.manifest.v1+json'], ignore: { mediatypes: ['application/vnd.docker.distribution.manifest.v2+json'] } }),
      endpoint('off', disabled.url, { disabled: true }),
    ],
  });
  assert.deepEqual(registry.notifications?.endpoints.map((e) => e.name), ['no-pulls', 'no-manifests']);
  const image = await pushImage(url, 'ign', 'v1');
  expectStatus(await send(url, '/v2/ign/manifests/v1'), 200);
  const blobs = (image.manifest['layers'] as { digest: string }[]).map((l) => l.digest);
  const configDigest = (image.manifest['config'] as { digest: string }).digest;
  expectStatus(await send(url, `/v2/ign/blobs/${configDigest}`), 200);
  await noPulls.waitForEvents(3);
  await noManifests.waitForEvents(3);
  await waitFor(() => registry.notifications?.endpoints.every((e) => e.pending === 0) === true, 30_000, () => 'undelivered events');
  assert.deepEqual(deduplicated(noPulls.events).map((e) => `${e.action} ${e.target.digest}`), [`push ${configDigest}`, ...blobs.map((d) => `push ${d}`), `push ${image.digest}`]);
  assert.deepEqual(deduplicated(noManifests.events).map((e) => `${e.action} ${e.target.digest}`), [`push ${configDigest}`, ...blobs.map((d) => `push ${d}`), `pull ${configDigest}`]);
  assert.equal(disabled.attempts, 0);
});

test('notifications: an event every endpoint ignores is not queued at all', async (t) => {
  const receiver = await Receiver.start(t);
  const { url, registry } = await startNotifyingRegistry(t, { endpoints: [endpoint('no-pulls', receiver.url, { ignore: { actions: ['pull', 'push'] } })] });
  const digest = await pushBlob(url, 'x', 'ignored');
  expectStatus(await send(url, `/v2/x/blobs/${digest}`), 200);
  assert.equal(registry.notifications?.queued, 0);
  assert.equal(registry.notifications?.endpoints[0]?.pending, 0);
});

test('notifications: no enabled endpoint → no notifications service, nothing written under the root', async (t) => {
  const receiver = await Receiver.start(t);
  const { url, root, registry } = await startNotifyingRegistry(t, { endpoints: [endpoint('off', receiver.url, { disabled: true })] });
  assert.equal(registry.notifications, undefined);
  await pushBlob(url, 'off', 'nothing to tell');
  assert.deepEqual((await readdir(join(root, 'docker/registry/v2'))).sort(), ['blobs', 'repositories']);
  assert.equal(receiver.attempts, 0);
});
