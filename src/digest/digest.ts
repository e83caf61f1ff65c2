import { RegistryError } from '../errors/registry-error.ts';

/**
 * Digests as the spec writes them: `algorithm ":" encoded` (spec "Digests"). Registries SHOULD
 * support sha256 and MAY support sha512; we accept both, with their fixed hex lengths. Anything
 * else is DIGEST_INVALID (code-4), and never reaches a storage path.
 */
export type Algorithm = 'sha256' | 'sha512';

export interface Digest {
  readonly algorithm: Algorithm;
  readonly hex: string;
  /** The canonical `algorithm:hex` string. */
  readonly value: string;
}

const GRAMMAR = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const HEX_LENGTH: Record<Algorithm, number> = { sha256: 64, sha512: 128 };

function isAlgorithm(s: string): s is Algorithm {
  return s === 'sha256' || s === 'sha512';
}

/** Parses a digest, or returns undefined when it is not one we can address. */
export function tryParseDigest(text: string): Digest | undefined {
  if (text.length > 256 || !GRAMMAR.test(text)) return undefined;
  const colon = text.indexOf(':');
  const algorithm = text.slice(0, colon);
  const hex = text.slice(colon + 1);
  if (!isAlgorithm(algorithm)) return undefined;
  if (hex.length !== HEX_LENGTH[algorithm] || !/^[0-9a-f]+$/.test(hex)) return undefined;
  return { algorithm, hex, value: text };
}

export function parseDigest(text: string): Digest {
  const digest = tryParseDigest(text);
  if (!digest) throw new RegistryError('DIGEST_INVALID', { digest: text.slice(0, 300), reason: 'not a supported digest (sha256:<64 hex> or sha512:<128 hex>)' });
  return digest;
}

export function looksLikeDigest(text: string): boolean {
  return text.includes(':');
}

export function sha256Digest(hex: string): Digest {
  return { algorithm: 'sha256', hex, value: `sha256:${hex}` };
}
