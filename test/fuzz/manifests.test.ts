import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { describe, type Reply } from '../helpers/assertions.ts';
import { DOCKER_CONFIG, DOCKER_LAYER, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_EMPTY, pushBlobMonolithic, pushImageManifest, readJson, type Descriptor } from '../helpers/manifest-fixtures.ts';
import { OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, sha256 } from '../helpers/oci-client.ts';
import { anyDigest, isAddressableDigest, randomSha256, validTag } from './generators.ts';
import { checkProperty, expectAlive, expectOutcome, fireChecked, startFuzzRegistry, type FuzzRequest } from './harness.ts';

/*
 * Property-based tests of manifest PUT (end-7): valid manifests of every kind must be stored and
 * served back byte for byte; malformed JSON, wrong media types, wrong field types, duplicate
 * keys, deep nesting, huge arrays and oversize bodies must be refused with the right 4xx.
 */

const { url, tally } = await startFuzzRegistry('manifests');

const REPO = 'app';
/** The spec's floor for manifest size (spec "Pushing Manifests"), and Quayside's limit. */
const LIMIT = 4 * 1024 * 1024;
/** Quayside's default manifests.maxReferences (storage/manifest-store.ts). */
const MAX_REFERENCES = 10_000;
const TOO_MANY = [[400, 'MANIFEST_INVALID']] as const;

async function blobDescriptor(bytes: string, mediaType: string): Promise<Descriptor> {
  return { mediaType, digest: await pushBlobMonolithic(url, REPO, bytes), size: Buffer.byteLength(bytes) };
}
const ociConfig = await blobDescriptor('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}', OCI_CONFIG);
const dockerConfig = await blobDescriptor('{"architecture":"arm64","os":"linux"}', DOCKER_CONFIG);
const emptyConfig = await blobDescriptor('{}', OCI_EMPTY);
const layers = await Promise.all(['layer one', 'layer two', 'layer three', ''].map((l) => blobDescriptor(l, OCI_LAYER)));
const children = [(await pushImageManifest(url, REPO, 'child-a', { config: '{"a":1}' })).descriptor, (await pushImageManifest(url, REPO, 'child-b', { config: '{"b":1}', layers: ['b'] })).descriptor];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function toJson(descriptor: Descriptor): JsonObject {
  return JSON.parse(JSON.stringify(descriptor)) as JsonObject;
}

// ---------------------------------------------------------------------------------------------
// Valid manifests

const annotations = fc.dictionary(fc.string({ maxLength: 16 }), fc.string({ maxLength: 32 }), { maxKeys: 4 });
const anyMediaType = fc.oneof(fc.constantFrom(OCI_LAYER, DOCKER_LAYER, 'application/octet-stream', 'application/vnd.example.thing.v1+json', 'text/plain; charset=utf-8'), fc.string({ minLength: 1, maxLength: 40 }));
/** Fields a manifest may carry that no one reads: they must be stored, never judged. */
const extras = fc.dictionary(fc.string({ maxLength: 10 }).map((k) => `x-${k}`), fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>, { maxKeys: 3 });

