import { expectStatus, type Reply } from './assertions.ts';
import { OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, pushBlob, pushManifest, send, sha256 } from './oci-client.ts';

/**
 * Manifests of every kind Quayside stores, pushed with their blobs: OCI image manifest and index,
 * Docker schema 2 manifest and manifest list, and OCI 1.1 artifacts with `subject`.
 * Every builder returns the exact bytes it pushed, so tests can compare GET bodies byte for byte.
 */
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface PushedManifest {
  readonly digest: string;
  readonly bytes: Buffer;
  readonly mediaType: string;
  /** How an index or a `subject` refers to this manifest. */
  readonly descriptor: Descriptor;
}

export interface ImageOptions {
  readonly mediaType?: typeof OCI_MANIFEST | typeof DOCKER_MANIFEST;
  readonly configMediaType?: string;
  /** Config bytes; distinct values give distinct manifests. */
  readonly config?: string;
  readonly layers?: readonly string[];
  readonly artifactType?: string;
  readonly subject?: Descriptor;
  readonly annotations?: Record<string, string>;
}

export function readJson<T>(reply: Reply): T {
  return JSON.parse(reply.body.toString('utf8')) as T;
}

export function descriptorOf(bytes: Buffer, mediaType: string): Descriptor {
  return { mediaType, digest: sha256(bytes), size: bytes.length };
}

/** A digest nothing was ever pushed under. */
export function unknownDigest(seed = 'nothing here'): string {
  return sha256(`quayside-test-unknown:${seed}`);
}

/** end-4b: POST ?digest= with the whole body. Works for the empty blob, which a ranged PATCH cannot carry. */
export async function pushBlobMonolithic(base: string, repo: string, bytes: Buffer | string): Promise<string> {
  const content = Buffer.from(bytes);
  const digest = sha256(content);
  const reply = await send(base, `/v2/${repo}/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'content-length': content.length },
    body: content,
  });
  expectStatus(reply, 201);
  return digest;
}

/** PUTs `body` exactly as given and expects 201. */
export async function putManifestBytes(base: string, repo: string, reference: string, bytes: Buffer, mediaType: string): Promise<PushedManifest> {
  expectStatus(await pushManifest(base, repo, reference, bytes.toString('utf8'), mediaType), 201);
  return { digest: sha256(bytes), bytes, mediaType, descriptor: descriptorOf(bytes, mediaType) };
}

/** The JSON of an image manifest whose config and layers are pushed to `repo`. */
export async function imageManifest(base: string, repo: string, options: ImageOptions = {}): Promise<Record<string, unknown>> {
  const docker = options.mediaType === DOCKER_MANIFEST;
  const config = Buffer.from(options.config ?? '{"architecture":"amd64","os":"linux"}');
  const configMediaType = options.configMediaType ?? (docker ? DOCKER_CONFIG : OCI_CONFIG);
  const configDescriptor = { mediaType: configMediaType, digest: await pushBlob(base, repo, config), size: config.length };
  const layers: Descriptor[] = [];
  for (const layer of options.layers ?? ['layer-1']) {
    const bytes = Buffer.from(layer);
    layers.push({ mediaType: docker ? DOCKER_LAYER : OCI_LAYER, digest: await pushBlob(base, repo, bytes), size: bytes.length });
  }
  return {
    schemaVersion: 2,
    mediaType: options.mediaType ?? OCI_MANIFEST,
    ...(options.artifactType !== undefined ? { artifactType: options.artifactType } : {}),
    config: configDescriptor,
    layers,
    ...(options.subject !== undefined ? { subject: options.subject } : {}),
    ...(options.annotations !== undefined ? { annotations: options.annotations } : {}),
  };
}

export async function pushImageManifest(base: string, repo: string, reference: string, options: ImageOptions = {}): Promise<PushedManifest> {
  const manifest = await imageManifest(base, repo, options);
  return putManifestBytes(base, repo, reference, Buffer.from(JSON.stringify(manifest)), options.mediaType ?? OCI_MANIFEST);
}

export interface IndexOptions {
  readonly mediaType?: typeof OCI_INDEX | typeof DOCKER_MANIFEST_LIST;
  readonly artifactType?: string;
  readonly subject?: Descriptor;
  readonly annotations?: Record<string, string>;
}

export function indexManifest(children: readonly Descriptor[], options: IndexOptions = {}): Record<string, unknown> {
  return {
    schemaVersion: 2,
    mediaType: options.mediaType ?? OCI_INDEX,
    ...(options.artifactType !== undefined ? { artifactType: options.artifactType } : {}),
    manifests: children.map((child) => ({ ...child, platform: { architecture: 'amd64', os: 'linux' } })),
    ...(options.subject !== undefined ? { subject: options.subject } : {}),
    ...(options.annotations !== undefined ? { annotations: options.annotations } : {}),
  };
}

export async function pushIndex(base: string, repo: string, reference: string, children: readonly Descriptor[], options: IndexOptions = {}): Promise<PushedManifest> {
  const bytes = Buffer.from(JSON.stringify(indexManifest(children, options)));
  return putManifestBytes(base, repo, reference, bytes, options.mediaType ?? OCI_INDEX);
}
