import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';

/**
 * The content every load benchmark reads, seeded over HTTP into each target the same way:
 *   bench/app        an OCI image manifest tagged `latest`, its config blob and one 4 KiB layer
 *   bench/many-tags  the same image under TAG_COUNT tags
 * The layer is printable (base64 text), so autocannon's string body compares byte for byte.
 */
export const APP_REPO = 'bench/app';
export const TAGS_REPO = 'bench/many-tags';
export const TAG_COUNT = 50;
export const LAYER_SIZE = 4096;

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** What docker, containerd and oras send when pulling by tag. */
export const PULL_ACCEPT = [
  OCI_MANIFEST,
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

export interface Blob {
  readonly bytes: Buffer;
  readonly digest: string;
}

export interface Content {
  readonly layer: Blob;
  readonly config: Blob;
  /** The manifest, byte for byte as pushed. */
  readonly manifest: Blob;
  /** bench/many-tags's tags, sorted. */
  readonly tags: readonly string[];
}

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function blob(bytes: Buffer): Blob {
  return { bytes, digest: sha256(bytes) };
}

export function makeContent(): Content {
  const layer = blob(Buffer.from(randomBytes(LAYER_SIZE).toString('base64').slice(0, LAYER_SIZE)));
  const config = blob(
    Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [layer.digest] } })),
  );
  const manifest = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.bytes.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer.digest, size: layer.bytes.length }],
      }),
    ),
  );
  const tags = Array.from({ length: TAG_COUNT }, (_, i) => `1.${Math.floor(i / 10)}.${i % 10}`).sort();
  return { layer, config, manifest, tags };
}

/** A Location header as a request path (docker-registry sends absolute URLs, Quayside paths). */
export function pathOf(location: string): string {
  if (!location.startsWith('http')) return location;
  const url = new URL(location);
  return `${url.pathname}${url.search}`;
}

/** POST then a single PUT ?digest= with the bytes: the shortest push both registries accept. */
export async function pushBlob(base: string, repo: string, item: Blob): Promise<void> {
  const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  assert.equal(start.status, 202, `POST upload to ${repo}`);
  const location = pathOf(start.headers.get('location') ?? '');
  const sep = location.includes('?') ? '&' : '?';
  const done = await fetch(`${base}${location}${sep}digest=${item.digest}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: item.bytes,
  });
  assert.equal(done.status, 201, `PUT upload to ${repo}`);
  assert.equal(done.headers.get('docker-content-digest'), item.digest);
}

export async function pushManifest(base: string, repo: string, reference: string, manifest: Blob): Promise<void> {
  const res = await fetch(`${base}/v2/${repo}/manifests/${reference}`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: manifest.bytes });
  assert.equal(res.status, 201, `PUT manifest ${repo}:${reference}: ${await res.text()}`);
  assert.equal(res.headers.get('docker-content-digest'), manifest.digest);
}

export async function seed(base: string, content: Content): Promise<void> {
  for (const repo of [APP_REPO, TAGS_REPO]) {
    await pushBlob(base, repo, content.config);
    await pushBlob(base, repo, content.layer);
  }
  await pushManifest(base, APP_REPO, 'latest', content.manifest);
  for (const tag of content.tags) await pushManifest(base, TAGS_REPO, tag, content.manifest);
}