const layerDescriptor: fc.Arbitrary<JsonObject> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ pick: fc.nat(layers.length - 1), mediaType: anyMediaType, annotations: fc.option(annotations) }).map(({ pick, mediaType, annotations: a }) => ({ ...toJson(layers[pick] as Descriptor), mediaType, ...(a ? { annotations: a } : {}) })) },
  // A foreign layer (urls): its bytes live elsewhere, so its digest need not exist here.
  { weight: 1, arbitrary: fc.record({ digest: randomSha256, urls: fc.array(fc.webUrl(), { minLength: 1, maxLength: 2 }), size: fc.nat(1 << 30) }).map(({ digest, urls, size }) => ({ mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', digest, size, urls })) },
);
const subjectDescriptor: fc.Arbitrary<JsonObject> = fc.oneof(
  fc.constantFrom(...children.map(toJson)),
  // OCI 1.1: a subject need not exist (the referrer may be pushed first).
  randomSha256.map((digest) => ({ mediaType: OCI_MANIFEST, digest, size: 1234 })),
  fc.constant({ mediaType: OCI_MANIFEST, digest: `sha512:${'c'.repeat(128)}`, size: 99 }),
);

interface ValidCase {
  readonly kind: string;
  readonly json: JsonObject;
  /** The type the manifest is served with afterwards. */
  readonly mediaType: string;
  readonly subject: string | undefined;
  /** What the referrers API must list it as (artifactType, else an image's config media type). */
  readonly artifactType: string | undefined;
}

const validCase: fc.Arbitrary<ValidCase> = fc.oneof(
  fc
    .record({ docker: fc.boolean(), layers: fc.array(layerDescriptor, { maxLength: 5 }), subject: fc.option(subjectDescriptor, { freq: 3 }), artifactType: fc.option(anyMediaType, { freq: 3 }), annotations: fc.option(annotations), extras })
    .map(({ docker, layers: ls, subject, artifactType, annotations: a, extras: x }): ValidCase => {
      const mediaType = docker ? DOCKER_MANIFEST : OCI_MANIFEST;
      const config = docker ? dockerConfig : ociConfig;
      const json: JsonObject = { ...x, schemaVersion: 2, mediaType, ...(artifactType !== null ? { artifactType } : {}), config: toJson(config), layers: ls, ...(subject ? { subject } : {}), ...(a ? { annotations: a } : {}) };
      return { kind: docker ? 'docker image' : 'oci image', json, mediaType, subject: subject?.['digest'] as string | undefined, artifactType: artifactType ?? config.mediaType };
    }),
  fc
    .record({ artifactType: anyMediaType, layers: fc.array(layerDescriptor, { maxLength: 2 }), subject: subjectDescriptor, annotations: fc.option(annotations) })
    .map(({ artifactType, layers: ls, subject, annotations: a }): ValidCase => ({
      kind: 'artifact',
      json: { schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType, config: toJson(emptyConfig), layers: ls, subject, ...(a ? { annotations: a } : {}) },
      mediaType: OCI_MANIFEST,
      subject: subject['digest'] as string,
      artifactType,
    })),
  fc
    .record({ docker: fc.boolean(), children: fc.array(fc.constantFrom(...children), { maxLength: 4 }), platform: fc.boolean(), subject: fc.option(subjectDescriptor, { freq: 3 }), artifactType: fc.option(anyMediaType, { freq: 3 }), annotations: fc.option(annotations), extras })
    .map(({ docker, children: cs, platform, subject, artifactType, annotations: a, extras: x }): ValidCase => {
      const mediaType = docker ? DOCKER_MANIFEST_LIST : OCI_INDEX;
      const manifests = cs.map((c) => ({ ...toJson(c), ...(platform ? { platform: { architecture: 'amd64', os: 'linux' } } : {}) }));
      const json: JsonObject = { ...x, schemaVersion: 2, mediaType, ...(artifactType !== null ? { artifactType } : {}), manifests, ...(subject ? { subject } : {}), ...(a ? { annotations: a } : {}) };
      return { kind: docker ? 'docker list' : 'oci index', json, mediaType, subject: subject?.['digest'] as string | undefined, artifactType: artifactType ?? undefined };
    }),
);

/** How the bytes are laid out and labelled; none of it may change the answer. */
const presentation = fc.record({
  indent: fc.constantFrom(0, 0, 2, '\t', 7),
  reverseKeys: fc.boolean(),
  padding: fc.constantFrom('', '', ' ', '\n', '\r\n\t  '),
  contentType: fc.constantFrom('exact', 'exact', 'params', 'upper', 'omit-field'),
  reference: fc.oneof({ weight: 2, arbitrary: validTag }, { weight: 1, arbitrary: fc.constantFrom('sha256', 'sha512') }),
});

function reverseKeys(value: Json): Json {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reverseKeys(v)]));
}

function put(reference: string, body: Buffer | string, contentType: string | undefined, extra: Partial<FuzzRequest> = {}): Promise<Reply> {
  return fireChecked(url, tally, { method: 'PUT', path: `/v2/${REPO}/manifests/${reference}`, headers: contentType === undefined ? {} : { 'content-type': contentType }, body, ...extra });
}

