import { getBase } from '../handlers/base.ts';
import { deleteBlob, getBlob } from '../handlers/blobs.ts';
import { getCatalog } from '../handlers/catalog.ts';
import { deleteManifest, getManifest, putManifest } from '../handlers/manifests.ts';
import { getReferrers } from '../handlers/referrers.ts';
import { getTags } from '../handlers/tags.ts';
import { getLivez, getReadyz } from '../metrics/probes.ts';
import { deleteUpload, getUploadStatus, patchUpload, postUpload, putUpload } from '../handlers/uploads.ts';
import type { Handler } from '../http/context.ts';
import { getRoot, getUiAsset, getUiPage, getUiRedirect } from '../ui/handlers.ts';
import type { RouteAccess } from '../auth/access.ts';

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
  /** What the request needs on its repository when auth is on (auth/access.ts). */
  readonly access: RouteAccess;
}

export const routes: readonly Route[] = [
  { id: 'end-1', method: 'GET', path: '/v2/', handler: getBase, access: 'none' },
  { id: 'end-1', method: 'HEAD', path: '/v2/', handler: getBase, access: 'none' },
  { id: 'catalog', method: 'GET', path: '/v2/_catalog', handler: getCatalog, access: 'catalog' },
  { id: 'end-2', method: 'GET', path: '/v2/:name/blobs/:digest', handler: getBlob, access: 'pull' },
  { id: 'end-2', method: 'HEAD', path: '/v2/:name/blobs/:digest', handler: getBlob, access: 'pull' },
  { id: 'end-10', method: 'DELETE', path: '/v2/:name/blobs/:digest', handler: deleteBlob, access: 'delete' },
  { id: 'end-3', method: 'GET', path: '/v2/:name/manifests/:reference', handler: getManifest, access: 'pull' },
  { id: 'end-3', method: 'HEAD', path: '/v2/:name/manifests/:reference', handler: getManifest, access: 'pull' },
  { id: 'end-7', method: 'PUT', path: '/v2/:name/manifests/:reference', handler: putManifest, access: 'push' },
  { id: 'end-9', method: 'DELETE', path: '/v2/:name/manifests/:reference', handler: deleteManifest, access: 'delete' },
  { id: 'end-4a, end-4b, end-11', method: 'POST', path: '/v2/:name/blobs/uploads/', handler: postUpload, access: 'push' },
  { id: 'end-5', method: 'PATCH', path: '/v2/:name/blobs/uploads/:uuid', handler: patchUpload, access: 'push' },
  { id: 'end-6', method: 'PUT', path: '/v2/:name/blobs/uploads/:uuid', handler: putUpload, access: 'push' },
  { id: 'end-13', method: 'GET', path: '/v2/:name/blobs/uploads/:uuid', handler: getUploadStatus, access: 'push' },
  { id: 'cancel', method: 'DELETE', path: '/v2/:name/blobs/uploads/:uuid', handler: deleteUpload, access: 'push' },
  { id: 'end-8a, end-8b', method: 'GET', path: '/v2/:name/tags/list', handler: getTags, access: 'pull' },
  { id: 'end-12a, end-12b', method: 'GET', path: '/v2/:name/referrers/:digest', handler: getReferrers, access: 'pull' },
  // The web UI (src/ui/): static files, no data, so no auth; the page reads the API above, whose auth applies.
  { id: 'ui-root', method: 'GET', path: '/', handler: getRoot, access: 'public' },
  { id: 'ui-root', method: 'HEAD', path: '/', handler: getRoot, access: 'public' },
  { id: 'ui', method: 'GET', path: '/ui', handler: getUiRedirect, access: 'public' },
  { id: 'ui', method: 'HEAD', path: '/ui', handler: getUiRedirect, access: 'public' },
  { id: 'ui', method: 'GET', path: '/ui/', handler: getUiPage, access: 'public' },
  { id: 'ui', method: 'HEAD', path: '/ui/', handler: getUiPage, access: 'public' },
  { id: 'ui', method: 'GET', path: '/ui/:asset', handler: getUiAsset, access: 'public' },
  { id: 'ui', method: 'HEAD', path: '/ui/:asset', handler: getUiAsset, access: 'public' },
  // Probes for load balancers and Kubernetes (zot's names), outside /v2/ and without auth (metrics/probes.ts).
  { id: 'livez', method: 'GET', path: '/livez', handler: getLivez, access: 'public' },
  { id: 'livez', method: 'HEAD', path: '/livez', handler: getLivez, access: 'public' },
  { id: 'readyz', method: 'GET', path: '/readyz', handler: getReadyz, access: 'public' },
  { id: 'readyz', method: 'HEAD', path: '/readyz', handler: getReadyz, access: 'public' },
];
