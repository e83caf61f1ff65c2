import { createHash } from 'node:crypto';
import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { expectStatus, type Reply } from './assertions.ts';

/**
 * Protocol steps over plain node:http (not fetch: tests must be able to send what fetch refuses,
 * and to cut a body off mid-way). Names follow distribution's api_test.go helpers.
 */
export interface SendOptions {
  readonly method?: string;
  readonly headers?: OutgoingHttpHeaders;
  readonly body?: Buffer | string | AsyncIterable<Uint8Array>;
  /** For https bases: the CA to trust, and a client certificate to present. */
  readonly tls?: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
  /** Aborts the request (e.g. AbortSignal.timeout): a hang then fails the test instead of stalling it. */
  readonly signal?: AbortSignal;
}

/**
 * The path goes out byte for byte: `new URL()` (and so fetch) resolves '..', '.' and '%2e%2e'
 * before anything leaves, which would hide exactly what the bad-input tests send.
 */
export async function send(base: string, path: string, options: SendOptions = {}): Promise<Reply> {
  const { hostname, port, protocol } = new URL(base);
  const method = options.method ?? 'GET';
  const request = protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<Reply>((resolve, reject) => {
    const req = request({ hostname, port, path, method, headers: options.headers, agent: false, ...options.tls, ...(options.signal ? { signal: options.signal } : {}) }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
        resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(parts), method, url: path });
      });
    });
    req.on('error', reject);
    const body = options.body;
    if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
    else pipeline(Readable.from(body), req).catch(reject);
  });
}

export function sha256(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export async function startUpload(base: string, repo: string): Promise<string> {
  const reply = await send(base, `/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  expectStatus(reply, 202);
  return reply.headers.get('location') ?? '';
}

export async function patchChunk(base: string, location: string, chunk: Buffer, start: number): Promise<Reply> {
  return send(base, location, {
    method: 'PATCH',
    headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${start + chunk.length - 1}`, 'content-length': chunk.length },
    body: chunk,
  });
}

export async function putUpload(base: string, location: string, digest: string, body?: Buffer): Promise<Reply> {
  const sep = location.includes('?') ? '&' : '?';
  return send(base, `${location}${sep}digest=${digest}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': body?.length ?? 0 },
    ...(body ? { body } : {}),
  });
}

/** POST → PATCH → PUT; returns the digest. */
export async function pushBlob(base: string, repo: string, bytes: Buffer | string): Promise<string> {
  const content = Buffer.from(bytes);
  const digest = sha256(content);
  const location = await startUpload(base, repo);
  expectStatus(await patchChunk(base, location, content, 0), 202);
  expectStatus(await putUpload(base, location, digest), 201);
  return digest;
}

export async function pushManifest(base: string, repo: string, reference: string, manifest: unknown, mediaType?: string): Promise<Reply> {
  const body = typeof manifest === 'string' ? manifest : JSON.stringify(manifest);
  const type = mediaType ?? (typeof manifest === 'object' && manifest !== null && 'mediaType' in manifest ? String(manifest.mediaType) : 'application/vnd.oci.image.manifest.v1+json');
  return send(base, `/v2/${repo}/manifests/${reference}`, { method: 'PUT', headers: { 'content-type': type }, body });
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

/** Pushes a config and `layers` blobs, then an OCI image manifest under `reference`. */
export async function pushImage(base: string, repo: string, reference: string, layers: readonly string[] = ['layer']): Promise<{ digest: string; manifest: Record<string, unknown>; bytes: Buffer }> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const configDigest = await pushBlob(base, repo, config);
  const layerDescriptors = [];
  for (const layer of layers) {
    const bytes = Buffer.from(layer);
    layerDescriptors.push({ mediaType: OCI_LAYER, digest: await pushBlob(base, repo, bytes), size: bytes.length });
  }
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
    layers: layerDescriptors,
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  expectStatus(await pushManifest(base, repo, reference, bytes.toString(), OCI_MANIFEST), 201);
  return { digest: sha256(bytes), manifest, bytes };
}