test('fuzz manifests (end-7): every valid manifest is stored (201) and served back byte for byte, with its type, digest and referrers', async () => {
  await checkProperty(tally, 'valid', fc.tuple(validCase, presentation), 120, async ([c, p]) => {
    // OCI makes mediaType a SHOULD: without it the registry goes by Content-Type (Docker's schema 2 requires the field).
    const omitField = p.contentType === 'omit-field' && (c.mediaType === OCI_MANIFEST || c.mediaType === OCI_INDEX);
    const json: Json = omitField ? Object.fromEntries(Object.entries(c.json).filter(([k]) => k !== 'mediaType')) : c.json;
    const text = p.padding + JSON.stringify(p.reverseKeys ? reverseKeys(json) : json, null, p.indent) + p.padding;
    const body = Buffer.from(text);
    const contentType = p.contentType === 'params' ? `${c.mediaType}; charset=utf-8` : p.contentType === 'upper' ? c.mediaType.toUpperCase() : c.mediaType;
    const digest = p.reference === 'sha512' ? `sha512:${createHash('sha512').update(body).digest('hex')}` : sha256(body);
    const reference = p.reference === 'sha256' || p.reference === 'sha512' ? digest : p.reference;
    const why = `${c.kind} PUT by ${p.reference} (${body.length} bytes, Content-Type ${contentType}${omitField ? ', no mediaType field' : ''})`;

    const reply = await put(reference, body, contentType);
    assert.equal(reply.status, 201, `${why}\n${text.slice(0, 1500)}\n${describe(reply)}`);
    assert.equal(reply.headers.get('docker-content-digest'), digest, `${why}\n${describe(reply)}`);
    assert.equal(reply.headers.get('location'), `/v2/${REPO}/manifests/${digest}`, `${why}\n${describe(reply)}`);
    assert.equal(reply.headers.get('oci-subject'), c.subject ?? null, `${why}: OCI-Subject\n${describe(reply)}`);

    const got = await fireChecked(url, tally, { method: 'GET', path: `/v2/${REPO}/manifests/${reference}`, headers: { accept: `${OCI_MANIFEST}, ${OCI_INDEX}, ${DOCKER_MANIFEST}, ${DOCKER_MANIFEST_LIST}` } });
    assert.equal(got.status, 200, `${why}\n${describe(got)}`);
    assert.ok(got.body.equals(body), `${why}: GET returned other bytes\n${describe(got)}`);
    assert.equal(got.headers.get('content-type'), c.mediaType, `${why}: served with another type\n${describe(got)}`);
    assert.equal(got.headers.get('docker-content-digest'), digest, `${why}\n${describe(got)}`);

    if (c.subject !== undefined) {
      const referrers = await fireChecked(url, tally, { method: 'GET', path: `/v2/${REPO}/referrers/${c.subject}` });
      assert.equal(referrers.status, 200, describe(referrers));
      const listed = readJson<{ manifests: Array<{ digest: string; artifactType?: string; mediaType: string; size: number }> }>(referrers).manifests.find((m) => m.digest === digest);
      assert.ok(listed, `${why}: not among the referrers of ${c.subject}\n${describe(referrers)}`);
      assert.deepEqual([listed.artifactType, listed.mediaType, listed.size], [c.artifactType, c.mediaType, body.length], `${why}: referrers descriptor\n${describe(referrers)}`);
    }
  });
  await expectAlive(url, tally);
});

// ---------------------------------------------------------------------------------------------
// Invalid manifests: one flaw each, and the code that flaw must get.

interface InvalidCase {
  readonly label: string;
  readonly body: Buffer;
  readonly contentType: string | undefined;
  readonly status: number;
  readonly code: string;
}

const baseImage = (): JsonObject => ({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: toJson(ociConfig), layers: [toJson(layers[0] as Descriptor)] });
const baseIndex = (): JsonObject => ({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [toJson(children[0] as Descriptor)] });
const invalid = (label: string, body: Buffer | string, contentType: string | undefined = OCI_MANIFEST, code = 'MANIFEST_INVALID', status = 400): InvalidCase => ({ label, body: Buffer.from(body), contentType, status, code });

