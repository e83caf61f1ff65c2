import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { createHash } from 'node:crypto';
import { call, describe, Disconnected, NotSent, type Channel, type OpKind, type Reply } from './http.ts';
import { bump, type BlobSpec, type BlobState, type Failure, type LaneState, type ManifestState, type Presence, type Stats, type UploadState, type World } from './model.ts';
import { contentBytes, Prng } from './prng.ts';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

/** A lane stops for this epoch: the server is down (or a check failed and was recorded). */
class Stop extends Error {}

export interface EpochContext {
  readonly ch: Channel;
  readonly world: World;
  readonly stats: Stats;
  fail(check: string, detail: string): void;
}

/**
 * One lane's share of an epoch: operations one after another on its own repository until the
 * server is killed. Every request that a kill cuts short leaves its possible effect in the model
 * ('maybe'), for the restart to resolve.
 */
export async function runLane(ctx: EpochContext, lane: LaneState, prng: Prng): Promise<void> {
  try {
    while (!ctx.ch.isDown()) {
      const carried = lane.carried.shift();
      if (carried) {
        await resumeUpload(ctx, lane, prng, carried);
        continue;
      }
      const op = prng.weighted({ chunked: 26, streamed: 14, monolithic: 14, manifest: 22, deleteBlob: 5, deleteManifest: 5, deleteTag: 5, cancel: 4, idle: 5 });
      if (op === 'chunked' || op === 'streamed') await pushUpload(ctx, lane, prng, op);
      else if (op === 'monolithic') await pushMonolithic(ctx, lane, prng);
      else if (op === 'manifest') await putManifest(ctx, lane, prng);
      else if (op === 'deleteBlob') await deleteBlob(ctx, lane, prng);
      else if (op === 'deleteManifest') await deleteManifest(ctx, lane, prng);
      else if (op === 'deleteTag') await deleteTag(ctx, lane, prng);
      else if (op === 'cancel') await cancelUpload(ctx, lane, prng);
      else await new Promise((r) => setTimeout(r, prng.int(1, 8)));
    }
  } catch (err) {
    if (!(err instanceof Stop)) throw err;
  }
}

/**
 * Sends one request. A request the kill cut short runs `cutShort` (the model's 'maybe') and
 * stops the lane; one never sent stops it with nothing to record.
 */
async function attempt(ctx: EpochContext, kind: OpKind, method: string, path: string, options: Parameters<typeof call>[4], cutShort: () => void): Promise<Reply> {
  try {
    return await call(ctx.ch, kind, method, path, options);
  } catch (err) {
    if (err instanceof NotSent) throw new Stop();
    if (err instanceof Disconnected) {
      if (!ctx.ch.isDown()) ctx.fail('connection-broke', `${err.message} while the server was up`);
      bump(ctx.stats.cutShort, kind);
      cutShort();
      throw new Stop();
    }
    throw err;
  }
}

function expect(ctx: EpochContext, reply: Reply, status: number, check: string): void {
  if (reply.status === status) return;
  ctx.fail(check, `expected ${status}: ${describe(reply)}`);
  throw new Stop();
}

function pickBlob(ctx: EpochContext, lane: LaneState, prng: Prng): BlobSpec {
  // Now and then another lane's bytes: the commit then finds the blob already stored (adopt's other path).
  if (prng.chance(0.1)) {
    const foreign = ctx.world.shared.filter((s) => !lane.blobs.has(s.digest));
    if (foreign.length > 0) return prng.pick(foreign);
  }
  return ctx.world.newBlob(prng);
}

function blobState(lane: LaneState, spec: BlobSpec): BlobState {
  let state = lane.blobs.get(spec.digest);
  if (!state) {
    state = { spec, presence: 'absent', acked: false, checked: true };
    lane.blobs.set(spec.digest, state);
  }
  return state;
}

type Uncertain = { presence: Presence; checked: boolean };

