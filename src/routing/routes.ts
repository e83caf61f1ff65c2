import { getBase } from '../handlers/base.ts';
import { deleteBlob, getBlob } from '../handlers/blobs.ts';
import { getCatalog } from '../handlers/catalog.ts';
import { deleteManifest, getManifest, putManifest } from '../handlers/manifests.ts';
import { getReferrers } from '../handlers/referrers.ts';
import { getTags } from '../handlers/tags.ts';
import { deleteUpload, getUploadStatus, patchUpload, postUpload, putUpload } from '../handlers/uploads.ts';
import type { Handler } from '../http/context.ts';

export type Method = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

/**
 * THE route table. `id` is the endpoint's id in the OCI distribution-spec endpoint table, so
 * `grep end-5` lands on the route, its handler and its tests. Paths are what find-my-way sees
 * after routing/split-name.ts has encoded the repository name into one segment.
 */
export interface Route {
  readonly id: string;
  readonly method: Method;
  readonly path: string;
  readonly handler: Handler;
}

export const routes: readonly Route[] = [
  { id: 'end-1', method: 'GET', path: '/v2/', handler: getBase },
  { id: 'end-1', method: 'HEAD', path: '/v2/', handler: getBase },
  { id: 'catalog', method: 'GET', path: '/v2/_catalog', handler: getCatalog },
  { id: 'end-2', method: 'GET', path: '/v2/:name/blobs/:digest', handler: getBlob },
  { id: 'end-2', method: 'HEAD', path: '/v2/:name/blobs/:digest', handler: getBlob },
  { id: 'end-10', method: 'DELETE', path: '/v2/:name/blobs/:digest', handler: deleteBlob },
  { id: 'end-3', method: 'GET', path: '/v2/:name/manifests/:reference', handler: getManifest },
  { id: 'end-3', method: 'HEAD', path: '/v2/:name/manifests/:reference', handler: getManifest },
  { id: 'end-7', method: 'PUT', path: '/v2/:name/manifests/:reference', handler: putManifest },
  { id: 'end-9', method: 'DELETE', path: '/v2/:name/manifests/:reference', handler: deleteManifest },
  { id: 'end-4a, end-4b, end-11', method: 'POST', path: '/v2/:name/blobs/uploads/', handler: postUpload },
  { id: 'end-5', method: 'PATCH', path: '/v2/:name/blobs/uploads/:uuid', handler: patchUpload },
  { id: 'end-6', method: 'PUT', path: '/v2/:name/blobs/uploads/:uuid', handler: putUpload },
  { id: 'end-13', method: 'GET', path: '/v2/:name/blobs/uploads/:uuid', handler: getUploadStatus },
  { id: 'cancel', method: 'DELETE', path: '/v2/:name/blobs/uploads/:uuid', handler: deleteUpload },
  { id: 'end-8a, end-8b', method: 'GET', path: '/v2/:name/tags/list', handler: getTags },
  { id: 'end-12a, end-12b', method: 'GET', path: '/v2/:name/referrers/:digest', handler: getReferrers },
];
