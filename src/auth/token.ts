import type { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { RegistryError } from '../errors/registry-error.ts';
import { formatScope, type AccessRequest, type Action, type Grants } from './access.ts';
import type { Authenticator } from './authenticator.ts';
import { algorithmsFor, libtrustKeyId, loadJwks, loadRootCertBundle, type TrustedKey } from './token-keys.ts';
import { trustedX5cKey } from './x5c.ts';

/**
 * auth.token: Bearer JWTs from an external issuer, per the Docker token specification
 * (distribution docs/spec/auth/token.md and jwt.md) and distribution's registry/auth/token:
 *   - signed with a key whose certificate chains to `rootcertbundle` (header `x5c`), or named by
 *     `kid`: a libtrust key ID of a bundle certificate's key, or a key of the `jwks` file;
 *   - `iss` is `issuer`, `aud` contains `service`, `exp`/`nbf` hold (a minute of leeway);
 *   - `access` lists the granted `{type, name, actions}`.
 * The JWS itself is verified by jose, with `alg` limited to what the resolved key's type can do
 * (token-keys.ts). A missing or bad token gets the challenge clients follow to the token server;
 * a good token without the scope gets the same challenge with error="insufficient_scope".
 */
export interface TokenOptions {
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  readonly rootcertbundle?: string;
  readonly jwks?: string;
}

interface Granted {
  readonly type: string;
  readonly name: string;
  readonly actions: readonly string[];
}

/** For exp/nbf and for certificate validity: clocks of issuer and registry differ a little. */
const LEEWAY_SECONDS = 60;

export class TokenAuthenticator implements Authenticator {
  private readonly roots: readonly X509Certificate[];
  private readonly keysById = new Map<string, TrustedKey>();

  /** Throws ConfigError when rootcertbundle or jwks cannot be read or holds no usable key. */
  constructor(private readonly options: TokenOptions) {
    this.roots = options.rootcertbundle ? loadRootCertBundle(options.rootcertbundle) : [];
    for (const root of this.roots) this.keysById.set(libtrustKeyId(root.publicKey), { key: root.publicKey, algorithms: algorithmsFor(root.publicKey) });
    if (options.jwks) for (const [kid, key] of loadJwks(options.jwks)) this.keysById.set(kid, key);
  }

  async authorize(req: IncomingMessage, access: readonly AccessRequest[]): Promise<Grants> {
    const token = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!token) throw this.challenge(access, undefined, null);
    let grants: Grants;
    try {
      grants = await this.verify(token);
    } catch (err) {
      throw this.challenge(access, 'invalid_token', { reason: err instanceof Error ? err.message : String(err) });
    }
    for (const a of access) {
      for (const action of a.actions) {
        if (!grants.allows(a.type, a.name, action)) throw this.challenge(access, 'insufficient_scope', { missing: `${a.type}:${a.name}:${action}` });
      }
    }
    return grants;
  }

  private challenge(access: readonly AccessRequest[], error: string | undefined, detail: unknown): RegistryError {
    const parts = [`realm="${this.options.realm}"`, `service="${this.options.service}"`];
    if (access.length > 0) parts.push(`scope="${formatScope(access)}"`);
    if (error) parts.push(`error="${error}"`);
    return new RegistryError('UNAUTHORIZED', detail, { headers: { 'www-authenticate': `Bearer ${parts.join(',')}` } });
  }

  /** The token's grants; throws with the reason when it is not a token we accept. */
  async verify(token: string): Promise<Grants> {
    const { key, algorithms } = this.signingKey(decodeProtectedHeader(token));
    if (algorithms.length === 0) throw new Error(`no JWS algorithm is allowed for a ${key.asymmetricKeyType ?? 'symmetric'} key`);
    const { payload } = await jwtVerify(token, key, {
      algorithms: [...algorithms],
      issuer: this.options.issuer,
      audience: this.options.service,
      clockTolerance: LEEWAY_SECONDS,
      requiredClaims: ['exp'],
    });
    return grantsOf(payload);
  }

  private signingKey(header: { kid?: unknown; x5c?: unknown }): TrustedKey {
    if (header.x5c !== undefined) {
      const key = trustedX5cKey(header.x5c, this.roots, LEEWAY_SECONDS * 1000);
      return { key, algorithms: algorithmsFor(key) };
    }
    if (typeof header.kid === 'string') {
      const trusted = this.keysById.get(header.kid);
      if (!trusted) throw new Error(`unknown kid ${header.kid}`);
      return trusted;
    }
    throw new Error('token names no key (kid or x5c)');
  }
}

function grantsOf(claims: JWTPayload): Grants {
  const access = claims['access'];
  const granted: Granted[] = Array.isArray(access) ? access.filter(isGranted) : [];
  return {
    subject: typeof claims.sub === 'string' ? claims.sub : undefined,
    allows: (type, name, action: Action) =>
      granted.some((g) => g.type === type && g.name === name && (g.actions.includes(action) || g.actions.includes('*'))),
  };
}

function isGranted(value: unknown): value is Granted {
  if (typeof value !== 'object' || value === null) return false;
  const { type, name, actions } = value as Record<string, unknown>;
  return typeof type === 'string' && typeof name === 'string' && Array.isArray(actions) && actions.every((a) => typeof a === 'string');
}
