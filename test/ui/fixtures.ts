import { expectStatus } from '../helpers/assertions.ts';
import { OCI_EMPTY } from '../helpers/manifest-fixtures.ts';
import { OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, pushBlob, pushManifest } from '../helpers/oci-client.ts';
import { blob, descriptor, randomLayer, type Blob, type Descriptor } from '../helpers/oci-image.ts';

/**
 * What the UI tests browse: a multi-arch image (an OCI index of linux/amd64 and linux/arm64/v8)
 * under two tags, an SBOM and a signature whose `subject` is that index, and two more
 * repositories for the search.
 */

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

export interface PushedImage {
  readonly platform: Platform;
  readonly manifest: Blob;
  readonly config: Blob;
  readonly layers: readonly Blob[];
  /** config + layers, in bytes (what the UI calls its size). */
  readonly size: number;
  readonly created: string;
}

export interface Fixture {
  readonly repo: string;
  readonly tags: readonly string[];
  readonly index: Blob;
  readonly images: readonly PushedImage[];
  /** Distinct blobs of all platforms, in bytes. */
  readonly indexSize: number;
  /** Newest `created` of the platforms' configs. */
  readonly created: string;
  readonly sbom: Blob;
  readonly signature: Blob;
  readonly otherRepos: readonly string[];
  /** The single-platform image in otherRepos[0], tag '1.0'. */
  readonly single: PushedImage;
}

export const SBOM_TYPE = 'application/spdx+json';
export const SIGNATURE_TYPE = 'application/vnd.dev.cosign.artifact.sig.v1+json';

async function pushAll(base: string, repo: string, blobs: readonly Blob[]): Promise<void> {
  for (const b of blobs) await pushBlob(base, repo, b.bytes);
}

async function put(base: string, repo: string, reference: string, manifest: Blob, mediaType: string): Promise<void> {
  expectStatus(await pushManifest(base, repo, reference, manifest.bytes.toString('utf8'), mediaType), 201);
}

async function pushPlatformImage(base: string, repo: string, platform: Platform, created: string, layerSizes: readonly number[]): Promise<PushedImage> {
  const layers = layerSizes.map((size, i) => randomLayer(size, `file-${i}.bin`));
  const config = blob(
    Buffer.from(
      JSON.stringify({
        ...platform,
        created,
        config: { Entrypoint: ['/bin/web'], Cmd: ['--port', '8080'], Env: ['PATH=/usr/bin'], Labels: { 'org.opencontainers.image.source': 'https://example.invalid/web' } },
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
        history: layers.map(() => ({ created, created_by: 'quayside ui test' })),
      }),
    ),
  );
  const manifest = blob(
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: descriptor(OCI_CONFIG, config), layers: layers.map((l) => descriptor(OCI_LAYER, l)) })),
  );
  await pushAll(base, repo, [config, ...layers]);
  await put(base, repo, manifest.digest, manifest, OCI_MANIFEST);
  const size = config.bytes.length + layers.reduce((sum, l) => sum + l.bytes.length, 0);
  return { platform, manifest, config, layers, size, created };
}

/** An OCI 1.1 artifact: empty config, one layer, `subject` = the index (spec "Pushing Manifests with Subject"). */
async function pushReferrer(base: string, repo: string, subject: Descriptor, artifactType: string, content: string, annotations: Record<string, string>): Promise<Blob> {
  const empty = blob(Buffer.from('{}'));
  const layer = blob(Buffer.from(content));
  await pushAll(base, repo, [empty, layer]);
  const manifest = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType,
        config: descriptor(OCI_EMPTY, empty),
        layers: [descriptor(artifactType, layer)],
        subject,
        annotations,
      }),
    ),
  );
  await put(base, repo, manifest.digest, manifest, OCI_MANIFEST);
  return manifest;
}

export async function pushFixture(base: string): Promise<Fixture> {
  const repo = 'acme/web';
  const images = [
    await pushPlatformImage(base, repo, { os: 'linux', architecture: 'amd64' }, '2024-03-01T10:00:00Z', [3000, 1500]),
    await pushPlatformImage(base, repo, { os: 'linux', architecture: 'arm64', variant: 'v8' }, '2024-03-02T11:30:00Z', [2500]),
  ];
  const index = blob(
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: images.map((i) => descriptor(OCI_MANIFEST, i.manifest, { platform: i.platform })) })),
  );
  const tags = ['latest', 'v1'];
  for (const tag of tags) await put(base, repo, tag, index, OCI_INDEX);
  const subject = descriptor(OCI_INDEX, index);
  const sbom = await pushReferrer(base, repo, subject, SBOM_TYPE, '{"spdxVersion":"SPDX-2.3"}', { 'org.opencontainers.image.created': '2024-03-03T00:00:00Z' });
  const signature = await pushReferrer(base, repo, subject, SIGNATURE_TYPE, 'signature-bytes', { 'dev.sigstore.cosign/signature': 'MEUCIQ-test' });

  const otherRepos = ['tools/cli', 'tools/lint'];
  const single = await pushPlatformImage(base, otherRepos[0] as string, { os: 'linux', architecture: 'amd64' }, '2023-12-24T08:00:00Z', [1200]);
  await put(base, otherRepos[0] as string, '1.0', single.manifest, OCI_MANIFEST);
  const lint = await pushPlatformImage(base, otherRepos[1] as string, { os: 'linux', architecture: 'amd64' }, '2023-12-25T08:00:00Z', [800]);
  await put(base, otherRepos[1] as string, 'stable', lint.manifest, OCI_MANIFEST);

  const distinct = new Map<string, number>();
  for (const image of images) for (const b of [image.config, ...image.layers]) distinct.set(b.digest, b.bytes.length);
  const indexSize = [...distinct.values()].reduce((a, b) => a + b, 0);
  return { repo, tags, index, images, indexSize, created: '2024-03-02T11:30:00Z', sbom, signature, otherRepos, single };
}
