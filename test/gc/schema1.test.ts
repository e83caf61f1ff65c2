import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { parseDigest } from '../../src/digest/digest.ts';
import { garbageCollect } from '../../src/gc/garbage-collect.ts';
import { createDriver } from '../../src/storage/factory.ts';
import { paths } from '../../src/storage/paths.ts';
import { send, sha256 } from '../helpers/oci-client.ts';
import { pushBlobFollowing } from '../helpers/peer-client.ts';
import { peersSkipReason, startDockerRegistry } from '../helpers/peers.ts';

const skip = await peersSkipReason();

/**
 * A signed schema 1 manifest as docker-registry stores it: the JWS "pretty" form, the payload
 * indented by three spaces with `signatures` spliced in before the closing brace; its digest is
 * that of the payload without signatures (distribution manifest/schema1, SignedManifest.Canonical).
 */
function signedSchema1(name: string, tag: string, layers: readonly string[]): { digest: string; bytes: Buffer } {
  const payload = JSON.stringify(
    {
      schemaVersion: 1,
      name,
      tag,
      architecture: 'amd64',
      fsLayers: layers.map((blobSum) => ({ blobSum })),
      history: layers.map((_, i) => ({ v1Compatibility: JSON.stringify({ id: `${i}`.repeat(64), created: '2016-01-01T00:00:00Z' }) })),
    },
    null,
    3,
  );
  const signatures = { header: { jwk: { crv: 'P-256', kid: 'ABCD:EFGH', kty: 'EC', x: 'x', y: 'y' }, alg: 'ES256' }, signature: 'c2ln', protected: 'cHJvdGVjdGVk' };
  const signed = `${payload.slice(0, payload.lastIndexOf('\n}'))},\n   "signatures": [\n      ${JSON.stringify(signatures)}\n   ]\n}`;
  return { digest: sha256(payload), bytes: Buffer.from(signed) };
}

/** Lays a manifest out as distribution's manifest store does: blob data, revision link, tag links. */
async function layOutManifest(root: string, repo: string, tag: string, digest: string, bytes: Buffer): Promise<void> {
  const d = parseDigest(digest);
  const files: [string, string | Buffer][] = [
    [paths.blobData(d), bytes],
    [paths.revisionLink(repo, d), digest],
    [paths.tagIndexLink(repo, tag, d), digest],
    [paths.tagCurrentLink(repo, tag), digest],
  ];
  for (const [path, content] of files) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
}

test('garbage-collect: a schema 1 manifest in a root docker-registry wrote marks its fsLayers (issue 9)', { skip }, async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'quayside-gc-schema1-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const peer = await startDockerRegistry(t, { root });
  // Blobs and their _layers links written by distribution itself.
  const layers = [await pushBlobFollowing(peer.url, 'legacy/app', randomBytes(2000)), await pushBlobFollowing(peer.url, 'legacy/app', randomBytes(3000))];
  const orphan = await pushBlobFollowing(peer.url, 'legacy/app', randomBytes(1000));
  // docker-registry 2.8 refuses schema 1 pushes by default; an older one wrote them like this.
  const manifest = signedSchema1('legacy/app', 'v1', layers);
  await layOutManifest(root, 'legacy/app', 'v1', manifest.digest, manifest.bytes);

  const driver = createDriver({ filesystem: { rootdirectory: root } });
  const later = Date.now() + 3_600_000;
  const dry = await garbageCollect(driver, { dryRun: true, deleteUntagged: true, graceMs: 60_000, now: later });
  assert.deepEqual(dry.blobsDeleted, [orphan]);
  assert.deepEqual(dry.manifestsDeleted, []);
  const report = await garbageCollect(driver, { dryRun: false, deleteUntagged: true, graceMs: 60_000, now: later, settleMs: 0 });
  assert.deepEqual(report.blobsDeleted, [orphan]);
  assert.equal(report.manifestsMarked, 1);

  // docker-registry still serves every layer of the image; the orphan is gone.
  for (const layer of layers) assert.equal((await send(peer.url, `/v2/legacy/app/blobs/${layer}`, { method: 'HEAD' })).status, 200, layer);
  assert.equal((await send(peer.url, `/v2/legacy/app/blobs/${orphan}`, { method: 'HEAD' })).status, 404);
  assert.ok((await stat(join(root, paths.blobData(parseDigest(manifest.digest))))).size > 0);
});
