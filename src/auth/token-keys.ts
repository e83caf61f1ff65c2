import { createHash, createPublicKey, X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/load.ts';

/**
 * The keys auth.token trusts, read once at start, and which JWS algorithms each may verify.
 * A problem with either file is a ConfigError (the CLI prints it and exits 1): a registry that
 * starts with half its keys would refuse good tokens later, far from the cause.
 */
export interface TrustedKey {
  readonly key: KeyObject;
  /** The only `alg` values a token signed by this key may carry. */
  readonly algorithms: readonly string[];
}

const RSA_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];

/** ECDSA binds one hash to one curve (RFC 7518 §3.4). */
const EC_ALGORITHMS: Readonly<Record<string, string>> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };

/**
 * `alg` bound to the key's type (issue 9): the header cannot pick the verification, so an ES256
 * header on an RSA key, a P-256 key asked for ES384, `none` and every HS* (the old trick of
 * HMAC with the public key as the secret) are refused. No symmetric key is ever trusted.
 */
export function algorithmsFor(key: KeyObject): readonly string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return RSA_ALGORITHMS;
    case 'rsa-pss':
      return RSA_ALGORITHMS.filter((alg) => alg.startsWith('PS'));
    case 'ec': {
      const alg = EC_ALGORITHMS[key.asymmetricKeyDetails?.namedCurve ?? ''];
      return alg ? [alg] : [];
    }
    case 'ed25519':
      // RFC 8037 `EdDSA`, and its fully specified name from RFC 9864.
      return ['EdDSA', 'Ed25519'];
    default:
      return [];
  }
}

/** rootcertbundle: PEM certificates; each one's key is also known by its libtrust key ID. */
export function loadRootCertBundle(path: string): X509Certificate[] {
  const pem = readConfigFile('auth.token.rootcertbundle', path);
  const blocks = [...pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)];
  if (blocks.length === 0) throw new ConfigError(`auth.token.rootcertbundle: ${path} holds no PEM certificate`);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block[0]);
    } catch (err) {
      throw new ConfigError(`auth.token.rootcertbundle: certificate ${i + 1} of ${path} does not parse: ${(err as Error).message}`);
    }
  });
}

/** jwks: a JSON Web Key Set (RFC 7517 §5) of public signing keys, each named by its `kid`. */
export function loadJwks(path: string): Map<string, TrustedKey> {
  const where = `auth.token.jwks: ${path}`;
  let set: unknown;
  try {
    set = JSON.parse(readConfigFile('auth.token.jwks', path));
  } catch (err) {
    throw err instanceof ConfigError ? err : new ConfigError(`${where} is not JSON: ${(err as Error).message}`);
  }
  const keys = isRecord(set) ? set['keys'] : undefined;
  if (!Array.isArray(keys) || keys.length === 0) throw new ConfigError(`${where} has no "keys" list`);
  const trusted = new Map<string, TrustedKey>();
  keys.forEach((jwk: unknown, i) => {
    const kid = isRecord(jwk) ? jwk['kid'] : undefined;
    if (!isRecord(jwk) || typeof kid !== 'string' || kid === '') throw new ConfigError(`${where}: keys[${i}] needs a "kid" (tokens name their key by it)`);
    if (trusted.has(kid)) throw new ConfigError(`${where}: kid "${kid}" appears twice`);
    trusted.set(kid, importSigningKey(jwk, `${where}: key "${kid}"`));
  });
  return trusted;
}

function importSigningKey(jwk: Record<string, unknown>, where: string): TrustedKey {
  if (jwk['kty'] === 'oct') throw new ConfigError(`${where} is a symmetric key; tokens must be signed with a private key`);
  if (jwk['use'] !== undefined && jwk['use'] !== 'sig') throw new ConfigError(`${where} has use "${String(jwk['use'])}", not "sig"`);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  } catch (err) {
    throw new ConfigError(`${where} cannot be imported: ${(err as Error).message}`);
  }
  const algorithms = algorithmsFor(key);
  if (algorithms.length === 0) throw new ConfigError(`${where}: no JWS algorithm uses a ${key.asymmetricKeyType ?? 'such'} key of this kind`);
  const alg = jwk['alg'];
  if (alg === undefined) return { key, algorithms };
  // RFC 7517 §4.4: a key's `alg` narrows it to that one algorithm.
  if (typeof alg !== 'string' || !algorithms.includes(alg)) throw new ConfigError(`${where} has alg ${JSON.stringify(alg)}, which its key type cannot verify`);
  return { key, algorithms: [alg] };
}

function readConfigFile(setting: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${setting}: cannot read ${path}: ${(err as Error).message}`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
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
