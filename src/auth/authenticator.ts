import type { IncomingMessage } from 'node:http';
import type { AccessRequest, Grants } from './access.ts';

/**
 * An authentication scheme (auth.htpasswd, auth.token). `authorize` returns the request's grants
 * when they cover `access`, and otherwise throws RegistryError('UNAUTHORIZED') carrying the
 * WWW-Authenticate challenge that docker, podman and skopeo follow.
 */
export interface Authenticator {
  authorize(req: IncomingMessage, access: readonly AccessRequest[]): Promise<Grants>;
}
