import fc from 'fast-check';

/*
 * Generators shared by the fuzz files, and the spec's grammars restated independently of
 * src/routing/names.ts and src/digest/digest.ts, so an oracle does not just echo the code under test.
 */

/** Spec `<name>`: path components of [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*, joined by '/'; 255 at most (distribution). */
const SPEC_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
export function isSpecName(name: string): boolean {
  return name.length > 0 && name.length <= 255 && name.split('/').every((c) => SPEC_COMPONENT.test(c));
}

/** Spec `<reference>` as a tag. */
export function isSpecTag(tag: string): boolean {
  return /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/.test(tag);
}

/** The digests Quayside addresses: sha256 and sha512, lower-case hex of their exact lengths. */
export function isAddressableDigest(digest: string): boolean {
  return /^(?:sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/.test(digest);
}

/** What find-my-way makes of a %-encoded route parameter: its decoding, or undefined (no route). */
export function decodeParam(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

const LOWER_ALNUM = [...'abcdefghijklmnopqrstuvwxyz0123456789'];
const HEX = [...'0123456789abcdef'];
const TAG_CHARS = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-'];

/** Characters node:http puts in a request path as they are (\u0021-\u007e: bytes above are no valid request-target, and node answers them itself) minus '?' (query) and '#'. */
const PATH_CHARS: readonly string[] = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)).filter((c) => c !== '?' && c !== '#');
/** Printable ASCII, as a header value may carry it. */
const HEADER_CHARS: readonly string[] = Array.from({ length: 0x7e - 0x20 + 1 }, (_, i) => String.fromCharCode(0x20 + i));

export function chars(alphabet: readonly string[], minLength: number, maxLength: number): fc.Arbitrary<string> {
  return fc.string({ unit: fc.constantFrom(...alphabet), minLength, maxLength });
}

export const pathJunk = (maxLength = 12): fc.Arbitrary<string> => chars(PATH_CHARS, 0, maxLength);
export const headerJunk = (maxLength = 40): fc.Arbitrary<string> => chars(HEADER_CHARS, 0, maxLength);

const alnum = chars(LOWER_ALNUM, 1, 8);
const separator = fc.constantFrom('.', '_', '__', '-', '--', '---');
const component = fc
  .tuple(alnum, fc.array(fc.tuple(separator, alnum), { maxLength: 3 }))
  .map(([head, rest]) => head + rest.map(([s, a]) => s + a).join(''));

/** The two longest legal shapes (255 characters): one component, and 16 components. */
const LONGEST_NAMES = ['z'.repeat(255), Array.from({ length: 16 }, (_, i) => `${String.fromCharCode(97 + i)}0-b1.c2_d3__e4`).join('/')];

export const validName: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.array(component, { minLength: 1, maxLength: 5 }).map((c) => c.join('/')).filter((n) => n.length <= 255) },
  { weight: 1, arbitrary: fc.constantFrom(...LONGEST_NAMES) },
);

/** Tokens that try to climb out of, or sneak past, a path segment. */
export const TRAVERSAL_TOKENS = [
  '..', '.', '...', '%2e%2e', '%2E%2E', '.%2e', '%2e.', '%2e', '..%2f', '..%2F', '%2e%2e%2f', '%2e%2e%2F', '%2F..%2F',
  '..%5c', '..%5C', '..\\', '\\..\\', '%252e%252e', '%252e%252e%252f', '%c0%ae%c0%ae', '%c0%af', '%e0%80%ae', '..%00', '%00',
  '..;', ';', '%3b', '~', '', '%2f', '%2F', '/', '//', '.%00.', '..%255c', '%u002e%u002e', '%ef%bc%8e%ef%bc%8e',
] as const;
export const traversalToken = fc.constantFrom(...TRAVERSAL_TOKENS);

/** Near-miss inserts: one character or escape that makes a component illegal. */
const NAME_POISON = [
  'A', 'Z', '%2e', '%2E', '%2f', '%2F', '%00', '%0a', '%20', '+', '%', '%zz', '%e2%80%8b', '%c3%a4', '%ef%bc%8e',
  ':', '@', '!', '$', '&', "'", '(', '*', ',', ';', '=', '[', ']', '{', '|', '\\', '^', '`', '~', '"', '<', '>',
] as const;

function insertAt(text: string, at: number, piece: string): string {
  const i = Math.min(at, text.length);
  return text.slice(0, i) + piece + text.slice(i);
}

/** Names that are almost valid: each one breaks the grammar in one way. */
export const nearMissName: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(validName, fc.nat(300), fc.constantFrom(...NAME_POISON)).map(([n, at, p]) => insertAt(n, at, p)),
  fc.tuple(validName, fc.nat(300)).map(([n, at]) => {
    const i = at % n.length;
    return n.slice(0, i) + n.charAt(i).toUpperCase() + n.slice(i + 1);
  }),
  fc.tuple(validName, fc.constantFrom('.', '_', '-', '__', '/', '//', '..', './', '../')).map(([n, s]) => s + n),
  fc.tuple(validName, fc.constantFrom('.', '_', '-', '__', '/', '//', '..', '/.', '/..')).map(([n, s]) => n + s),
  fc.tuple(validName, validName, fc.constantFrom('..', '.', '%2e%2e', '', '___', '.-', '-.', '_-', '..%2f')).map(([a, b, mid]) => `${a}/${mid}/${b}`),
  fc.tuple(component, component, fc.constantFrom('___', '..', '._', '_.', '.-', '-.', '_-', '-_', '%2e', '%5f')).map(([a, b, mid]) => a + mid + b),
  fc.tuple(validName, fc.constantFrom('%2F', '%2f', '%252F')).map(([n, slash]) => n.replaceAll('/', slash) + `${slash}x`),
  fc.tuple(validName, fc.integer({ min: 256, max: 6000 })).map(([n, length]) => (n + '/x0').repeat(Math.ceil(length / (n.length + 3))).slice(0, length).replace(/[/._-]+$/, '') + 'z'),
  fc.constantFrom('', 'a'.repeat(256), `${LONGEST_NAMES[1]}y`, 'v2', '_catalog', 'app/_catalog', '%C3%A4pp'),
  pathJunk(20),
);

