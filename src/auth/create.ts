import type { Config } from '../config/schema.ts';
import type { Authenticator } from './authenticator.ts';
import { HtpasswdAuthenticator } from './htpasswd.ts';
import { TokenAuthenticator } from './token.ts';

/** The configured scheme (config `auth`), or undefined: an open registry. */
export function createAuthenticator(config: Config): Authenticator | undefined {
  if (config.auth.htpasswd) return new HtpasswdAuthenticator(config.auth.htpasswd.realm, config.auth.htpasswd.path);
  if (config.auth.token) return new TokenAuthenticator(config.auth.token);
  return undefined;
}
