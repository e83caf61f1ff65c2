import type { OutgoingHttpHeaders } from 'node:http';
import { parseDigest, type Digest } from '../digest/digest.ts';
import { RegistryError } from '../errors/registry-error.ts';
import { HEADER, parseBlobRange } from '../http/headers.ts';
import { sendBytes, sendEmpty, sendStream } from '../http/respond.ts';
import { SMALL_BLOB_MAX } from '../storage/blob-store.ts';
import type { Handler, RequestContext } from '../http/context.ts';
import { requireDeleteEnabled, requireParam } from './references.ts';

/** Blobs are served as opaque bytes, as distribution does; the manifest says what they are. */
const BLOB_CONTENT_TYPE = 'application/octet-stream';

/** end-2 (GET/HEAD): the blob as linked in this repository; one `Range` → 206 (RFC 9110). */
export const getBlob: Handler = (ctx) => {
  if (ctx.services.proxy?.intercepts(ctx)) return ctx.services.proxy.getBlob(ctx, getBlob);
  const digest = parseDigest(requireParam(ctx.params.digest, 'digest'));
  if (ctx.services.blobs.redirects && !fromOwnPage(ctx)) return redirectToStore(ctx, digest);
  // A cached small blob (configs, small layers, signatures): answered now, without an await.
  const cached = ctx.services.blobs.cachedSmall(ctx.params.name, digest);
  if (cached) return sendBlob(ctx, digest, cached.length, cached);
  return getStoredBlob(ctx, digest);
};

/**
 * A fetch from a page this registry served (the web UI, /ui/): browsers mark it with
 * `Sec-Fetch-Site: same-origin` (Fetch Metadata, a header scripts cannot set). A 307 to the
 * bucket would be refused there by the page's CSP (connect-src 'self') and by the bucket's CORS,
 * so such requests get the bytes from the registry. The UI only reads image configs this way;
 * every other client (no Fetch Metadata) is redirected as distribution does.
 */
function fromOwnPage(ctx: RequestContext): boolean {
  return ctx.req.headers['sec-fetch-site'] === 'same-origin';
}

/**
 * The blob is linked here: 307 to a URL where the store serves it (distribution's blobserver), so
 * the bytes never pass through a replica. Range and HEAD go to the store as the client sent them.
 */
async function redirectToStore(ctx: RequestContext, digest: Digest): Promise<void> {
  const size = await ctx.services.blobs.statInRepository(ctx.params.name, digest);
  if (size === undefined) throw new RegistryError('BLOB_UNKNOWN', { digest: digest.value });
  const location = ctx.services.blobs.redirectUrl(digest, ctx.req.method ?? 'GET');
  if (location === undefined) return sendBlob(ctx, digest, size, size === 0 ? Buffer.alloc(0) : undefined);
  ctx.services.notifications?.blobPulled(ctx, digest, size);
  sendEmpty(ctx.res, 307, { [HEADER.location]: location, [HEADER.contentDigest]: digest.value });
}

async function getStoredBlob(ctx: RequestContext, digest: Digest): Promise<void> {
  const { params, services } = ctx;
  const size = await services.blobs.statInRepository(params.name, digest);
  if (size === undefined) throw new RegistryError('BLOB_UNKNOWN', { digest: digest.value });
  if (size > SMALL_BLOB_MAX) return sendBlob(ctx, digest, size, undefined);
  const bytes = size === 0 ? Buffer.alloc(0) : await services.blobs.readSmall(digest);
  if (!bytes) throw new RegistryError('BLOB_UNKNOWN', { digest: digest.value });
  return sendBlob(ctx, digest, size, bytes);
}

/** The answer for a blob of `size` bytes: `bytes` when in memory, else streamed from storage. */
function sendBlob(ctx: RequestContext, digest: Digest, size: number, bytes: Buffer | undefined): Promise<void> | void {
  const { req, res, services } = ctx;
  const range = parseBlobRange(req.headers.range, size);
  if (range.kind === 'unsatisfiable') {
    res.setHeader(HEADER.contentRange, `bytes */${size}`);
    throw new RegistryError('BLOB_RANGE_INVALID', { size, range: req.headers.range });
  }
  const partial = range.kind === 'range';
  const start = partial ? range.range.start : 0;
  const end = partial ? range.range.end : size - 1;
  const headers: OutgoingHttpHeaders = {
    [HEADER.contentType]: BLOB_CONTENT_TYPE,
    [HEADER.contentDigest]: digest.value,
    [HEADER.etag]: `"${digest.value}"`,
    [HEADER.acceptRanges]: 'bytes',
    'cache-control': 'max-age=31536000',
  };
  if (partial) headers[HEADER.contentRange] = `bytes ${start}-${end}/${size}`;
  const status = partial ? 206 : 200;
  if (bytes) services.notifications?.blobPulled(ctx, digest, size);
  if (bytes) return sendBytes(req, res, status, partial ? bytes.subarray(start, end + 1) : bytes, headers);
  return services.blobs.open(digest, start, end).then((body) => {
    if (!body) throw new RegistryError('BLOB_UNKNOWN', { digest: digest.value });
    headers[HEADER.contentLength] = String(end - start + 1);
    services.notifications?.blobPulled(ctx, digest, size);
    return sendStream(req, res, status, headers, body);
  });
}

/** end-10: unlinks the blob from the repository (its bytes go at garbage collection). */
export const deleteBlob: Handler = async (ctx) => {
  const { res, params, services } = ctx;
  requireDeleteEnabled(services);
  const digest = parseDigest(requireParam(params.digest, 'digest'));
  if (!(await services.blobs.isLinked(params.name, digest))) throw new RegistryError('BLOB_UNKNOWN', { digest: digest.value });
  await services.blobs.unlink(params.name, digest);
  await services.notifications?.blobDeleted(ctx, digest);
  sendEmpty(res, 202, { [HEADER.contentDigest]: digest.value });
};