/** Any name, mostly near misses; judge it with isSpecName. */
export const anyName: fc.Arbitrary<string> = fc.oneof(validName, nearMissName, nearMissName);

export const validTag: fc.Arbitrary<string> = fc
  .tuple(chars([...TAG_CHARS.filter((c) => c !== '.' && c !== '-')], 1, 1), chars(TAG_CHARS, 0, 20))
  .map(([first, rest]) => first + rest);

export const nearMissTag: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(fc.constantFrom('.', '-', '%2e', '%2d'), chars(TAG_CHARS, 0, 10)).map(([first, rest]) => first + rest),
  fc.tuple(validTag, fc.nat(40), fc.constantFrom(...NAME_POISON.filter((p) => p !== 'A' && p !== 'Z'), '%41', '%2F..%2F', '%3a')).map(([t, at, p]) => insertAt(t, at, p)),
  fc.integer({ min: 128, max: 2000 }).map((n) => 'x'.repeat(n)),
  fc.constantFrom('', '.', '..', '%2e%2e', 'latest%00', 'latest%20', 'latest%09', '%C3%A4'),
  pathJunk(16),
);

const ALGORITHMS = ['sha256', 'sha512', 'sha384', 'md5', 'sha1', 'blake3', 'SHA256', 'Sha512', 'sha256+b64', 'sha-256', 'sha_256', 'sha256.x', ''] as const;
const HEX_LENGTH_OF: Readonly<Record<string, number>> = { sha256: 64, sha512: 128, sha384: 96, md5: 32, sha1: 40, blake3: 64 };

/** Digests of every shape: right and wrong algorithms, lengths, cases, alphabets. */
export const anyDigest: fc.Arbitrary<string> = fc.oneof(
  fc
    .record({
      algorithm: fc.oneof(fc.constantFrom(...ALGORITHMS), chars(LOWER_ALNUM, 1, 10)),
      lengthDelta: fc.oneof(fc.constant(0), fc.constant(0), fc.constantFrom(-1, 1, 64, -64), fc.integer({ min: -200, max: 1200 })),
      hex: chars(HEX, 1, 32),
      shape: fc.constantFrom('lower', 'lower', 'lower', 'upper', 'mixed', 'non-hex', 'base64'),
      separator: fc.constantFrom(':', ':', ':', ':', '%3A', '%3a', '::', '='),
    })
    .map(({ algorithm, lengthDelta, hex, shape, separator }) => {
      const length = Math.max(0, (HEX_LENGTH_OF[algorithm] ?? 64) + lengthDelta);
      let encoded = hex.repeat(Math.ceil(length / hex.length)).slice(0, length);
      if (shape === 'upper') encoded = encoded.toUpperCase();
      if (shape === 'mixed') encoded = encoded.replace(/[a-f]/, (c) => c.toUpperCase());
      if (shape === 'non-hex') encoded = insertAt(encoded, length >> 1, 'g');
      if (shape === 'base64') encoded = insertAt(encoded, length >> 1, '=_-');
      return `${algorithm}${separator}${encoded}`;
    }),
  fc.tuple(chars(HEX, 64, 64), fc.constantFrom(...TRAVERSAL_TOKENS)).map(([hex, t]) => `sha256:${hex.slice(0, 60)}${t}`),
  pathJunk(20),
);

export const randomSha256 = chars(HEX, 64, 64).map((hex) => `sha256:${hex}`);

/** What upload ids look like: ours (UUIDs), distribution-shaped ones, and near misses. */
export const anyUploadId: fc.Arbitrary<string> = fc.oneof(
  fc.uuid(),
  chars([...LOWER_ALNUM, 'A', 'Z', '_', '-'], 1, 128).filter((id) => /^[a-zA-Z0-9]/.test(id)),
  fc.constantFrom('..', '.', '%2e%2e', '..%2F..%2Fdata', '-lead', '_lead', 'a%00b', 'x'.repeat(129), 'x'.repeat(1100), '%', '%zz', 'a%2Fb', 'a.b', '%C3%A4'),
  pathJunk(16),
);

/** Splices a traversal token into a path at a segment boundary, replacing or inserting. */
export const traversalSplice = fc.record({ token: traversalToken, at: fc.nat(20), replace: fc.boolean(), prefix: fc.constantFrom('', '', '', '/', '/.', '/v2/..', '/v2/%2e%2e') });

export function spliceTraversal(path: string, splice: { token: string; at: number; replace: boolean; prefix: string }): string {
  const segments = path.split('/');
  const at = 1 + (splice.at % (segments.length - 1));
  if (splice.replace) segments[at] = splice.token;
  else segments.splice(at, 0, splice.token);
  return splice.prefix + segments.join('/');
}