/** JSON values of every type, for a field that wants another. */
const JSON_OF_EVERY_TYPE: Readonly<Record<string, readonly string[]>> = {
  number: ['0', '-1', '1.5', '2.5e0', '1e400', '-1e400', '9007199254740993', '1e21'],
  string: ['""', '"x"', '"2"', '"sha256:"', `"${'s'.repeat(300)}"`, '"\\u0000"'],
  boolean: ['true', 'false'],
  null: ['null'],
  array: ['[]', '[1]', '["a"]', '[{}]', '[[]]'],
  object: ['{}', '{"a":1}', '{"mediaType":"x"}'],
};
/** Field paths the validator types, with the JSON type each must have. */
const TYPED_FIELDS: ReadonlyArray<readonly [kind: 'image' | 'index', path: readonly (string | number)[], type: string]> = [
  ['image', ['schemaVersion'], 'number'],
  ['image', ['mediaType'], 'string'],
  ['image', ['artifactType'], 'string'],
  ['image', ['config'], 'object'],
  ['image', ['config', 'mediaType'], 'string'],
  ['image', ['config', 'digest'], 'string'],
  ['image', ['config', 'size'], 'number'],
  ['image', ['config', 'urls'], 'array'],
  ['image', ['layers'], 'array'],
  ['image', ['layers', 0], 'object'],
  ['image', ['layers', 0, 'mediaType'], 'string'],
  ['image', ['layers', 0, 'digest'], 'string'],
  ['image', ['layers', 0, 'size'], 'number'],
  ['image', ['layers', 0, 'urls'], 'array'],
  ['image', ['subject'], 'object'],
  ['image', ['subject', 'digest'], 'string'],
  ['image', ['subject', 'size'], 'number'],
  ['image', ['subject', 'mediaType'], 'string'],
  ['image', ['annotations'], 'object'],
  ['image', ['annotations', 'k'], 'string'],
  ['index', ['manifests'], 'array'],
  ['index', ['manifests', 0], 'object'],
  ['index', ['manifests', 0, 'digest'], 'string'],
  ['index', ['manifests', 0, 'size'], 'number'],
  ['index', ['manifests', 0, 'mediaType'], 'string'],
  ['index', ['artifactType'], 'string'],
  ['index', ['annotations'], 'object'],
];

/** `json` with the value at `path` replaced by the raw JSON text `raw` (so 1e400 and \u0000 reach the server as written). */
function withRawAt(json: JsonObject, path: readonly (string | number)[], raw: string): string {
  const marker = '__quayside_fuzz_marker__';
  const copy = JSON.parse(JSON.stringify(json)) as JsonObject;
  if (path[0] === 'subject' && copy['subject'] === undefined) copy['subject'] = toJson(children[0] as Descriptor);
  if (path[0] === 'annotations' && copy['annotations'] === undefined) copy['annotations'] = { k: 'v' };
  let at: Json = copy;
  for (const key of path.slice(0, -1)) at = (at as Record<string | number, Json>)[key] as Json;
  (at as Record<string | number, Json>)[path.at(-1) as string | number] = marker;
  return JSON.stringify(copy).replace(`"${marker}"`, raw);
}

const wrongType: fc.Arbitrary<InvalidCase> = fc
  .tuple(fc.constantFrom(...TYPED_FIELDS), fc.constantFrom(...Object.keys(JSON_OF_EVERY_TYPE)), fc.nat(20))
  .filter(([[, , type], other]) => other !== type)
  .map(([[kind, path, type], other, i]) => {
    const values = JSON_OF_EVERY_TYPE[other] as readonly string[];
    const raw = values[i % values.length] as string;
    const base = kind === 'image' ? baseImage() : baseIndex();
    return invalid(`${kind} ${path.join('.')} (a ${type}) = ${raw.slice(0, 40)}`, withRawAt(base, path, raw), base['mediaType'] as string);
  });

