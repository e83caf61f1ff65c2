import type { IncomingMessage } from 'node:http';
import { parseDigest, type Digest } from '../digest/digest.ts';
import { RegistryError } from '../errors/registry-error.ts';
import { formatUploadRange, HEADER, parseContentRange, type ByteRange } from '../http/headers.ts';
import { hasBody } from '../http/request-body.ts';
import { sendEmpty } from '../http/respond.ts';
import type { Handler, RequestContext } from '../http/context.ts';
import { isValidName } from '../routing/names.ts';
import type { UploadRef } from '../uploads/session.ts';
import type { Writer } from '../uploads/upload-lock.ts';
import { requireParam } from './references.ts';

/*
 * The upload protocol, as real clients drive it:
 *
 *   docker push (one streamed PATCH per layer)     containerd / oras / skopeo (chunked)
 *   POST   /v2/<name>/blobs/uploads/    → 202      POST   /v2/<name>/blobs/uploads/    → 202
 *   PATCH  <Location>  (no Content-Range,          PATCH  <Location>  Content-Range: 0-N → 202
 *          chunked body)                 → 202     PATCH  <Location>  Content-Range: N+1-M → 202
 *   PUT    <Location>?digest=sha256:…    → 201     PUT    <Location>?digest=sha256:…    → 201
 *
 * plus POST ?digest= with the whole body (end-4b), POST ?mount=&from= (end-11), GET for the
 * received range after a lost connection (end-13), and DELETE to cancel.
 */

function uploadLocation(ref: UploadRef): string {
  return `/v2/${ref.repo}/blobs/uploads/${ref.id}`;
}

function sendUploadAccepted(ctx: RequestContext, status: 202 | 204, ref: UploadRef, size: number): void {
  sendEmpty(ctx.res, status, {
    [HEADER.location]: uploadLocation(ref),
    [HEADER.range]: formatUploadRange(size),
    [HEADER.uploadUuid]: ref.id,
  });
}

function sendBlobCreated(ctx: RequestContext, digest: Digest): void {
  sendEmpty(ctx.res, 201, {
    [HEADER.location]: `/v2/${ctx.params.name}/blobs/${digest.value}`,
    [HEADER.contentDigest]: digest.value,
  });
}

/**
 * The chunk's range from Content-Range (end-5), checked against Content-Length. Absent means a
 * streamed append. A header we cannot read, or one that disagrees with the length, is 416.
 */
function chunkRange(ctx: RequestContext): ByteRange | undefined {
  const header = ctx.req.headers[HEADER.contentRange];
  if (header === undefined) return undefined;
  const range = parseContentRange(header);
  if (!range) throw new RegistryError('RANGE_NOT_SATISFIABLE', { contentRange: header.slice(0, 100), reason: 'Content-Range must be <start>-<end>' });
  const length = ctx.req.headers[HEADER.contentLength];
  if (length !== undefined && Number(length) !== range.end - range.start + 1) {
    throw new RegistryError('RANGE_NOT_SATISFIABLE', { contentRange: header, contentLength: length, reason: 'Content-Length does not match Content-Range' });
  }
  return range;
}

/** Content-Length of the body when the client declared one (not chunked). */
function declaredLength(ctx: RequestContext): number | undefined {
  const value = ctx.req.headers[HEADER.contentLength];
  return value !== undefined && /^\d{1,16}$/.test(value) ? Number(value) : undefined;
}

/** A writer whose socket has read nothing for this long, while its body is being read, has stalled. */
const STALLED_AFTER_MS = 250;

/**
 * How later requests on the upload see this one (uploads/upload-lock.ts). A close is only known
 * once node reads it; `socket.bytesRead` is sampled at each look, so a client is called idle only
 * after its socket was read from for a while with nothing arriving, which a close would have ended.
 */
function writerOf(req: IncomingMessage): Writer {
  const socket = req.socket;
  let seen = socket.bytesRead;
  let seenAt = Date.now();
  return () => {
    if (req.complete || req.destroyed || socket.destroyed || socket.readableEnded) return 'finishing';
    if (socket.bytesRead !== seen) {
      seen = socket.bytesRead;
      seenAt = Date.now();
      return 'busy';
    }
    if (req.readableFlowing !== true) return 'busy';
    return Date.now() - seenAt >= STALLED_AFTER_MS ? 'idle' : 'busy';
  };
}

/**
 * Runs `fn` holding the upload; a request carrying bytes also takes a place at the gate. An
 * upload another live request is writing to is refused with 416 (end-5: the client asks GET for
 * the range and goes on from there) rather than queued behind a body that may never end. A
 * writer whose client is gone, or not yet known to be there, is waited for, briefly: a client
 * that reconnects after a drop must not be told "busy" by its own dead connection (issue 9).
 */
