import { createHash } from 'node:crypto';
import { paths } from '../../src/storage/paths.ts';
import { call, describe, errorCodes, type Channel, type Reply } from './http.ts';
import { bump, type LaneState, type Stats, type UploadState, type World } from './model.ts';
import { contentBytes, type Prng } from './prng.ts';
import type { CrashStorage } from './storage.ts';
import { OCI_MANIFEST, rangeEnd } from './workload.ts';

/**
 * The checks after a restart on the same root. Each takes the model from "what was acknowledged
 * or cut short" to "what the registry has now", failing on anything an acknowledgement forbids:
 *
 *  - blobs/ holds no data file whose bytes do not hash to its path (no partial blob under a digest),
 *    read through the storage's driver, behind the registry's back;
 *  - an acknowledged blob or manifest is there and intact; an acknowledged delete stayed deleted;
 *  - a tag names its last acknowledged manifest or what a cut-short request would have made it;
 *  - an open upload is resumable from the range GET reports (at least what 202s acknowledged) to
 *    a 201 with the right digest, or is gone (404 BLOB_UPLOAD_UNKNOWN); on S3 that range is the
 *    offset of the upload's state object, and a state left there means the upload is not gone;
 *  - no 5xx (counted by the channel and from the child's log).
 */
export interface VerifyContext {
  readonly ch: Channel;
  readonly world: World;
  readonly stats: Stats;
  readonly storage: CrashStorage;
  readonly step: number;
  readonly prng: Prng;
  /** Finish every open upload now (the final sweep) instead of leaving some for the next epoch. */
  readonly final: boolean;
  fail(check: string, detail: string): void;
}

const ACCEPT = `${OCI_MANIFEST}, application/vnd.oci.image.index.v1+json`;
/** Older acknowledged objects re-read per lane per restart (everything is re-read at the end). */
const SAMPLE = 4;

export async function verifyAfterRestart(ctx: VerifyContext, blobCache: Map<string, string>): Promise<void> {
  await walkBlobs(ctx, blobCache);
  for (const lane of ctx.world.lanes) {
    for (const upload of lane.uploads) upload.kills++;
    lane.carried = [];
  }
  await Promise.all(ctx.world.lanes.map((lane) => verifyLane(ctx, lane)));
}

async function verifyLane(ctx: VerifyContext, lane: LaneState): Promise<void> {
  // Uploads first: one that committed before the kill leaves a 'maybe' blob for the next step.
  for (const upload of [...lane.uploads]) await verifyUpload(ctx, lane, upload);
  await verifyBlobs(ctx, lane);
  await verifyManifests(ctx, lane);
  await verifyTags(ctx, lane);
}

/** Every blobs/<alg>/<xx>/<hex>/data hashes to <alg>:<hex>. Files already checked and unchanged are skipped. */
async function walkBlobs(ctx: VerifyContext, cache: Map<string, string>): Promise<void> {
  const { storage } = ctx;
  const base = paths.blobsOfAlgorithm('sha256');
  for (const prefix of await storage.listRaw(base)) {
    for (const hex of await storage.listRaw(`${base}/${prefix}`)) {
      for (const name of await storage.listRaw(`${base}/${prefix}/${hex}`)) {
        const file = `${base}/${prefix}/${hex}/${name}`;
        if (name !== 'data') {
          if (name.includes('~tmp-') && !cache.has(file)) {
            cache.set(file, 'temp');
            ctx.stats.leftoverTemps++;
          }
          continue;
        }
        const identity = await storage.identity(file);
        if (cache.get(file) === identity) continue;
        const hash = createHash('sha256');
        let size = 0;
        for await (const chunk of await storage.driver.reader(file)) {
          hash.update(chunk as Buffer);
          size += (chunk as Buffer).length;
        }
        const actual = hash.digest('hex');
        if (actual !== hex) ctx.fail('partial-blob', `${storage.name} ${file} (${size} bytes) hashes to sha256:${actual}`);
        cache.set(file, identity);
      }
    }
  }
}