/** Values of the right JSON type that are still wrong. */
const wrongValue: fc.Arbitrary<InvalidCase> = fc.oneof(
  fc.constantFrom(['schemaVersion', '1'], ['schemaVersion', '3'], ['schemaVersion', '2.5'], ['schemaVersion', '-2'], ['config', 'size', '-1'], ['config', 'size', '0.5'], ['config', 'size', '1e400'], ['config', 'size', '9007199254740992'], ['config', 'mediaType', '""'], ['layers', 0, 'size', '-0.1'], ['subject', 'size', '-5']).map((row) => {
    const raw = row.at(-1) as string;
    const path = row.slice(0, -1) as (string | number)[];
    return invalid(`image ${path.join('.')} = ${raw}`, withRawAt(baseImage(), path, raw));
  }),
  fc.tuple(fc.constantFrom(['config', 'digest'], ['layers', 0, 'digest'], ['subject', 'digest'], ['manifests', 0, 'digest']), anyDigest.filter((d) => !isAddressableDigest(d))).map(([path, digest]) => {
    const base = path[0] === 'manifests' ? baseIndex() : baseImage();
    return invalid(`${path.join('.')} = ${digest.slice(0, 60)}`, withRawAt(base, path, JSON.stringify(digest)), base['mediaType'] as string);
  }),
);

const KNOWN_TYPES = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST];
const IMAGE_TYPES = [OCI_MANIFEST, DOCKER_MANIFEST];
/** Media types that cannot describe the body: unknown, schema 1, the other kind, or disagreeing with Content-Type. */
const wrongMediaType: fc.Arbitrary<InvalidCase> = fc.oneof(
  fc.tuple(fc.boolean(), fc.oneof(fc.constantFrom('application/json', 'application/vnd.docker.distribution.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws', OCI_CONFIG, OCI_LAYER, '', 'application/vnd.oci.image.manifest.v2+json', `${OCI_MANIFEST} `), fc.string({ maxLength: 30 })).filter((t) => !KNOWN_TYPES.includes(t))).map(([index, type]) => {
    const json = index ? baseIndex() : baseImage();
    return invalid(`${index ? 'index' : 'image'} with mediaType ${JSON.stringify(type)}`, JSON.stringify({ ...json, mediaType: type }), 'application/json');
  }),
  fc.constantFrom(...KNOWN_TYPES).map((type) => {
    const json = IMAGE_TYPES.includes(type) ? baseIndex() : baseImage();
    return invalid(`${IMAGE_TYPES.includes(type) ? 'index' : 'image'} shape declared ${type}`, JSON.stringify({ ...json, mediaType: type }), type);
  }),
  fc.tuple(fc.constantFrom(...KNOWN_TYPES), fc.constantFrom(...KNOWN_TYPES)).filter(([a, b]) => a !== b).map(([declared, header]) => {
    const json = IMAGE_TYPES.includes(declared) ? baseImage() : baseIndex();
    return invalid(`declared ${declared}, Content-Type ${header}`, JSON.stringify({ ...json, mediaType: declared }), header);
  }),
  fc.constantFrom(DOCKER_MANIFEST, DOCKER_MANIFEST_LIST).map((type) => {
    const json = type === DOCKER_MANIFEST ? baseImage() : baseIndex();
    delete json['mediaType'];
    return invalid(`${type} without its mediaType field`, JSON.stringify(json), type);
  }),
  fc.constant(invalid('schema 1', JSON.stringify({ schemaVersion: 1, name: 'app', tag: 'v1', fsLayers: [], history: [] }), 'application/vnd.docker.distribution.manifest.v1+prettyjws')),
);

const validText = JSON.stringify(baseImage());
const malformedJson: fc.Arbitrary<InvalidCase> = fc.oneof(
  fc.integer({ min: 0, max: validText.length - 1 }).map((n) => invalid(`truncated at ${n}`, validText.slice(0, n))),
  fc.uint8Array({ minLength: 0, maxLength: 200 }).map((bytes) => invalid('random bytes', Buffer.from(bytes))),
  fc.constantFrom(
    ['BOM', `\uFEFF${validText}`],
    ['trailing comma', `${validText.slice(0, -1)},}`],
    ['trailing garbage', `${validText}x`],
    ['two objects', `${validText}${validText}`],
    ['single quotes', validText.replaceAll('"', "'")],
    ['comment', `/* c */${validText}`],
    ['NaN', validText.replace('"schemaVersion":2', '"schemaVersion":NaN')],
    ['raw control character', validText.replace('"schemaVersion"', '"schema\u0001Version"')],
    ['unterminated string', '{"schemaVersion":2,"mediaType":"abc'],
    ['empty body', ''],
    ['whitespace only', ' \n\t '],
    ['null', 'null'],
    ['array', `[${validText}]`],
    ['string', JSON.stringify(validText)],
    ['number', '2'],
    ['true', 'true'],
    ['UTF-16', Buffer.from(validText, 'utf16le').toString('latin1')],
  ).map(([label, text]) => invalid(label, Buffer.from(text, label === 'UTF-16' ? 'latin1' : 'utf8'))),
);

