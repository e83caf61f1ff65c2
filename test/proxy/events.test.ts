import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { expectError, expectStatus } from '../helpers/assertions.ts';
import { send, sha256 } from '../helpers/oci-client.ts';
import { peersSkipReason } from '../helpers/peers.ts';
import { Receiver } from '../notifications/receiver.ts';
import { cached, eventually, get, pushRandomImage, startNotifyingProxy, startUpstream } from './upstreams.ts';

/**
 * Pull events for proxied repositories (distribution notifies pulls through its proxy too): cold
 * (from the fetch in flight, or a HEAD answered from upstream) and warm (from storage), blobs and
 * manifests alike, as a real webhook receiver gets them.
 */
const skip = await peersSkipReason();

test('proxy events: cold and warm pulls of proxied blobs and manifests (GET and HEAD) each send a pull event; a pull that fails sends none', { skip }, async (t) => {
  const upstream = await startUpstream(t);
  // 300 KB: over the small-blob limit, so the cold GET streams from the fetch in flight.
  const image = await pushRandomImage(upstream.url, 'team/app', 'v1', 300_000);
  const receiver = await Receiver.start(t);
  const cache = await startNotifyingProxy(t, upstream.url, receiver.url);
  const layer = image.layers[0];
  assert.ok(layer);
  const blob = (digest: string): string => `/v2/team/app/blobs/${digest}`;

  // Cold: a HEAD answered by the upstream, the manifest by tag, the config and the layer fetched.
  expectStatus(await send(cache.url, blob(layer.digest), { method: 'HEAD' }), 200);
  expectStatus(await get(cache.url, '/v2/team/app/manifests/v1'), 200);
  assert.equal(sha256((await get(cache.url, blob(image.config.digest))).body), image.config.digest);
  assert.equal(sha256((await get(cache.url, blob(layer.digest))).body), layer.digest);
  // Failures tell nothing.
  expectError(await get(cache.url, blob(sha256('not upstream'))), 404, 'BLOB_UNKNOWN');
  expectError(await get(cache.url, '/v2/team/app/manifests/no-such-tag'), 404, 'MANIFEST_UNKNOWN');
  await cached(cache.root, [image.config.digest, layer.digest]);
  const link = join(cache.root, 'docker/registry/v2/repositories/team/app/_layers/sha256', layer.digest.slice('sha256:'.length), 'link');
  await eventually('the layer linked', () => stat(link).then(() => true, () => false));
  // Warm: from storage.
  expectStatus(await get(cache.url, '/v2/team/app/manifests/v1'), 200);
  expectStatus(await get(cache.url, `/v2/team/app/manifests/${image.manifest.digest}`), 200);
  assert.equal(sha256((await get(cache.url, blob(layer.digest))).body), layer.digest);
  expectStatus(await send(cache.url, blob(layer.digest), { method: 'HEAD' }), 200);

  const events = await receiver.waitForEvents(8);
  assert.deepEqual(
    events.map((e) => `${e.action} ${e.target.repository} ${e.target.digest ?? ''} ${e.target.tag ?? '-'}`),
    [
      `pull team/app ${layer.digest} -`,
      `pull team/app ${image.manifest.digest} v1`,
      `pull team/app ${image.config.digest} -`,
      `pull team/app ${layer.digest} -`,
      `pull team/app ${image.manifest.digest} v1`,
      `pull team/app ${image.manifest.digest} -`,
      `pull team/app ${layer.digest} -`,
      `pull team/app ${layer.digest} -`,
    ],
  );
  // The cold blob pull carries the blob's size, as a local one does.
  assert.equal(events[3]?.target.size, layer.bytes.length);
  assert.equal(events[1]?.target.mediaType, 'application/vnd.oci.image.manifest.v1+json');
});