async function verifyUpload(ctx: VerifyContext, lane: LaneState, upload: UploadState): Promise<void> {
  const found = await ctx.storage.uploadFound(lane.repo, upload);
  bump(ctx.stats.uploadStates, found.label);
  const status = await get(ctx, upload.location);
  if (status.status === 404 && errorCodes(status).includes('BLOB_UPLOAD_UNKNOWN')) {
    // The storage still records where the upload is: a 404 would drop bytes 202s acknowledged.
    if (found.offset !== undefined) ctx.fail('upload-state-disagrees', `${upload.id}: the state object says ${found.offset} bytes (${found.label}), GET says ${describe(status)}`);
    lane.uploads.delete(upload);
    ctx.stats.gone++;
    // Allowed, but worth knowing: nothing the client sent would end this upload.
    if (!upload.ending) ctx.stats.goneUnexplained++;
    return;
  }
  if (status.status !== 204) return ctx.fail('upload-status', `expected 204 or 404 BLOB_UPLOAD_UNKNOWN: ${describe(status)}`);
  const end = rangeEnd(status);
  if (end === undefined) return ctx.fail('upload-status', `no usable Range: ${describe(status)}`);
  if (found.offset !== undefined && end !== (found.offset <= 1 ? 0 : found.offset)) {
    ctx.fail('upload-state-disagrees', `${upload.id}: the state object says ${found.offset} bytes (${found.label}), GET says ${describe(status)}`);
  }
  // "0-0" is 0 or 1 byte; the rest of the checks take the upload's word for which.
  const offset = end === 0 && upload.durable === 1 ? 1 : end;
  // A DELETE cut short may have removed any part of the upload: only resumability is asked of it.
  if (offset < upload.durable && upload.ending !== 'cancel') {
    if (!(upload.ending === 'commit' && found.midCommit)) {
      lane.uploads.delete(upload);
      const cut = upload.ending === 'commit' ? 'a PUT ?digest= was cut short' : 'no PUT or DELETE was sent';
      return ctx.fail('acked-chunk-lost', `202s acknowledged ${upload.durable} bytes, the restart has ${offset} (${cut}; upload: ${found.label}): ${describe(status)}`);
    }
    // A commit cut short after moving the data into blobs/: what a client whose PUT broke does is
    // send the PUT again. That should finish the commit (201); anything else is reported.
    const retry = await send(ctx, 'PUT', `${upload.location}?digest=${upload.spec.digest}`, { 'content-length': 0 });
    if (retry.status === 201) return completed(ctx, lane, upload);
    ctx.fail(
      'half-committed-upload',
      `PUT ?digest= cut short after the data moved to blobs/ (upload: ${found.label}): GET says ${status.headers.range ?? '?'} though 202s acknowledged ${upload.durable} bytes, and the retried PUT answers ${describe(retry)}`,
    );
    // Still resumable by the letter of end-13: from the offset it reports, with everything.
    upload.durable = 0;
    upload.sent = 0;
    upload.ending = undefined;
    return finishUpload(ctx, lane, upload, false);
  }
  if (offset > upload.sent) return ctx.fail('upload-too-long', `only ${upload.sent} bytes were sent, the restart has ${offset}: ${describe(status)}`);
  upload.durable = offset;
  upload.sent = offset;
  upload.ending = undefined;
  // "0-0" is finished here, where a 416 can tell 0 from 1; the lanes take the unambiguous ones.
  if (!ctx.final && end !== 0 && ctx.prng.chance(0.4)) {
    lane.carried.push(upload); // finished by its lane, under the next kill
    return;
  }
  await finishUpload(ctx, lane, upload, end === 0);
}

/** Sends the rest from the reported offset, then PUT ?digest=: must be 201, then the blob must read back. */
async function finishUpload(ctx: VerifyContext, lane: LaneState, upload: UploadState, ambiguousZero: boolean): Promise<void> {
  const bytes = contentBytes(upload.spec.seed, upload.spec.size);
  let offset = upload.durable;
  if (offset < bytes.length) {
    let patch = await patchFrom(ctx, upload, bytes, offset);
    // "0-0" could have been one byte after all: the 416 says so and changed nothing.
    if (patch.status === 416 && ambiguousZero && offset === 0) patch = await patchFrom(ctx, upload, bytes, (offset = 1));
    if (patch.status !== 202) return ctx.fail('resume-patch', `resuming from ${offset}: ${describe(patch)}`);
  }
  const put = await send(ctx, 'PUT', `${upload.location}?digest=${upload.spec.digest}`, { 'content-length': 0 });
  if (put.status !== 201) return ctx.fail('resume-commit', `resumed from ${offset}: ${describe(put)}`);
  completed(ctx, lane, upload);
}

function completed(ctx: VerifyContext, lane: LaneState, upload: UploadState): void {
  lane.uploads.delete(upload);
  ctx.stats.resumed++;
  const state = lane.blobs.get(upload.spec.digest);
  if (state) {
    state.presence = 'present';
    state.checked = false;
  } else {
    lane.blobs.set(upload.spec.digest, { spec: upload.spec, presence: 'present', acked: false, checked: false });
  }
}