/** A write the kill cut short: it may have taken effect (what was there stays there). */
function mayBeWritten(state: Uncertain): void {
  if (state.presence !== 'present') state.presence = 'maybe';
  state.checked = false;
}

/** A delete the kill cut short: it may have taken effect. */
function mayBeDeleted(state: Uncertain): void {
  state.presence = 'maybe';
  state.checked = false;
}

export function uploadId(location: string): string {
  return location.slice(location.lastIndexOf('/') + 1);
}

/** POST (end-4a), then chunks or one streamed PATCH, then PUT ?digest=. */
async function pushUpload(ctx: EpochContext, lane: LaneState, prng: Prng, mode: 'chunked' | 'streamed'): Promise<void> {
  const spec = pickBlob(ctx, lane, prng);
  if (lane.blobs.get(spec.digest)?.presence === 'present') return;
  const reply = await attempt(ctx, 'post', 'POST', `/v2/${lane.repo}/blobs/uploads/`, {}, () => undefined);
  expect(ctx, reply, 202, 'upload-start');
  const location = String(reply.headers.location ?? '');
  const upload: UploadState = { location, id: uploadId(location), spec, durable: 0, sent: 0, ending: undefined, kills: 0 };
  lane.uploads.add(upload);
  await sendRest(ctx, lane, prng, upload, 0, mode);
}

/** A carried upload, under the next kill: GET its range (end-13), send the rest, commit. */
async function resumeUpload(ctx: EpochContext, lane: LaneState, prng: Prng, upload: UploadState): Promise<void> {
  const status = await attempt(ctx, 'status', 'GET', upload.location, {}, () => undefined);
  expect(ctx, status, 204, 'resume-status');
  const offset = rangeEnd(status);
  if (offset !== upload.durable) {
    ctx.fail('resume-status', `expected the range to end at ${upload.durable}: ${describe(status)}`);
    throw new Stop();
  }
  await sendRest(ctx, lane, prng, upload, upload.durable, prng.chance(0.5) ? 'chunked' : 'streamed');
}

/** The offset a status Range names ("0-0" is read as 0; callers that know better adjust). */
export function rangeEnd(reply: Reply): number | undefined {
  const match = /^0-(\d+)$/.exec(String(reply.headers.range ?? ''));
  if (!match) return undefined;
  const end = Number(match[1]);
  return end === 0 ? 0 : end + 1;
}

async function* streamed(bytes: Buffer, prng: Prng): AsyncGenerator<Buffer> {
  let at = 0;
  while (at < bytes.length) {
    const n = Math.min(bytes.length - at, prng.logUniform(1024, 512 * 1024));
    yield bytes.subarray(at, at + n);
    at += n;
    // Spread the body over a few event-loop turns, so a kill can land while it is still arriving.
    if (prng.chance(0.3)) await yieldToLoop();
  }
}