async function underLock<T>(ctx: RequestContext, ref: UploadRef, fn: () => Promise<T>): Promise<T> {
  const leave = hasBody(ctx.req) ? ctx.services.uploadGate.enter() : () => undefined;
  const busy = (): RegistryError => new RegistryError('RANGE_NOT_SATISFIABLE', { uuid: ref.id, reason: 'another request is writing to this upload' });
  try {
    return await ctx.services.uploadLocks.runExclusive(ref.id, writerOf(ctx.req), busy, fn);
  } finally {
    leave();
  }
}

/** end-4a (start), end-4b (monolithic, ?digest=), end-11 (cross-repository mount, ?mount=&from=). */
export const postUpload: Handler = async (ctx) => {
  const { query, services, params } = ctx;
  const mount = query.get('mount');
  if (mount !== null) {
    const digest = parseDigest(mount);
    if (await tryMount(ctx, digest, query.get('from'))) {
      services.catalog.noteWrite(params.name);
      sendBlobCreated(ctx, digest);
      return;
    }
  }
  const digestParam = query.get('digest');
  const digest = digestParam === null ? undefined : parseDigest(digestParam);
  const ref = await services.uploads.create(params.name);
  services.catalog.noteWrite(params.name);
  if (!digest) {
    sendUploadAccepted(ctx, 202, ref, 0);
    return;
  }
  const { size } = await underLock(ctx, ref, async () => {
    if (hasBody(ctx.req)) await services.uploads.append(ref, undefined, ctx.req, declaredLength(ctx));
    return services.uploads.commit(ref, digest);
  });
  await services.notifications?.blobPushed(ctx, digest, size);
  sendBlobCreated(ctx, digest);
};

/** end-11: link a blob from `from` into this repository without moving a byte. */
async function tryMount(ctx: RequestContext, digest: Digest, from: string | null): Promise<boolean> {
  if (from === null) return false;
  if (!isValidName(from)) throw new RegistryError('NAME_INVALID', { from: from.slice(0, 300) });
  // Mounting reads the source: without pull on it, fall back to an upload (as distribution does).
  if (!ctx.grants.allows('repository', from, 'pull')) return false;
  const { blobs } = ctx.services;
  const size = await blobs.statInRepository(from, digest);
  if (size === undefined) return false;
  await blobs.link(ctx.params.name, digest);
  await ctx.services.notifications?.blobMounted(ctx, digest, size, from);
  return true;
}

/** end-5: a chunk (Content-Range) or a streamed body (none) appended to the upload. */
export const patchUpload: Handler = async (ctx) => {
  const ref = { repo: ctx.params.name, id: requireParam(ctx.params.uuid, 'uuid') };
  // The upload is held from the first moment: a client that drops and at once asks GET for the
  // status must find this request there, so the answer waits for the bytes it keeps (end-13).
  const size = await underLock(ctx, ref, async () => {
    await ctx.services.uploads.offset(ref.repo, ref.id);
    const range = chunkRange(ctx);
    return ctx.services.uploads.append(ref, range?.start, ctx.req, declaredLength(ctx));
  });
  sendUploadAccepted(ctx, 202, ref, size);
};

/** end-6: the last chunk (optional) and the digest; 201 when the bytes hash to it. */
export const putUpload: Handler = async (ctx) => {
  const ref = { repo: ctx.params.name, id: requireParam(ctx.params.uuid, 'uuid') };
  const digestParam = ctx.query.get('digest');
  if (digestParam === null) throw new RegistryError('DIGEST_INVALID', { reason: 'PUT needs ?digest=' });
  const digest = parseDigest(digestParam);
  const { size } = await underLock(ctx, ref, async () => {
    await ctx.services.uploads.offset(ref.repo, ref.id);
    const range = chunkRange(ctx);
    if (hasBody(ctx.req)) await ctx.services.uploads.append(ref, range?.start, ctx.req, declaredLength(ctx));
    return ctx.services.uploads.commit(ref, digest);
  });
  await ctx.services.notifications?.blobPushed(ctx, digest, size);
  sendBlobCreated(ctx, digest);
};

/**
 * end-13: where the upload stands. A client that lost its connection reads this to resume, at
 * once; the registry only sees the connection go when it next reads that socket, and then keeps
 * the bytes that arrived. So this waits, as a new writer would, for a request still writing
 * unless it is a live one that has stalled: the answer then includes the kept bytes.
 */
export const getUploadStatus: Handler = async (ctx) => {
  const id = requireParam(ctx.params.uuid, 'uuid');
  await ctx.services.uploadLocks.released(id);
  const offset = await ctx.services.uploads.offset(ctx.params.name, id);
  sendUploadAccepted(ctx, 204, { repo: ctx.params.name, id }, offset);
};

/**
 * Cancels an upload; afterwards it is BLOB_UPLOAD_UNKNOWN (code-3). It does not wait for a
 * request still writing: that one fails when its next batch finds the upload gone.
 */
export const deleteUpload: Handler = async (ctx) => {
  const ref = { repo: ctx.params.name, id: requireParam(ctx.params.uuid, 'uuid') };
  await ctx.services.uploads.cancel(ref);
  sendEmpty(ctx.res, 204);
};