const missingReference: fc.Arbitrary<InvalidCase> = fc.oneof(
  randomSha256.map((digest) => invalid('a layer nothing was pushed for', JSON.stringify({ ...baseImage(), layers: [toJson(layers[0] as Descriptor), { mediaType: OCI_LAYER, digest, size: 3 }] }), OCI_MANIFEST, 'MANIFEST_BLOB_UNKNOWN')),
  randomSha256.map((digest) => invalid('a config nothing was pushed for', JSON.stringify({ ...baseImage(), config: { mediaType: OCI_CONFIG, digest, size: 3 } }), OCI_MANIFEST, 'MANIFEST_BLOB_UNKNOWN')),
  randomSha256.map((digest) => invalid('an index child nothing was pushed for', JSON.stringify({ ...baseIndex(), manifests: [{ mediaType: OCI_MANIFEST, digest, size: 3 }] }), OCI_INDEX, 'MANIFEST_BLOB_UNKNOWN')),
  fc.constant(invalid('a blob given as an index child', JSON.stringify({ ...baseIndex(), manifests: [toJson(layers[0] as Descriptor)] }), OCI_INDEX, 'MANIFEST_BLOB_UNKNOWN')),
);

/** Duplicate keys: JSON.parse keeps the last, as Go's encoding/json does. Whether it is refused follows the last. */
const duplicateKeys: fc.Arbitrary<InvalidCase | { label: string; body: Buffer; contentType: string; status: 201; code: '' }> = fc.constantFrom(
  ['schemaVersion', '2', '1', 400],
  ['schemaVersion', '1', '2', 201],
  ['mediaType', JSON.stringify(OCI_MANIFEST), JSON.stringify('application/x-nope'), 400],
  ['mediaType', JSON.stringify('application/x-nope'), JSON.stringify(OCI_MANIFEST), 201],
  ['config', '{"mediaType":"x","digest":"sha256:nope","size":-1}', JSON.stringify(toJson(ociConfig)), 201],
  ['config', JSON.stringify(toJson(ociConfig)), '{"mediaType":"x","digest":"sha256:nope","size":-1}', 400],
  ['layers', '[]', '7', 400],
  ['layers', '7', '[]', 201],
).map(([key, first, last, status]) => {
  const rest = JSON.stringify(Object.fromEntries(Object.entries(baseImage()).filter(([k]) => k !== key))).slice(1, -1);
  const body = Buffer.from(`{"${key}":${first},${rest},"${key}":${last}}`);
  const label = `duplicate "${key}": ${first.slice(0, 30)} then ${last.slice(0, 30)}`;
  return status === 201 ? { label, body, contentType: OCI_MANIFEST, status: 201 as const, code: '' as const } : invalid(label, body);
});

test('fuzz manifests (code-5, code-6): malformed JSON, wrong media types, wrong field types and values, missing references → their 4xx, nothing stored', async () => {
  const input = fc.oneof(malformedJson, wrongMediaType, wrongType, wrongType, wrongValue, missingReference, duplicateKeys);
  let n = 0;
  await checkProperty(tally, 'invalid', input, 300, async (c) => {
    const tag = `invalid-${n++}`; // never used before, so a 200 below can only come from this PUT
    const reply = await put(tag, c.body, c.contentType);
    const why = `${c.label} (${c.body.length} bytes: ${JSON.stringify(c.body.toString('utf8').slice(0, 300))})`;
    expectOutcome(reply, c.status, c.code, why);
    const get = await fireChecked(url, tally, { method: 'HEAD', path: `/v2/${REPO}/manifests/${tag}` });
    if (c.status === 201) assert.equal(get.status, 200, `${why}: not stored\n${describe(get)}`);
    else {
      assert.equal(get.status, 404, `${why}: refused but tagged\n${describe(get)}`);
      const byDigest = await fireChecked(url, tally, { method: 'HEAD', path: `/v2/${REPO}/manifests/${sha256(c.body)}` });
      assert.equal(byDigest.status, 404, `${why}: refused but stored\n${describe(byDigest)}`);
    }
  });
  await expectAlive(url, tally);
});

