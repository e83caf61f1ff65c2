import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { bcrypt } from 'hash-wasm';
import { EVENTS_MEDIA_TYPE, type Event } from '../../src/notifications/event.ts';
import { expectStatus } from '../helpers/assertions.ts';
import { OCI_MANIFEST, pushBlob, pushImage, send, sha256 } from '../helpers/oci-client.ts';
import { Receiver } from './receiver.ts';
import { endpoint, startNotifyingRegistry } from './registry.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** `action repository digest tag` of each event: what the order assertions compare. */
function summary(events: readonly Event[]): string[] {
  return events.map((e) => [e.action, e.target.repository, e.target.digest ?? '-', e.target.tag ?? '-'].join(' '));
}

test('notifications: pushes, pulls (GET and HEAD), a mount and deletes produce distribution\'s events, in order, one per POST', async (t) => {
  const receiver = await Receiver.start(t);
  const { url } = await startNotifyingRegistry(t, { endpoints: [endpoint('ci', receiver.url, { headers: { Authorization: ['Bearer hook-secret'], 'X-Two': ['a', 'b'] } })] });
  const host = new URL(url).host;

  const image = await pushImage(url, 'team/app', 'v1', ['layer-a']);
  const config = (image.manifest['config'] as { digest: string; size: number });
  const layer = (image.manifest['layers'] as { digest: string; size: number }[])[0]!;
  expectStatus(await send(url, '/v2/team/app/manifests/v1', { headers: { 'user-agent': 'docker/27.0 test' } }), 200);
  expectStatus(await send(url, `/v2/team/app/manifests/${image.digest}`, { method: 'HEAD' }), 200);
  expectStatus(await send(url, `/v2/team/app/blobs/${layer.digest}`), 200);
  expectStatus(await send(url, `/v2/other/blobs/uploads/?mount=${layer.digest}&from=team/app`, { method: 'POST' }), 201);
  // Failures emit nothing: an unknown manifest, an unknown blob, a refused delete.
  expectStatus(await send(url, '/v2/team/app/manifests/nope'), 404);
  expectStatus(await send(url, `/v2/team/app/blobs/${sha256('absent')}`), 404);
  expectStatus(await send(url, `/v2/other/blobs/${layer.digest}`, { method: 'DELETE' }), 202);
  expectStatus(await send(url, '/v2/team/app/manifests/v1', { method: 'DELETE' }), 202);
  expectStatus(await send(url, `/v2/team/app/manifests/${image.digest}`, { method: 'DELETE' }), 202);

  const events = await receiver.waitForEvents(10);
  assert.deepEqual(summary(events), [
    `push team/app ${config.digest} -`,
    `push team/app ${layer.digest} -`,
    `push team/app ${image.digest} v1`,
    `pull team/app ${image.digest} v1`,
    `pull team/app ${image.digest} -`,
    `pull team/app ${layer.digest} -`,
    `mount other ${layer.digest} -`,
    `delete other ${layer.digest} -`,
    'delete team/app - v1',
    `delete team/app ${image.digest} -`,
  ]);
  // distribution's httpSink: one event per POST, its media type, the endpoint's headers.
  assert.equal(receiver.deliveries.length, 10);
  for (const delivery of receiver.deliveries) {
    assert.equal(delivery.headers['content-type'], EVENTS_MEDIA_TYPE);
    assert.equal(delivery.headers['authorization'], 'Bearer hook-secret');
    assert.equal(delivery.headers['x-two'], 'a, b');
    assert.equal(delivery.envelope.events.length, 1);
  }
  assert.equal(new Set(events.map((e) => e.id)).size, events.length, 'event ids are unique');
  for (const event of events) {
    assert.match(event.id, UUID);
    assert.ok(Math.abs(Date.parse(event.timestamp) - Date.now()) < 10 * 60_000, event.timestamp);
    assert.equal(event.source.instanceID, 'test-instance');
    assert.match(event.source.addr ?? '', /:0$/);
    assert.match(event.request.id, UUID);
    assert.equal(event.request.host, host);
    assert.match(event.request.addr ?? '', /^127\.0\.0\.1:\d+$/);
    assert.deepEqual(event.actor, {}, 'no auth: no actor name');
  }
  const [configPush, , manifestPush, manifestPull, manifestHead, blobPull, mount, blobDelete, tagDelete, manifestDelete] = events as [Event, Event, Event, Event, Event, Event, Event, Event, Event, Event];
  assert.deepEqual(configPush.target, { mediaType: 'application/octet-stream', digest: config.digest, size: config.size, length: config.size, repository: 'team/app', url: `http://${host}/v2/team/app/blobs/${config.digest}` });
  assert.equal(configPush.request.method, 'PUT');
  assert.deepEqual(manifestPush.target, { mediaType: OCI_MANIFEST, digest: image.digest, size: image.bytes.length, length: image.bytes.length, repository: 'team/app', url: `http://${host}/v2/team/app/manifests/${image.digest}`, tag: 'v1' });
  assert.equal(manifestPull.request.method, 'GET');
  assert.equal(manifestPull.request.useragent, 'docker/27.0 test');
  assert.equal(manifestPull.target.mediaType, OCI_MANIFEST);
  assert.equal(manifestHead.request.method, 'HEAD');
  assert.equal(blobPull.target.size, layer.size);
  assert.deepEqual(mount.target, { mediaType: 'application/octet-stream', digest: layer.digest, size: layer.size, length: layer.size, repository: 'other', fromRepository: 'team/app', url: `http://${host}/v2/other/blobs/${layer.digest}` });
  assert.equal(mount.request.method, 'POST');
  assert.deepEqual(blobDelete.target, { digest: layer.digest, repository: 'other' });
  assert.deepEqual(tagDelete.target, { repository: 'team/app', tag: 'v1' });
  assert.deepEqual(manifestDelete.target, { digest: image.digest, repository: 'team/app' });
});