async function sendRest(ctx: EpochContext, lane: LaneState, prng: Prng, upload: UploadState, from: number, mode: 'chunked' | 'streamed'): Promise<void> {
  const bytes = contentBytes(upload.spec.seed, upload.spec.size);
  const size = bytes.length;
  let offset = from;
  let lastChunk: Buffer | undefined;
  if (mode === 'streamed' && offset < size) {
    upload.sent = size;
    const reply = await attempt(ctx, 'stream', 'PATCH', upload.location, { headers: { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' }, body: streamed(bytes.subarray(offset), prng) }, () => undefined);
    expect(ctx, reply, 202, 'stream-patch');
    checkRange(ctx, reply, size);
    upload.durable = size;
    offset = size;
  }
  while (offset < size) {
    const length = Math.min(size - offset, prng.chance(0.15) ? prng.int(1, 5000) : prng.logUniform(4096, 1536 * 1024));
    const chunk = bytes.subarray(offset, offset + length);
    if (offset + length === size && prng.chance(0.3)) {
      lastChunk = chunk; // goes with the PUT (end-6 with a body)
      break;
    }
    upload.sent = offset + length;
    const reply = await attempt(ctx, 'patch', 'PATCH', upload.location, { headers: chunkHeaders(offset, chunk.length), body: chunk }, () => undefined);
    expect(ctx, reply, 202, 'chunk-patch');
    checkRange(ctx, reply, offset + length);
    offset += length;
    upload.durable = offset;
  }
  await commit(ctx, lane, upload, lastChunk, offset);
}

function chunkHeaders(start: number, length: number): Record<string, string | number> {
  return { 'content-type': 'application/octet-stream', 'content-range': `${start}-${start + length - 1}`, 'content-length': length };
}

function checkRange(ctx: EpochContext, reply: Reply, size: number): void {
  if (reply.headers.range !== `0-${size - 1}`) {
    ctx.fail('patch-range', `expected Range 0-${size - 1}: ${describe(reply)}`);
    throw new Stop();
  }
}

/** PUT ?digest= (end-6), with the last chunk or without. */
async function commit(ctx: EpochContext, lane: LaneState, upload: UploadState, lastChunk: Buffer | undefined, offset: number): Promise<void> {
  const state = blobState(lane, upload.spec);
  const path = `${upload.location}?digest=${upload.spec.digest}`;
  const headers = lastChunk ? chunkHeaders(offset, lastChunk.length) : { 'content-type': 'application/octet-stream', 'content-length': 0 };
  if (lastChunk) upload.sent = offset + lastChunk.length;
  const reply = await attempt(ctx, 'commit', 'PUT', path, lastChunk ? { headers, body: lastChunk } : { headers }, () => {
    upload.ending = 'commit';
    mayBeWritten(state);
  });
  expect(ctx, reply, 201, 'commit');
  if (reply.headers['docker-content-digest'] !== upload.spec.digest) ctx.fail('commit-digest', describe(reply));
  lane.uploads.delete(upload);
  if (upload.kills > 0) ctx.stats.resumed++;
  acked(state);
}

function acked(state: { presence: string; acked: boolean; checked: boolean }): void {
  state.presence = 'present';
  state.acked = true;
  state.checked = false;
}

/** POST ?digest= with the whole body (end-4b). */
async function pushMonolithic(ctx: EpochContext, lane: LaneState, prng: Prng): Promise<void> {
  const spec = pickBlob(ctx, lane, prng);
  const state = blobState(lane, spec);
  if (state.presence === 'present') return;
  const body = contentBytes(spec.seed, spec.size);
  const reply = await attempt(ctx, 'monolithic', 'POST', `/v2/${lane.repo}/blobs/uploads/?digest=${spec.digest}`, { headers: { 'content-type': 'application/octet-stream', 'content-length': body.length }, body }, () => mayBeWritten(state));
  expect(ctx, reply, 201, 'monolithic');
  acked(state);
}

/** An image manifest over blobs this lane has, by tag (a tag update) or by digest (end-7). */
async function putManifest(ctx: EpochContext, lane: LaneState, prng: Prng): Promise<void> {
  const blobs = lane.present(lane.blobs);
  if (blobs.length < 2) {
    await pushMonolithic(ctx, lane, prng);
    return;
  }
  const config = prng.pick(blobs).spec;
  const layers = Array.from({ length: prng.int(1, 3) }, () => prng.pick(blobs).spec);
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: OCI_LAYER, digest: l.digest, size: l.size })),
    annotations: { 'org.example.crash': `${lane.repo}#${lane.manifestCounter++}` },
  };
  const bytes = Buffer.from(JSON.stringify(manifest, null, prng.chance(0.5) ? 2 : undefined));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const stored: ManifestState = { digest, bytes, presence: 'absent', acked: false, checked: true };
  lane.manifests.set(digest, stored);
  const tag = prng.chance(0.7) ? prng.pick([...lane.tags.keys()]) : undefined;
  const tagState = tag === undefined ? undefined : lane.tags.get(tag);
  const reply = await attempt(ctx, 'manifest', 'PUT', `/v2/${lane.repo}/manifests/${tag ?? digest}`, { headers: { 'content-type': OCI_MANIFEST, 'content-length': bytes.length }, body: bytes }, () => {
    mayBeWritten(stored);
    tagState?.possible.add(digest);
  });
  expect(ctx, reply, 201, 'manifest-put');
  if (reply.headers['docker-content-digest'] !== digest) ctx.fail('manifest-digest', describe(reply));
  acked(stored);
  if (tagState) setTag(tagState, digest, true);
}