test('fuzz manifests (end-7): PUT by a digest that is not the body’s → 400 DIGEST_INVALID', async () => {
  const digest = fc.oneof(randomSha256, fc.constant(`sha512:${'d'.repeat(128)}`), fc.constantFrom(...children.map((c) => c.digest)));
  await checkProperty(tally, 'digest reference', digest, 30, async (d) => {
    const body = Buffer.from(JSON.stringify(baseImage()));
    if (d === sha256(body)) return;
    expectOutcome(await put(d, body, OCI_MANIFEST), 400, 'DIGEST_INVALID', `PUT by ${d}`);
  });
});

// ---------------------------------------------------------------------------------------------
// Size and shape extremes

interface Extreme {
  readonly label: string;
  readonly build: () => Buffer;
  readonly contentType: string;
  /** Accepted outcomes: a status, or a status and code. */
  readonly expect: ReadonlyArray<readonly [number, string]>;
  readonly chunked?: boolean;
}

/** An image manifest padded with an annotation to exactly `size` bytes. */
function paddedTo(size: number): Buffer {
  const shell = JSON.stringify({ ...baseImage(), annotations: { pad: '' } });
  return Buffer.from(shell.replace('"pad":""', `"pad":"${'p'.repeat(size - shell.length)}"`));
}

function nested(depth: number, open: string, close: string, inner = '0'): string {
  return open.repeat(depth) + inner + close.repeat(depth);
}

