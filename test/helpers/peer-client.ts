import { createHmac } from 'node:crypto';
import { expectStatus, type Reply } from './assertions.ts';
import { patchChunk, pushManifest, putUpload, send, sha256 } from './oci-client.ts';
import type { Blob, Image } from './oci-image.ts';

/**
 * A client that works against docker-registry as well as Quayside: like a real client it sends
 * each request to the Location the previous answer gave. distribution 2.8 puts its upload state
 * in that Location (`?_state=`) and refuses a PATCH or PUT whose token's Offset is not the
 * upload's size, so oci-client.ts's pushBlob (which reuses the POST's Location) fails there.
 */

/** Location as a path + query, whether the server sent an absolute URL (distribution) or a path. */
export function locationOf(reply: Reply): string {
  const location = reply.headers.get('location');
  if (!location) throw new Error(`no Location header on ${reply.method} ${reply.url} → ${reply.status}`);
  const url = new URL(location, 'http://placeholder');
  return url.pathname + url.search;
}

export interface UploadStart {
  readonly location: string;
  readonly uuid: string;
}

export async function beginUpload(base: string, repo: string): Promise<UploadStart> {
  const reply = await send(base, `/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  expectStatus(reply, 202);
  return { location: locationOf(reply), uuid: reply.headers.get('docker-upload-uuid') ?? '' };
}

/** POST, one PATCH per chunk, PUT ?digest=, each to the Location the last answer gave. */
export async function pushBlobFollowing(base: string, repo: string, bytes: Buffer, chunkSize = bytes.length): Promise<string> {
  const digest = sha256(bytes);
  let { location } = await beginUpload(base, repo);
  for (let start = 0; start < bytes.length; start += chunkSize) {
    const reply = await patchChunk(base, location, bytes.subarray(start, start + chunkSize), start);
    expectStatus(reply, 202);
    location = locationOf(reply);
  }
  const done = await putUpload(base, location, digest);
  expectStatus(done, 201);
  return digest;
}

/** Pushes every blob of the image, then its manifest under each tag. */
export async function pushImageFollowing(base: string, repo: string, image: Image, tags: readonly string[]): Promise<void> {
  for (const b of [image.config, ...image.layers]) await pushBlobFollowing(base, repo, b.bytes);
  for (const tag of tags) expectStatus(await pushManifest(base, repo, tag, image.manifest.bytes.toString(), mediaTypeOf(image.manifest)), 201);
}

export function mediaTypeOf(manifest: Blob): string {
  return (JSON.parse(manifest.bytes.toString()) as { mediaType: string }).mediaType;
}

/** distribution's blobUploadState (registry/handlers/hmac.go); field names are Go's. */
export interface UploadState {
  readonly Name: string;
  readonly UUID: string;
  readonly Offset: number;
  /** RFC 3339 (Go's time.Time JSON form). */
  readonly StartedAt: string;
}

/**
 * The `_state` token docker-registry expects on a PATCH/PUT/GET of an upload
 * (registry/handlers/hmac.go packUploadState): base64.URLEncoding (url-safe alphabet, WITH `=`
 * padding) of HMAC-SHA256(http.secret, json) followed by the json. Go's json.Marshal writes the
 * fields in struct order, with no spaces.
 */
export function packUploadState(secret: string, state: UploadState): string {
  const json = Buffer.from(JSON.stringify({ Name: state.Name, UUID: state.UUID, Offset: state.Offset, StartedAt: state.StartedAt }));
  const mac = createHmac('sha256', secret).update(json).digest();
  return Buffer.concat([mac, json]).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

/** The inverse, for reading docker-registry's own tokens; throws when the MAC is wrong. */
export function unpackUploadState(secret: string, token: string): UploadState {
  const bytes = Buffer.from(token.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  const mac = bytes.subarray(0, 32);
  const json = bytes.subarray(32);
  if (!createHmac('sha256', secret).update(json).digest().equals(mac)) throw new Error('upload state token: MAC mismatch');
  return JSON.parse(json.toString()) as UploadState;
}
