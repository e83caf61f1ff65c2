import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { bcryptVerify } from 'hash-wasm';
import { RegistryError } from '../errors/registry-error.ts';
import type { AccessRequest, Grants } from './access.ts';
import type { Authenticator } from './authenticator.ts';

/**
 * auth.htpasswd: HTTP Basic against an htpasswd file of bcrypt entries (`htpasswd -B`), as the
 * reference registry reads it. Every authenticated user may do everything (distribution's rule).
 * bcrypt is slow on purpose (tens of ms); a verified user:password pair is remembered by its
 * SHA-256 for a minute, so a push of many layers does not pay it per request.
 */
const VERIFIED_TTL_MS = 60_000;

export class HtpasswdAuthenticator implements Authenticator {
  private readonly users: ReadonlyMap<string, string>;
  private readonly verified = new Map<string, number>();

  constructor(
    private readonly realm: string,
    path: string,
  ) {
    this.users = parseHtpasswd(readFileSync(path, 'utf8'));
  }

  async authorize(req: IncomingMessage, _access: readonly AccessRequest[]): Promise<Grants> {
    const credentials = basicCredentials(req.headers.authorization);
    if (!credentials || !(await this.check(credentials.user, credentials.password))) {
      throw new RegistryError('UNAUTHORIZED', credentials ? { reason: 'invalid username or password' } : null, {
        headers: { 'www-authenticate': `Basic realm="${this.realm}"` },
      });
    }
    return { subject: credentials.user, allows: () => true };
  }

  private async check(user: string, password: string): Promise<boolean> {
    const hash = this.users.get(user);
    if (!hash) return false;
    const key = createHash('sha256').update(`${user}\0${password}\0${hash}`).digest('hex');
    const until = this.verified.get(key);
    if (until !== undefined && until > Date.now()) return true;
    const ok = await bcryptVerify({ password, hash }).catch(() => false);
    if (ok) {
      if (this.verified.size > 10_000) this.verified.clear();
      this.verified.set(key, Date.now() + VERIFIED_TTL_MS);
    }
    return ok;
  }
}

/** `user:$2y$...` lines; comments and blank lines skipped; only bcrypt entries are accepted. */
export function parseHtpasswd(text: string): Map<string, string> {
  const users = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const colon = trimmed.indexOf(':');
    const hash = trimmed.slice(colon + 1);
    if (colon > 0 && /^\$2[aby]\$\d\d\$/.test(hash)) users.set(trimmed.slice(0, colon), hash);
  }
  return users;
}

function basicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
