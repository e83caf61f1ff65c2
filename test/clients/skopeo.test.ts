import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { expectHeader, expectStatus } from '../helpers/assertions.ts';
import { OCI_INDEX, OCI_MANIFEST, send } from '../helpers/oci-client.ts';
import { buildImage, buildIndex, layoutRoot, randomLayer, readLayoutBlob, writeLayout, type Blob, type Descriptor } from '../helpers/oci-image.ts';
import { peersSkipReason, skopeo, startDockerRegistry } from '../helpers/peers.ts';
import { startRegistry } from '../helpers/registry.ts';

/*
 * skopeo (containers/image) against Quayside: push an OCI image layout, pull it back into a fresh
 * layout, and check that not one digest changed. containers/image pushes each blob as
 *   HEAD blob → POST uploads/ → one streamed PATCH (no Content-Range) → PUT ?digest=
 * so a layer above the pipeline's 4 MiB batch goes through several worker tasks.
 */

const skip = await peersSkipReason();

async function tempDir(t: TestContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function hostOf(url: string): string {
  return new URL(url).host;
}

/*
 * --preserve-digests makes skopeo fail rather than rewrite a manifest; --retry-times 0 so a
 * failure shows at once; --insecure-policy so no /etc/containers/policy.json is needed;
 * --*-tls-verify=false lets containers/image fall back to plain http for 127.0.0.1.
 */
async function push(layout: string, tag: string, registry: string, all = false): Promise<void> {
  await skopeo(['--insecure-policy', 'copy', '--quiet', '--retry-times', '0', '--preserve-digests', ...(all ? ['--all'] : []), '--dest-tls-verify=false', `oci:${layout}:${tag}`, `docker://${registry}:${tag}`]);
}

async function pull(registry: string, tag: string, layout: string, all = false): Promise<void> {
  await skopeo(['--insecure-policy', 'copy', '--quiet', '--retry-times', '0', '--preserve-digests', ...(all ? ['--all'] : []), '--src-tls-verify=false', `docker://${registry}:${tag}`, `oci:${layout}:${tag}`]);
}

/** Every blob is in the layout, byte for byte. */
async function expectLayoutHolds(layout: string, blobs: readonly Blob[]): Promise<void> {
  for (const b of blobs) {
    const bytes = await readLayoutBlob(layout, b.digest);
    assert.ok(bytes.equals(b.bytes), `${b.digest} differs after the round trip (${bytes.length} vs ${b.bytes.length} bytes)`);
  }
}

/** Every blob answers HEAD in `repo` with its size and digest. */
async function expectBlobsServed(url: string, repo: string, blobs: readonly Blob[]): Promise<void> {
  for (const b of blobs) {
    const reply = await send(url, `/v2/${repo}/blobs/${b.digest}`, { method: 'HEAD' });
    expectStatus(reply, 200);
    expectHeader(reply, 'docker-content-digest', b.digest);
    expectHeader(reply, 'content-length', String(b.bytes.length));
  }
}

async function expectManifestServed(url: string, repo: string, reference: string, manifest: Blob, mediaType: string): Promise<void> {
  const reply = await send(url, `/v2/${repo}/manifests/${reference}`, { headers: { accept: `${OCI_MANIFEST}, ${OCI_INDEX}` } });
  expectStatus(reply, 200);
  expectHeader(reply, 'docker-content-digest', manifest.digest);
  expectHeader(reply, 'content-type', mediaType);
  assert.ok(reply.body.equals(manifest.bytes), `manifest ${reference} bytes differ`);
}

async function expectTags(url: string, repo: string, tags: string[]): Promise<void> {
  const reply = await send(url, `/v2/${repo}/tags/list`);
  expectStatus(reply, 200);
  assert.deepEqual(JSON.parse(reply.body.toString()), { name: repo, tags });
}

test('skopeo copy: a 3-layer OCI image (one layer over 5 MiB) round-trips through Quayside with every digest kept', { skip, timeout: 60_000 }, async (t) => {
  const { url } = await startRegistry(t);
  const repo = 'clients/skopeo/multi-layer';
  const image = buildImage([randomLayer(5 * 1024 * 1024 + 12345), randomLayer(200 * 1024), randomLayer(777)]);
  const src = await tempDir(t, 'quayside-skopeo-src-');
  await writeLayout(src, image.blobs, { mediaType: OCI_MANIFEST, digest: image.manifest.digest, size: image.manifest.bytes.length }, 'v1');
  assert.ok((image.layers[0]?.bytes.length ?? 0) >= 5 * 1024 * 1024, 'the big layer must stay over 5 MiB once gzip’d');

  await push(src, 'v1', `${hostOf(url)}/${repo}`);

  await expectTags(url, repo, ['v1']);
  await expectManifestServed(url, repo, 'v1', image.manifest, OCI_MANIFEST);
  await expectManifestServed(url, repo, image.manifest.digest, image.manifest, OCI_MANIFEST);
  await expectBlobsServed(url, repo, [image.config, ...image.layers]);

  const dst = await tempDir(t, 'quayside-skopeo-dst-');
  await pull(`${hostOf(url)}/${repo}`, 'v1', dst);
  const root: Descriptor = await layoutRoot(dst, 'v1');
  assert.equal(root.digest, image.manifest.digest);
  await expectLayoutHolds(dst, image.blobs);
});

test('skopeo copy --all: a two-platform OCI index round-trips through Quayside with every digest kept', { skip, timeout: 60_000 }, async (t) => {
  const { url } = await startRegistry(t);
  const repo = 'clients/skopeo/multi-arch';
  const shared = randomLayer(64 * 1024, 'shared.bin');
  const amd64 = { architecture: 'amd64', os: 'linux' };
  const arm64 = { architecture: 'arm64', os: 'linux' };
  const built = buildIndex([
    { image: buildImage([shared, randomLayer(300 * 1024)], amd64), platform: amd64 },
    { image: buildImage([shared, randomLayer(100 * 1024)], arm64), platform: arm64 },
  ]);
  const src = await tempDir(t, 'quayside-skopeo-src-');
  await writeLayout(src, built.blobs, { mediaType: OCI_INDEX, digest: built.index.digest, size: built.index.bytes.length }, 'multi');

  await push(src, 'multi', `${hostOf(url)}/${repo}`, true);

  await expectTags(url, repo, ['multi']);
  await expectManifestServed(url, repo, 'multi', built.index, OCI_INDEX);
  for (const image of built.images) {
    await expectManifestServed(url, repo, image.manifest.digest, image.manifest, OCI_MANIFEST);
    await expectBlobsServed(url, repo, [image.config, ...image.layers]);
  }

  const dst = await tempDir(t, 'quayside-skopeo-dst-');
  await pull(`${hostOf(url)}/${repo}`, 'multi', dst, true);
  assert.equal((await layoutRoot(dst, 'multi')).digest, built.index.digest);
  await expectLayoutHolds(dst, built.blobs);
});

test('skopeo copy --all through the pull-through cache: a two-platform index pushed to docker-registry is pulled through Quayside (cold), then again with the upstream gone (warm), every digest kept', { skip, timeout: 90_000 }, async (t) => {
  const upstream = await startDockerRegistry(t, { root: await tempDir(t, 'quayside-skopeo-upstream-') });
  const { url } = await startRegistry(t, { config: { proxy: { remoteurl: upstream.url } } });
  const repo = 'clients/skopeo/proxied';
  const amd64 = { architecture: 'amd64', os: 'linux' };
  const arm64 = { architecture: 'arm64', os: 'linux' };
  const built = buildIndex([
    { image: buildImage([randomLayer(5 * 1024 * 1024 + 321), randomLayer(1000)], amd64), platform: amd64 },
    { image: buildImage([randomLayer(200 * 1024)], arm64), platform: arm64 },
  ]);
  const src = await tempDir(t, 'quayside-skopeo-src-');
  await writeLayout(src, built.blobs, { mediaType: OCI_INDEX, digest: built.index.digest, size: built.index.bytes.length }, 'multi');
  await push(src, 'multi', `${hostOf(upstream.url)}/${repo}`, true);

  // Cold: every manifest and blob comes from docker-registry through Quayside as skopeo asks for it.
  const cold = await tempDir(t, 'quayside-skopeo-cold-');
  await pull(`${hostOf(url)}/${repo}`, 'multi', cold, true);
  assert.equal((await layoutRoot(cold, 'multi')).digest, built.index.digest);
  await expectLayoutHolds(cold, built.blobs);

  // Warm, upstream gone: what the cold pull stored is served on its own.
  await upstream.stop();
  const warm = await tempDir(t, 'quayside-skopeo-warm-');
  await pull(`${hostOf(url)}/${repo}`, 'multi', warm, true);
  assert.equal((await layoutRoot(warm, 'multi')).digest, built.index.digest);
  await expectLayoutHolds(warm, built.blobs);
  for (const image of built.images) await expectBlobsServed(url, repo, [image.config, ...image.layers]);
});
