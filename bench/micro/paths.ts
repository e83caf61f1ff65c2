/**
 * Request paths the routing benches share: what clients send, from the shortest to the longest
 * legal name (255 characters, 64 components), including names made of action words.
 */
export const DIGEST = `sha256:${'a'.repeat(64)}`;
export const UUID = '3f2b9c1e-7d4a-4e8b-9a61-0c5d2e7f8a90';

/** 64 components of 'abc', cut to distribution's 255-character limit. */
export const LONGEST_NAME = Array.from({ length: 64 }, () => 'abc').join('/').slice(0, 255).replace(/\/$/, 'x');
export const DEEP_NAME = 'org/team/project/service/component/v2/linux/amd64';

export interface RoutingCase {
  readonly label: string;
  readonly method: string;
  readonly path: string;
  /** The repository name the pre-router must find (undefined for /v2/ and _catalog). */
  readonly name: string | undefined;
  /** The route id the router must pick (routing/routes.ts). */
  readonly routeId: string;
  readonly params: Readonly<Record<string, string>>;
}

export const ROUTING_CASES: readonly RoutingCase[] = [
  { label: 'GET /v2/', method: 'GET', path: '/v2/', name: undefined, routeId: 'end-1', params: {} },
  { label: 'GET manifest by tag (library/ubuntu)', method: 'GET', path: '/v2/library/ubuntu/manifests/latest', name: 'library/ubuntu', routeId: 'end-3', params: { reference: 'latest' } },
  { label: 'HEAD blob (library/ubuntu)', method: 'HEAD', path: `/v2/library/ubuntu/blobs/${DIGEST}`, name: 'library/ubuntu', routeId: 'end-2', params: { digest: DIGEST } },
  { label: 'GET tags list (8 components)', method: 'GET', path: `/v2/${DEEP_NAME}/tags/list`, name: DEEP_NAME, routeId: 'end-8a, end-8b', params: {} },
  { label: 'PATCH upload (8 components)', method: 'PATCH', path: `/v2/${DEEP_NAME}/blobs/uploads/${UUID}`, name: DEEP_NAME, routeId: 'end-5', params: { uuid: UUID } },
  { label: 'GET blob (name of action words)', method: 'GET', path: `/v2/x/blobs/uploads/manifests/blobs/${DIGEST}`, name: 'x/blobs/uploads/manifests', routeId: 'end-2', params: { digest: DIGEST } },
  { label: 'GET manifest (255-char name, 64 components)', method: 'GET', path: `/v2/${LONGEST_NAME}/manifests/latest`, name: LONGEST_NAME, routeId: 'end-3', params: { reference: 'latest' } },
  { label: 'POST upload (255-char name, 64 components)', method: 'POST', path: `/v2/${LONGEST_NAME}/blobs/uploads/`, name: LONGEST_NAME, routeId: 'end-4a, end-4b, end-11', params: {} },
];