function patchFrom(ctx: VerifyContext, upload: UploadState, bytes: Buffer, offset: number): Promise<Reply> {
  const chunk = bytes.subarray(offset);
  return send(ctx, 'PATCH', upload.location, { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${bytes.length - 1}`, 'content-length': chunk.length }, chunk);
}

async function verifyBlobs(ctx: VerifyContext, lane: LaneState): Promise<void> {
  const older = [...lane.blobs.values()].filter((b) => b.checked && b.presence === 'present');
  const sample = new Set(ctx.final ? older : Array.from({ length: Math.min(SAMPLE, older.length) }, () => ctx.prng.pick(older)));
  for (const blob of lane.blobs.values()) {
    if (blob.checked && !sample.has(blob)) continue;
    const path = `/v2/${lane.repo}/blobs/${blob.spec.digest}`;
    const reply = await get(ctx, path);
    if (reply.status === 200) {
      const actual = `sha256:${createHash('sha256').update(reply.body).digest('hex')}`;
      if (actual !== blob.spec.digest || reply.body.length !== blob.spec.size) {
        ctx.fail('blob-corrupt', `${path}: ${reply.body.length} bytes hashing to ${actual}, expected ${blob.spec.size}`);
      } else if (blob.presence === 'absent') {
        ctx.fail('blob-delete-lost', `${path} came back after an acknowledged DELETE`);
      } else {
        if (blob.presence === 'maybe') ctx.stats.uncertainFoundPresent++;
        blob.presence = 'present';
        countVerified(ctx, `blob ${lane.repo} ${blob.spec.digest}`, blob.acked);
      }
    } else if (reply.status === 404 && errorCodes(reply).includes('BLOB_UNKNOWN')) {
      if (blob.presence === 'present') ctx.fail('acked-blob-lost', `${path}: acknowledged (201), now ${describe(reply)}`);
      if (blob.presence === 'maybe') ctx.stats.uncertainFoundAbsent++;
      blob.presence = 'absent';
    } else {
      ctx.fail('blob-get', describe(reply));
    }
    blob.checked = true;
  }
}

async function verifyManifests(ctx: VerifyContext, lane: LaneState): Promise<void> {
  const older = [...lane.manifests.values()].filter((m) => m.checked && m.presence === 'present');
  const sample = new Set(ctx.final ? older : Array.from({ length: Math.min(SAMPLE, older.length) }, () => ctx.prng.pick(older)));
  for (const manifest of lane.manifests.values()) {
    if (manifest.checked && !sample.has(manifest)) continue;
    const path = `/v2/${lane.repo}/manifests/${manifest.digest}`;
    const reply = await get(ctx, path, { accept: ACCEPT });
    if (reply.status === 200) {
      if (!reply.body.equals(manifest.bytes)) ctx.fail('manifest-corrupt', `${path}: bytes differ from those PUT: ${describe(reply)}`);
      else if (manifest.presence === 'absent') ctx.fail('manifest-delete-lost', `${path} came back after an acknowledged DELETE`);
      else {
        if (manifest.presence === 'maybe') ctx.stats.uncertainFoundPresent++;
        manifest.presence = 'present';
        countVerified(ctx, `manifest ${lane.repo} ${manifest.digest}`, manifest.acked);
      }
    } else if (reply.status === 404 && errorCodes(reply).includes('MANIFEST_UNKNOWN')) {
      if (manifest.presence === 'present') ctx.fail('acked-manifest-lost', `${path}: acknowledged (201), now ${describe(reply)}`);
      if (manifest.presence === 'maybe') ctx.stats.uncertainFoundAbsent++;
      manifest.presence = 'absent';
    } else {
      ctx.fail('manifest-get', describe(reply));
    }
    manifest.checked = true;
  }
}

async function verifyTags(ctx: VerifyContext, lane: LaneState): Promise<void> {
  for (const [tag, state] of lane.tags) {
    const reply = await get(ctx, `/v2/${lane.repo}/manifests/${tag}`, { accept: ACCEPT });
    let found: string | null;
    if (reply.status === 200) found = String(reply.headers['docker-content-digest'] ?? '');
    else if (reply.status === 404 && errorCodes(reply).includes('MANIFEST_UNKNOWN')) found = null;
    else {
      ctx.fail('tag-get', describe(reply));
      continue;
    }
    if (!state.possible.has(found)) {
      const expected = [...state.possible].map((p) => p ?? 'no tag').join(' or ');
      ctx.fail('tag-wrong', `${lane.repo}:${tag} resolves to ${found ?? 'nothing'}, expected ${expected}`);
      continue;
    }
    if (found !== null) {
      const manifest = lane.manifests.get(found);
      if (!manifest || !reply.body.equals(manifest.bytes)) ctx.fail('tag-corrupt', `${lane.repo}:${tag}: bytes differ from those PUT for ${found}`);
      if (state.acked && found === state.current) countVerified(ctx, `tag ${lane.repo}:${tag} ${found}`, true);
    }
    state.current = found;
    state.possible.clear();
    state.possible.add(found);
  }
}

function countVerified(ctx: VerifyContext, key: string, acked: boolean): void {
  ctx.stats.checks++;
  if (acked) ctx.stats.verifiedObjects.add(key);
}

function get(ctx: VerifyContext, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return call(ctx.ch, 'verify', 'GET', path, { headers });
}

function send(ctx: VerifyContext, method: string, path: string, headers: Record<string, string | number>, body?: Buffer): Promise<Reply> {
  return call(ctx.ch, 'verify', method, path, body ? { headers, body } : { headers });
}