test('notifications: a monolithic POST ?digest= is a push; a PUT with ?tag= pushes once per tag; references with events.includereferences', async (t) => {
  const receiver = await Receiver.start(t);
  const { url } = await startNotifyingRegistry(t, { endpoints: [endpoint('ci', receiver.url)], events: { includereferences: true } });
  const bytes = Buffer.from('monolithic');
  expectStatus(await send(url, `/v2/mono/blobs/uploads/?digest=${sha256(bytes)}`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'content-length': bytes.length }, body: bytes }), 201);
  const configDigest = await pushBlob(url, 'mono', '{}');
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: 2 }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(bytes), size: bytes.length }] }));
  const digest = sha256(manifest);
  expectStatus(await send(url, `/v2/mono/manifests/${digest}?tag=a&tag=b`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: manifest }), 201);
  const events = await receiver.waitForEvents(4);
  assert.deepEqual(summary(events), [`push mono ${sha256(bytes)} -`, `push mono ${configDigest} -`, `push mono ${digest} a`, `push mono ${digest} b`]);
  assert.equal(events[0]?.request.method, 'POST');
  assert.deepEqual(events[2]?.target.references, [
    { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: 2 },
    { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(bytes), size: bytes.length },
  ]);
  assert.equal(events[0]?.target.references, undefined, 'blob events carry no references');
});

test('notifications: actor.name is the authenticated user (htpasswd)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'quayside-notify-htpasswd-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const hash = await bcrypt({ password: 's3cret', salt: randomBytes(16), costFactor: 4 });
  await writeFile(join(dir, 'htpasswd'), `alice:${hash.replace(/^\$2a\$/, '$2y$')}\n`);
  const receiver = await Receiver.start(t);
  const { url } = await startNotifyingRegistry(t, { endpoints: [endpoint('ci', receiver.url)], auth: { htpasswd: { realm: 'r', path: join(dir, 'htpasswd') } } });
  const authorization = `Basic ${Buffer.from('alice:s3cret').toString('base64')}`;
  expectStatus(await send(url, '/v2/', { headers: { authorization } }), 200);
  const location = (await send(url, '/v2/private/blobs/uploads/', { method: 'POST', headers: { authorization } })).headers.get('location') ?? '';
  const body = Buffer.from('secret layer');
  expectStatus(await send(url, `${location}?digest=${sha256(body)}`, { method: 'PUT', headers: { authorization, 'content-type': 'application/octet-stream', 'content-length': body.length }, body }), 201);
  const [event] = await receiver.waitForEvents(1);
  assert.deepEqual(event?.actor, { name: 'alice' });
  assert.equal(event?.action, 'push');
});
