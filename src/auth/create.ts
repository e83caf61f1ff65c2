import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { Authenticator } from './authenticator.ts';

/**
 * The configured scheme (config `auth`), or undefined: an open registry. Each scheme's module is
 * loaded only when configured: bcrypt (a native addon) and jose stay out of an open registry's
 * start-up (issue 12).
 */
export async function createAuthenticator(config: Config, log?: Logger): Promise<Authenticator | undefined> {
  if (config.auth.htpasswd) {
    const { HtpasswdAuthenticator } = await import('./htpasswd.ts');
    return new HtpasswdAuthenticator(config.auth.htpasswd.realm, config.auth.htpasswd.path, log);
  }
  if (config.auth.token) {
    const { TokenAuthenticator } = await import('./token.ts');
    return new TokenAuthenticator(config.auth.token);
  }
  return undefined;
}
