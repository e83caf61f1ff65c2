import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { MEDIA_TYPE } from '../../src/manifests/media-types.ts';
import { parseManifest } from '../../src/manifests/validate.ts';
import { batched, newBench, rowsOf, runIfMain, type MicroSuite } from './harness.ts';

/** src/manifests/validate.ts: parseManifest on what a PUT manifest (end-7) carries. */
const digestOf = (label: string): string => `sha256:${createHash('sha256').update(label).digest('hex')}`;

/** A typical image: config plus 6 layers, with annotations, as `docker buildx` pushes OCI. */
const IMAGE = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.ociManifest,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf('config'), size: 7023 },
    layers: Array.from({ length: 6 }, (_, i) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(`layer-${i}`), size: 32654 + i * 1_000_003 })),
    annotations: { 'org.opencontainers.image.created': '2026-11-23T10:00:00Z', 'org.opencontainers.image.source': 'https://example.com/app' },
  }),
);

/** A multi-platform index: 4 platforms and their attestation manifests. */
const INDEX = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.ociIndex,
    manifests: ['amd64', 'arm64', 'arm', 'ppc64le'].flatMap((arch) => [
      { mediaType: MEDIA_TYPE.ociManifest, digest: digestOf(`image-${arch}`), size: 1234, platform: { architecture: arch, os: 'linux' } },
      {
        mediaType: MEDIA_TYPE.ociManifest,
        digest: digestOf(`attestation-${arch}`),
        size: 839,
        annotations: { 'vnd.docker.reference.digest': digestOf(`image-${arch}`), 'vnd.docker.reference.type': 'attestation-manifest' },
        platform: { architecture: 'unknown', os: 'unknown' },
      },
    ]),
  }),
);

export const suite: MicroSuite = {
  name: 'validate',
  source: 'src/manifests/validate.ts',
  async run(options) {
    const image = parseManifest(IMAGE, MEDIA_TYPE.ociManifest);
    assert.equal(image.kind, 'image');
    assert.equal(image.blobs.length, 7);
    assert.equal(image.blobs[0]?.digest.value, digestOf('config'));
    assert.equal(image.artifactType, 'application/vnd.oci.image.config.v1+json');
    const index = parseManifest(INDEX, MEDIA_TYPE.ociIndex);
    assert.equal(index.kind, 'index');
    assert.equal(index.children.length, 8);
    assert.equal(index.blobs.length, 0);

    const bench = newBench(options);
    bench
      .add(`parseManifest: OCI image, 6 layers (${IMAGE.length} B)`, batched(50, () => parseManifest(IMAGE, MEDIA_TYPE.ociManifest)))
      .add(`parseManifest: OCI index, 8 manifests (${INDEX.length} B)`, batched(50, () => parseManifest(INDEX, MEDIA_TYPE.ociIndex)));
    await bench.run();
    return rowsOf(suite, bench);
  },
};

await runIfMain(import.meta.url, suite);
