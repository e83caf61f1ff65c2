import { createHash, createPublicKey, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { RegistryError } from '../errors/registry-error.ts';
import { formatScope, type AccessRequest, type Action, type Grants } from './access.ts';
import type { Authenticator } from './authenticator.ts';

/**
 * auth.token: Bearer JWTs from an external issuer, per the Docker token specification
 * (distribution docs/spec/auth/token.md and jwt.md) and distribution's registry/auth/token:
 *   - signed with a key whose certificate chains to `rootcertbundle` (header `x5c`), or named by
 *     `kid`: a libtrust key ID of a bundle certificate's key, or a key of the `jwks` file;
 *   - `iss` is `issuer`, `aud` contains `service`, `exp`/`nbf` hold (a minute of leeway);
 *   - `access` lists the granted `{type, name, actions}`.
 * A missing or bad token gets the challenge clients follow to the token server; a good token
 * without the scope gets the same challenge with error="insufficient_scope".
 */
export interface TokenOptions {
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  readonly rootcertbundle?: string;
  readonly jwks?: string;
}

interface Claims {
  readonly iss?: unknown;
  readonly aud?: unknown;
  readonly exp?: unknown;
  readonly nbf?: unknown;
  readonly sub?: unknown;
  readonly access?: unknown;
}

interface Granted {
  readonly type: string;
  readonly name: string;
  readonly actions: readonly string[];
}

const LEEWAY_SECONDS = 60;

/** JWS algorithms we verify, as node:crypto names them (RFC 7518 §3.1). */
const ALGORITHMS: Record<string, { hash: string | null; pss?: boolean }> = {
  RS256: { hash: 'sha256' },
  RS384: { hash: 'sha384' },
  RS512: { hash: 'sha512' },
  PS256: { hash: 'sha256', pss: true },
  PS384: { hash: 'sha384', pss: true },
  PS512: { hash: 'sha512', pss: true },
  ES256: { hash: 'sha256' },
  ES384: { hash: 'sha384' },
  ES512: { hash: 'sha512' },
  EdDSA: { hash: null },
};

export class TokenAuthenticator implements Authenticator {
  private readonly roots: readonly X509Certificate[];
  private readonly keysById = new Map<string, KeyObject>();

  constructor(private readonly options: TokenOptions) {
    this.roots = options.rootcertbundle ? parseCertificates(readFileSync(options.rootcertbundle, 'utf8')) : [];
    for (const root of this.roots) this.keysById.set(libtrustKeyId(root.publicKey), root.publicKey);
    if (options.jwks) {
      const { keys } = JSON.parse(readFileSync(options.jwks, 'utf8')) as { keys?: { kid?: string }[] };
      for (const jwk of keys ?? []) if (jwk.kid) this.keysById.set(jwk.kid, createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' }));
    }
  }

  async authorize(req: IncomingMessage, access: readonly AccessRequest[]): Promise<Grants> {
    const token = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!token) throw this.challenge(access, undefined, null);
    let grants: Grants;
    try {
      grants = this.verify(token);
    } catch (err) {
      throw this.challenge(access, 'invalid_token', { reason: (err as Error).message });
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
  verify(token: string): Grants {
    const [head, body, signature, extra] = token.split('.');
    if (head === undefined || body === undefined || signature === undefined || extra !== undefined) throw new Error('not a compact JWS');
    const header = decodeJson(head) as { alg?: unknown; kid?: unknown; x5c?: unknown };
    const algorithm = typeof header.alg === 'string' ? ALGORITHMS[header.alg] : undefined;
    if (!algorithm) throw new Error(`unsupported alg ${String(header.alg)}`);
    const key = this.signingKey(header);
    const ok = verify(
      algorithm.hash,
      Buffer.from(`${head}.${body}`),
      { key, dsaEncoding: 'ieee-p1363', ...(algorithm.pss ? { padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: -1 } : {}) },
      Buffer.from(signature, 'base64url'),
    );
    if (!ok) throw new Error('bad signature');
    return this.checkClaims(decodeJson(body) as Claims);
  }

  private signingKey(header: { kid?: unknown; x5c?: unknown }): KeyObject {
    if (Array.isArray(header.x5c) && header.x5c.length > 0) {
      const chain = header.x5c.map((c) => new X509Certificate(Buffer.from(String(c), 'base64')));
      for (let i = 0; i + 1 < chain.length; i++) {
        if (!(chain[i] as X509Certificate).verify((chain[i + 1] as X509Certificate).publicKey)) throw new Error('x5c chain does not verify');
      }
      const last = chain.at(-1) as X509Certificate;
      const anchored = this.roots.some((root) => root.fingerprint256 === last.fingerprint256 || last.verify(root.publicKey));
      if (!anchored) throw new Error('x5c chain does not lead to rootcertbundle');
      return (chain[0] as X509Certificate).publicKey;
    }
    if (typeof header.kid === 'string') {
      const key = this.keysById.get(header.kid);
      if (!key) throw new Error(`unknown kid ${header.kid}`);
      return key;
    }
    throw new Error('token names no key (kid or x5c)');
  }

  private checkClaims(claims: Claims): Grants {
    const now = Date.now() / 1000;
    if (claims.iss !== this.options.issuer) throw new Error('wrong issuer');
    const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!audiences.includes(this.options.service)) throw new Error('wrong audience');
    if (typeof claims.exp !== 'number' || claims.exp + LEEWAY_SECONDS < now) throw new Error('expired');
    if (typeof claims.nbf === 'number' && claims.nbf - LEEWAY_SECONDS > now) throw new Error('not valid yet');
    const granted: Granted[] = Array.isArray(claims.access) ? claims.access.filter(isGranted) : [];
    return {
      subject: typeof claims.sub === 'string' ? claims.sub : undefined,
      allows: (type, name, action: Action) =>
        granted.some((g) => g.type === type && g.name === name && (g.actions.includes(action) || g.actions.includes('*'))),
    };
  }
}

function isGranted(value: unknown): value is Granted {
  if (typeof value !== 'object' || value === null) return false;
  const { type, name, actions } = value as Record<string, unknown>;
  return typeof type === 'string' && typeof name === 'string' && Array.isArray(actions) && actions.every((a) => typeof a === 'string');
}

function decodeJson(part: string): unknown {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new Error('malformed token');
  }
}

function parseCertificates(pem: string): X509Certificate[] {
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) => new X509Certificate(m[0]));
}

/**
 * docker/libtrust's key ID, which distribution's token auth matches against `kid`: the first
 * 240 bits of SHA-256 over the DER SubjectPublicKeyInfo, base32, in 12 groups of 4 joined by ':'.
 */
export function libtrustKeyId(key: KeyObject): string {
  const digest = createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest().subarray(0, 30);
  const base32 = toBase32(digest);
  return base32.match(/.{4}/g)?.join(':') ?? base32;
}

function toBase32(bytes: Uint8Array): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}