/** Every extreme, each tried once: too few to sample, each too costly to repeat. */
const EXTREMES: readonly Extreme[] = [
  { label: 'exactly 4 MiB', build: () => paddedTo(LIMIT), contentType: OCI_MANIFEST, expect: [[201, '']] },
  { label: '4 MiB + 1 (Content-Length)', build: () => paddedTo(LIMIT + 1), contentType: OCI_MANIFEST, expect: [[413, 'MANIFEST_INVALID']] },
  { label: '4 MiB + 1 (chunked, no length)', build: () => paddedTo(LIMIT + 1), contentType: OCI_MANIFEST, expect: [[413, 'MANIFEST_INVALID']], chunked: true },
  { label: '16 MiB of spaces (chunked)', build: () => Buffer.alloc(16 * 1024 * 1024, ' '), contentType: OCI_MANIFEST, expect: [[413, 'MANIFEST_INVALID']], chunked: true },
  ...[1_000, 100_000, 1_000_000].flatMap((depth): Extreme[] => [
    { label: `${depth} nested arrays as the body`, build: () => Buffer.from(nested(depth, '[', ']')), contentType: OCI_MANIFEST, expect: [[400, 'MANIFEST_INVALID']] },
    { label: `${depth} nested objects as the body`, build: () => Buffer.from(nested(depth, '{"a":', '}')), contentType: OCI_MANIFEST, expect: [[400, 'MANIFEST_INVALID']] },
    { label: `${depth} nested arrays in an annotation`, build: () => Buffer.from(JSON.stringify({ ...baseImage(), annotations: { a: '' } }).replace('"a":""', `"a":${nested(depth, '[', ']')}`)), contentType: OCI_MANIFEST, expect: [[400, 'MANIFEST_INVALID']] },
    { label: `${depth} nested arrays as the subject`, build: () => Buffer.from(JSON.stringify({ ...baseImage(), subject: 0 }).replace('"subject":0', `"subject":${nested(depth, '[', ']')}`)), contentType: OCI_MANIFEST, expect: [[400, 'MANIFEST_INVALID']] },
    // In a field no one reads the manifest is valid; a parser that gives up on depth may refuse it instead.
    { label: `${depth} nested arrays in an unknown field`, build: () => Buffer.from(`${JSON.stringify(baseImage()).slice(0, -1)},"x-deep":${nested(depth, '[', ']')}}`), contentType: OCI_MANIFEST, expect: [[201, ''], [400, 'MANIFEST_INVALID']] },
  ]),
  // Counts below, at and above manifests.maxReferences (descriptors: an image's config + layers,
  // an index's manifests). Above it the count is refused before any reference is looked at.
  ...[1_000, MAX_REFERENCES - 1, MAX_REFERENCES, 25_000].flatMap((count): Extreme[] => {
    const image = (accepted: ReadonlyArray<readonly [number, string]>) => (count + 1 > MAX_REFERENCES ? TOO_MANY : accepted);
    const index = (accepted: ReadonlyArray<readonly [number, string]>) => (count > MAX_REFERENCES ? TOO_MANY : accepted);
    return [
      { label: `${count} layers, all present`, build: () => Buffer.from(JSON.stringify({ ...baseImage(), layers: Array.from({ length: count }, (_, i) => toJson(layers[i % layers.length] as Descriptor)) })), contentType: OCI_MANIFEST, expect: image([[201, '']]) },
      { label: `${count} layers, the last unknown`, build: () => Buffer.from(JSON.stringify({ ...baseImage(), layers: [...Array.from({ length: count - 1 }, () => toJson(layers[0] as Descriptor)), { mediaType: OCI_LAYER, digest: sha256(`unknown ${count}`), size: 1 }] })), contentType: OCI_MANIFEST, expect: image([[400, 'MANIFEST_BLOB_UNKNOWN']]) },
      { label: `${count} index children`, build: () => Buffer.from(JSON.stringify({ ...baseIndex(), manifests: Array.from({ length: count }, (_, i) => toJson(children[i % children.length] as Descriptor)) })), contentType: OCI_INDEX, expect: index([[201, '']]) },
      { label: `${count} foreign layers`, build: () => Buffer.from(JSON.stringify({ ...baseImage(), layers: Array.from({ length: count }, (_, i) => ({ mediaType: OCI_LAYER, digest: sha256(`foreign ${i}`), size: i, urls: ['https://example.com/x'] })) })), contentType: OCI_MANIFEST, expect: image([[201, '']]) },
      // Annotations are no references: no limit but the body's size.
      { label: `${count} annotations`, build: () => Buffer.from(JSON.stringify({ ...baseImage(), annotations: Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, `v${i}`])) })), contentType: OCI_MANIFEST, expect: [[201, '']] },
      { label: `${count} layers of the wrong type`, build: () => Buffer.from(JSON.stringify({ ...baseImage(), layers: Array.from({ length: count }, () => 'x') })), contentType: OCI_MANIFEST, expect: [[400, 'MANIFEST_INVALID']] },
      { label: `${count} layers pointing at manifests, not blobs`, build: () => Buffer.from(JSON.stringify({ ...baseImage(), layers: Array.from({ length: count }, () => toJson(children[0] as Descriptor)) })), contentType: OCI_MANIFEST, expect: image([[201, ''], [400, 'MANIFEST_BLOB_UNKNOWN']]) },
    ];
  }),
];

test('fuzz manifests: size limits, deep nesting, huge arrays and the reference limit → an answer, the right status, and a live server', async () => {
  for (const [i, c] of EXTREMES.entries()) {
    tally.input('extremes');
    const body = c.build();
    const started = Date.now();
    const reply = await put(`extreme-${i}`, body, c.contentType, c.chunked ? { headers: { 'content-type': c.contentType, 'transfer-encoding': 'chunked' } } : {});
    const why = `${c.label} (${body.length} bytes, answered in ${Date.now() - started} ms)`;
    // Past 4 MiB the size limit answers first, whatever the content.
    const expected = body.length > LIMIT ? [[413, 'MANIFEST_INVALID'] as const] : c.expect;
    const match = expected.find(([status]) => status === reply.status);
    assert.ok(match, `${why}: expected ${expected.map(([s, code]) => `${s} ${code}`).join(' or ')}\n${describe(reply)}`);
    expectOutcome(reply, match[0], match[1], why);
    if (process.env['QUAYSIDE_FUZZ_VERBOSE']) console.log(`${why} → ${reply.status}`);
    await expectAlive(url, tally);
  }
});
