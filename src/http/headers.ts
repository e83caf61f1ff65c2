/** Header names we send or read, lower-case as node:http reports them. */
export const HEADER = {
  apiVersion: 'docker-distribution-api-version',
  contentDigest: 'docker-content-digest',
  uploadUuid: 'docker-upload-uuid',
  location: 'location',
  range: 'range',
  contentRange: 'content-range',
  contentLength: 'content-length',
  contentType: 'content-type',
  acceptRanges: 'accept-ranges',
  link: 'link',
  ociSubject: 'oci-subject',
  ociFiltersApplied: 'oci-filters-applied',
  etag: 'etag',
  contentTypeOptions: 'x-content-type-options',
} as const;

export const API_VERSION = 'registry/2.0';

/** Inclusive byte range. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

const MAX_OFFSET = Number.MAX_SAFE_INTEGER;

/**
 * Content-Range of a chunk (end-5): the spec writes `<start>-<end>`, inclusive. Clients in the
 * wild also send the RFC 9110 form `bytes <start>-<end>/<size|*>`; both are accepted.
 * undefined for anything else (the caller answers 416).
 */
export function parseContentRange(value: string): ByteRange | undefined {
  const match = /^(?:bytes )?(\d{1,16})-(\d{1,16})(?:\/(?:\d{1,16}|\*))?$/.exec(value.trim());
  if (!match) return undefined;
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (start > end || end > MAX_OFFSET) return undefined;
  return { start, end };
}

/** The `Range`/`Location` value the spec uses for an upload's received bytes: `0-<last>`; "0-0" when empty. */
export function formatUploadRange(size: number): string {
  return `0-${Math.max(0, size - 1)}`;
}

export type BlobRange = { kind: 'none' } | { kind: 'range'; range: ByteRange } | { kind: 'unsatisfiable' };

/**
 * A blob GET's Range (RFC 9110 §14.2): one `bytes=` range. A header we cannot use (several
 * ranges, other units, bad syntax) is ignored and the whole blob is sent, as the RFC allows.
 */
export function parseBlobRange(value: string | undefined, size: number): BlobRange {
  if (value === undefined) return { kind: 'none' };
  const match = /^bytes=(\d{0,16})-(\d{0,16})$/.exec(value.trim());
  if (!match || (match[1] === '' && match[2] === '')) return { kind: 'none' };
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'range', range: { start: Math.max(0, size - suffix), end: size - 1 } };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (match[2] !== '' && Number(match[2]) < start) return { kind: 'none' };
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'range', range: { start, end } };
}