function setTag(state: { current: string | null; possible: Set<string | null>; acked: boolean }, value: string | null, acked: boolean): void {
  state.current = value;
  state.possible.clear();
  state.possible.add(value);
  if (acked) state.acked = true;
}

/** end-10: unlink a blob from the lane's repository. */
async function deleteBlob(ctx: EpochContext, lane: LaneState, prng: Prng): Promise<void> {
  const blobs = lane.present(lane.blobs);
  if (blobs.length < 4) return;
  const state = prng.pick(blobs);
  const reply = await attempt(ctx, 'delete', 'DELETE', `/v2/${lane.repo}/blobs/${state.spec.digest}`, {}, () => mayBeDeleted(state));
  expect(ctx, reply, 202, 'blob-delete');
  state.presence = 'absent';
  state.checked = false;
}

/** end-9 by digest: the manifest and every tag on it. */
async function deleteManifest(ctx: EpochContext, lane: LaneState, prng: Prng): Promise<void> {
  const manifests = lane.present(lane.manifests);
  if (manifests.length < 2) return;
  const state = prng.pick(manifests);
  const onIt = [...lane.tags.values()].filter((t) => t.current === state.digest);
  const reply = await attempt(ctx, 'delete', 'DELETE', `/v2/${lane.repo}/manifests/${state.digest}`, {}, () => {
    mayBeDeleted(state);
    for (const tag of onIt) tag.possible.add(null);
  });
  expect(ctx, reply, 202, 'manifest-delete');
  state.presence = 'absent';
  state.checked = false;
  for (const tag of onIt) setTag(tag, null, false);
}

/** end-9 by tag: the tag only. */
async function deleteTag(ctx: EpochContext, lane: LaneState, prng: Prng): Promise<void> {
  const tagged = [...lane.tags.entries()].filter(([, t]) => t.current !== null);
  if (tagged.length === 0) return;
  const [tag, state] = prng.pick(tagged);
  const reply = await attempt(ctx, 'delete', 'DELETE', `/v2/${lane.repo}/manifests/${tag}`, {}, () => state.possible.add(null));
  expect(ctx, reply, 202, 'tag-delete');
  setTag(state, null, false);
}

/** An upload started, partly sent, then cancelled (DELETE, 204). */
async function cancelUpload(ctx: EpochContext, lane: LaneState, prng: Prng): Promise<void> {
  const spec = ctx.world.newBlob(prng);
  const post = await attempt(ctx, 'post', 'POST', `/v2/${lane.repo}/blobs/uploads/`, {}, () => undefined);
  expect(ctx, post, 202, 'upload-start');
  const location = String(post.headers.location ?? '');
  const upload: UploadState = { location, id: uploadId(location), spec, durable: 0, sent: 0, ending: undefined, kills: 0 };
  lane.uploads.add(upload);
  const length = Math.min(spec.size, prng.logUniform(1024, 256 * 1024));
  upload.sent = length;
  const chunk = contentBytes(spec.seed, spec.size).subarray(0, length);
  const patch = await attempt(ctx, 'patch', 'PATCH', location, { headers: chunkHeaders(0, length), body: chunk }, () => undefined);
  expect(ctx, patch, 202, 'chunk-patch');
  upload.durable = length;
  const reply = await attempt(ctx, 'delete', 'DELETE', location, {}, () => (upload.ending = 'cancel'));
  expect(ctx, reply, 204, 'upload-cancel');
  lane.uploads.delete(upload);
}
