/**
 * What a request needs, in the Docker token spec's terms (docs "Token Scope Documentation"):
 * `repository:<name>:<actions>` and `registry:catalog:*`. Every authenticator answers the same
 * question: may this request have these?
 */
export type Action = 'pull' | 'push' | 'delete' | '*';

export interface AccessRequest {
  readonly type: 'repository' | 'registry';
  readonly name: string;
  readonly actions: readonly Action[];
}

/**
 * Per route (routing/routes.ts): which actions on the request's repository it needs. `none`
 * needs no action but still an authenticated client (GET /v2/ answers the challenge); `public`
 * is not authenticated at all (the load balancer probes /livez and /readyz, which say nothing
 * about the registry's content, and the web UI's files, which hold no data: its page reads the
 * API, whose auth applies).
 */
export type RouteAccess = 'none' | 'public' | 'pull' | 'push' | 'delete' | 'catalog';

export function accessFor(kind: RouteAccess, name: string): AccessRequest[] {
  switch (kind) {
    case 'none':
    case 'public':
      return [];
    case 'catalog':
      return [{ type: 'registry', name: 'catalog', actions: ['*'] }];
    case 'pull':
      return [{ type: 'repository', name, actions: ['pull'] }];
    // distribution asks pull and push of every upload step and manifest PUT.
    case 'push':
      return [{ type: 'repository', name, actions: ['pull', 'push'] }];
    case 'delete':
      return [{ type: 'repository', name, actions: ['delete'] }];
  }
}

export function formatScope(access: readonly AccessRequest[]): string {
  return access.map((a) => `${a.type}:${a.name}:${a.actions.join(',')}`).join(' ');
}

/** What an authenticated request may do; handlers ask it for extra access (a mount's source). */
export interface Grants {
  readonly subject: string | undefined;
  allows(type: AccessRequest['type'], name: string, action: Action): boolean;
}

export const ALLOW_ALL: Grants = { subject: undefined, allows: () => true };

export function covers(grants: Grants, access: readonly AccessRequest[]): boolean {
  return access.every((a) => a.actions.every((action) => grants.allows(a.type, a.name, action)));
}
