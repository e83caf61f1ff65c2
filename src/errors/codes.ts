/**
 * Every error Quayside puts on the wire, in one table.
 *
 * Keys are Quayside's error names; `code` is the wire code. Wire codes are the OCI
 * distribution-spec "Error Codes" (code-1 … code-14) or distribution extras that clients already
 * know. Default statuses follow distribution's registry/api/errcode/register.go, so side-by-side
 * runs against docker-registry agree; a row that differs says why in `ref`.
 *
 * Handlers throw `new RegistryError(name, detail)`; http/server.ts is the one place that answers.
 */
export const errorTable = {
  BLOB_UNKNOWN: { code: 'BLOB_UNKNOWN', status: 404, ref: 'code-1', message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { code: 'BLOB_UPLOAD_INVALID', status: 400, ref: 'code-2', message: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { code: 'BLOB_UPLOAD_UNKNOWN', status: 404, ref: 'code-3', message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { code: 'DIGEST_INVALID', status: 400, ref: 'code-4', message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { code: 'MANIFEST_BLOB_UNKNOWN', status: 400, ref: 'code-5', message: 'manifest references a manifest or blob unknown to registry' },
  MANIFEST_INVALID: { code: 'MANIFEST_INVALID', status: 400, ref: 'code-6', message: 'manifest invalid' },
  MANIFEST_UNKNOWN: { code: 'MANIFEST_UNKNOWN', status: 404, ref: 'code-7', message: 'manifest unknown to registry' },
  NAME_INVALID: { code: 'NAME_INVALID', status: 400, ref: 'code-8', message: 'invalid repository name' },
  NAME_UNKNOWN: { code: 'NAME_UNKNOWN', status: 404, ref: 'code-9', message: 'repository name not known to registry' },
  SIZE_INVALID: { code: 'SIZE_INVALID', status: 400, ref: 'code-10', message: 'provided length did not match content length' },
  UNAUTHORIZED: { code: 'UNAUTHORIZED', status: 401, ref: 'code-11', message: 'authentication required' },
  DENIED: { code: 'DENIED', status: 403, ref: 'code-12', message: 'requested access to the resource is denied' },
  UNSUPPORTED: { code: 'UNSUPPORTED', status: 405, ref: 'code-13', message: 'the operation is unsupported' },
  TOOMANYREQUESTS: { code: 'TOOMANYREQUESTS', status: 429, ref: 'code-14', message: 'too many requests' },
  // end-5/end-6: a chunk that does not start at the current size MUST get 416. distribution sends
  // its own RANGE_INVALID code here; it is not in the OCI list, so we send code-2 with the 416.
  RANGE_NOT_SATISFIABLE: { code: 'BLOB_UPLOAD_INVALID', status: 416, ref: 'end-5, end-6', message: 'chunk out of order; GET the upload for its current range' },
  // A blob GET with a Range outside the blob (RFC 9110 §15.5.17).
  BLOB_RANGE_INVALID: { code: 'BLOB_UNKNOWN', status: 416, ref: 'end-2 (RFC 9110 Range)', message: 'requested range not satisfiable' },
  // The spec puts a 4 MiB floor under manifest size and says larger MAY get 413 (spec "Pushing Manifests").
  MANIFEST_TOO_LARGE: { code: 'MANIFEST_INVALID', status: 413, ref: 'end-7 (413)', message: 'manifest exceeds the size limit' },
  // quayside.limits.uploadsize: the blob would grow past the configured limit (RFC 9110 §15.5.14).
  UPLOAD_TOO_LARGE: { code: 'BLOB_UPLOAD_INVALID', status: 413, ref: 'code-2 (413, quayside.limits.uploadsize)', message: 'upload exceeds the size limit' },
  // Requests node's HTTP parser refuses before routing (RFC 9112 framing, RFC 6585 §5 431).
  HTTP_REQUEST_INVALID: { code: 'UNSUPPORTED', status: 400, ref: 'code-13 (400, RFC 9112: malformed request)', message: 'malformed HTTP request' },
  HEADERS_TOO_LARGE: { code: 'UNSUPPORTED', status: 431, ref: 'code-13 (431, RFC 6585)', message: 'request headers too large' },
  // A path that is no route at all: distribution answers a bare 404; we keep the JSON body.
  ROUTE_UNKNOWN: { code: 'UNSUPPORTED', status: 404, ref: 'distribution (404 page not found)', message: 'no such endpoint' },
  // distribution extras that clients already understand.
  TAG_INVALID: { code: 'TAG_INVALID', status: 400, ref: 'distribution', message: 'manifest tag did not match URI' },
  PAGINATION_NUMBER_INVALID: { code: 'PAGINATION_NUMBER_INVALID', status: 400, ref: 'distribution', message: 'invalid number of results requested' },
  // The disk (or quota) is full: not the client's fault, so a 5xx, but a named one that says what
  // to fix; nothing already stored is touched (RFC 4918 §11.5).
  STORAGE_FULL: { code: 'UNKNOWN', status: 507, ref: 'distribution (UNKNOWN) with RFC 4918 507', message: 'storage is full' },
  // Internal faults only: bad input never lands here.
  UNKNOWN: { code: 'UNKNOWN', status: 500, ref: 'distribution', message: 'unknown error' },
} as const satisfies Record<string, { code: string; status: number; ref: string; message: string }>;

export type ErrorName = keyof typeof errorTable;
