import { parseDigest } from '../digest/digest.ts';
import { RegistryError } from '../errors/registry-error.ts';
import { HEADER, parseBlobRange } from '../http/headers.ts';
import { sendEmpty, sendStream } from '../http/respond.ts';
import type { Handler } from '../http/context.ts';
import { requireDeleteEnabled, requireParam } from './references.ts';

/** Blobs are served as opaque bytes, as distribution does; the manifest says what they are. */
const BLOB_CONTENT_TYPE = 'application/octet-stream';

/** end-2 (GET/HEAD): the blob as linked in this repository; one `Range` → 206 (RFC 9110). */
export const getBlob: Handler = async ({ req, res, params, services }) => {
  const digest = parseDigest(requireParam(params.digest, 'digest'));
  const size = await services.blobs.statInRepository(params.name, digest);
  if (size === undefined) throw new RegistryError('BLOB_UNKNOWN', { digest: digest.value });

  const common = {
    [HEADER.contentType]: BLOB_CONTENT_TYPE,
    [HEADER.contentDigest]: digest.value,
    [HEADER.etag]: `"${digest.value}"`,
    [HEADER.acceptRanges]: 'bytes',
    'cache-control': 'max-age=31536000',
  };
  const range = parseBlobRange(req.headers.range, size);
  if (range.kind === 'unsatisfiable') {
    res.setHeader(HEADER.contentRange, `bytes */${size}`);
    throw new RegistryError('BLOB_RANGE_INVALID', { size, range: req.headers.range });
  }
  const start = range.kind === 'range' ? range.range.start : 0;
  const end = range.kind === 'range' ? range.range.end : size - 1;
  const body = size === 0 ? undefined : await services.blobs.open(digest, start, end);
  if (size > 0 && !body) throw new RegistryError('BLOB_UNKNOWN', { digest: digest.value });
  if (!body) {
    sendEmpty(res, 200, common);
    return;
  }
  const status = range.kind === 'range' ? 206 : 200;
  await sendStream(req, res, status, {
    ...common,
    [HEADER.contentLength]: String(end - start + 1),
    ...(status === 206 ? { [HEADER.contentRange]: `bytes ${start}-${end}/${size}` } : {}),
  }, body);
};

/** end-10: unlinks the blob from the repository (its bytes go at garbage collection). */
export const deleteBlob: Handler = async ({ res, params, services }) => {
  requireDeleteEnabled(services);
  const digest = parseDigest(requireParam(params.digest, 'digest'));
  if (!(await services.blobs.isLinked(params.name, digest))) throw new RegistryError('BLOB_UNKNOWN', { digest: digest.value });
  await services.blobs.unlink(params.name, digest);
  sendEmpty(res, 202, { [HEADER.contentDigest]: digest.value });
};
