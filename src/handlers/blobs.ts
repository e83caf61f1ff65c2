import type { OutgoingHttpHeaders } from 'node:http';
import { parseDigest } from '../digest/digest.ts';
import { RegistryError } from '../errors/registry-error.ts';
import { HEADER, parseBlobRange } from '../http/headers.ts';
import { sendBytes, sendEmpty, sendStream } from '../http/respond.ts';
import { SMALL_BLOB_MAX } from '../storage/blob-store.ts';
import type { Handler } from '../http/context.ts';
import { requireDeleteEnabled, requireParam } from './references.ts';

/** Blobs are served as opaque bytes, as distribution does; the manifest says what they are. */
const BLOB_CONTENT_TYPE = 'application/octet-stream';

/** end-2 (GET/HEAD): the blob as linked in this repository; one `Range` → 206 (RFC 9110). */
export const getBlob: Handler = async ({ req, res, params, services }) => {
  const digest = parseDigest(requireParam(params.digest, 'digest'));
  const size = await services.blobs.statInRepository(params.name, digest);
  if (size === undefined) throw new RegistryError('BLOB_UNKNOWN', { digest: digest.value });

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
  if (size <= SMALL_BLOB_MAX) {
    const bytes = size === 0 ? Buffer.alloc(0) : await services.blobs.readSmall(digest);
    if (!bytes) throw new RegistryError('BLOB_UNKNOWN', { digest: digest.value });
    sendBytes(req, res, status, partial ? bytes.subarray(start, end + 1) : bytes, headers);
    return;
  }
  const body = await services.blobs.open(digest, start, end);
  if (!body) throw new RegistryError('BLOB_UNKNOWN', { digest: digest.value });
  headers[HEADER.contentLength] = String(end - start + 1);
  await sendStream(req, res, status, headers, body);
};

/** end-10: unlinks the blob from the repository (its bytes go at garbage collection). */
export const deleteBlob: Handler = async ({ res, params, services }) => {
  requireDeleteEnabled(services);
  const digest = parseDigest(requireParam(params.digest, 'digest'));
  if (!(await services.blobs.isLinked(params.name, digest))) throw new RegistryError('BLOB_UNKNOWN', { digest: digest.value });
  await services.blobs.unlink(params.name, digest);
  sendEmpty(res, 202, { [HEADER.contentDigest]: digest.value });
};
