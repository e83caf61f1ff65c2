import { tryParseDigest, type Digest } from '../digest/digest.ts';
import { RegistryError } from '../errors/registry-error.ts';
import { bareMediaType, manifestKind, MEDIA_TYPE, type ManifestKind } from './media-types.ts';

/**
 * Parses and checks a pushed manifest (end-7): JSON, a supported media type that agrees with
 * Content-Type, well-formed descriptors. Existence of what it references is checked by the store.
 * Every refusal is MANIFEST_INVALID (code-6) with a detail that says what was wrong.
 */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly artifactType?: string;
  readonly urls?: readonly string[];
}

export interface ParsedManifest {
  readonly mediaType: string;
  readonly kind: ManifestKind;
  /** Blobs an image manifest needs (config and layers); [] for an index. */
  readonly blobs: readonly Descriptor[];
  /** Manifests an index lists; [] for an image manifest. */
  readonly children: readonly Descriptor[];
  readonly subject: Descriptor | undefined;
  /** OCI 1.1: artifactType, or for an image manifest its config media type. */
  readonly artifactType: string | undefined;
  readonly annotations: Readonly<Record<string, string>> | undefined;
}

type Json = Record<string, unknown>;

function invalid(reason: string, extra?: Json): never {
  throw new RegistryError('MANIFEST_INVALID', { reason, ...extra });
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(bytes: Uint8Array): Json {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (err) {
    invalid(`body is not JSON: ${(err as Error).message}`);
  }
  if (!isObject(value)) invalid('manifest must be a JSON object');
  return value;
}

function parseDescriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) invalid(`${where} is not a descriptor object`);
  const { mediaType, digest, size, artifactType, urls } = value;
  if (typeof mediaType !== 'string' || mediaType.length === 0) invalid(`${where}.mediaType must be a non-empty string`);
  if (typeof digest !== 'string') invalid(`${where}.digest must be a string`);
  const parsed = tryParseDigest(digest);
  if (!parsed) invalid(`${where}.digest is not a supported digest`, { digest: digest.slice(0, 200) });
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) invalid(`${where}.size must be a non-negative integer`);
  if (urls !== undefined && (!Array.isArray(urls) || !urls.every((u) => typeof u === 'string'))) invalid(`${where}.urls must be an array of strings`);
  return {
    mediaType,
    digest: parsed,
    size,
    ...(typeof artifactType === 'string' ? { artifactType } : {}),
    ...(Array.isArray(urls) ? { urls: urls as string[] } : {}),
  };
}

function parseDescriptors(value: unknown, where: string): Descriptor[] {
  if (!Array.isArray(value)) invalid(`${where} must be an array`);
  return value.map((item, i) => parseDescriptor(item, `${where}[${i}]`));
}

function parseAnnotations(value: unknown): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value) || !Object.values(value).every((v) => typeof v === 'string')) invalid('annotations must map strings to strings');
  return value as Record<string, string>;
}

/** The media type the manifest declares, reconciled with the request's Content-Type. */
function resolveMediaType(json: Json, contentType: string | undefined): string {
  const declared = json['mediaType'];
  if (declared !== undefined && typeof declared !== 'string') invalid('mediaType must be a string');
  const header = bareMediaType(contentType);
  const headerIsManifest = header !== undefined && manifestKind(header) !== undefined;
  if (declared !== undefined && headerIsManifest && declared !== header) {
    invalid('mediaType in the body does not match Content-Type', { mediaType: declared, contentType: header });
  }
  // OCI makes mediaType a SHOULD: without it, take Content-Type, else tell index from manifest by shape.
  const mediaType = declared ?? (headerIsManifest ? header : Array.isArray(json['manifests']) ? MEDIA_TYPE.ociIndex : MEDIA_TYPE.ociManifest);
  if (mediaType === MEDIA_TYPE.dockerSchema1 || mediaType === MEDIA_TYPE.dockerSchema1Signed || json['schemaVersion'] === 1) {
    invalid('Docker schema 1 manifests are not supported; push schema 2 or OCI');
  }
  if (manifestKind(mediaType) === undefined) invalid(`unsupported manifest media type ${mediaType}`);
  // Docker's schema 2 makes the field required; without it the type could not be served back.
  if (declared === undefined && (mediaType === MEDIA_TYPE.dockerManifest || mediaType === MEDIA_TYPE.dockerManifestList)) {
    invalid('Docker schema 2 manifests must carry mediaType', { contentType: header });
  }
  return mediaType;
}

/** Limits on a manifest being pushed; a stored manifest is read back without them. */
export interface ManifestLimits {
  /** Most descriptors (config and layers, or an index's manifests) it may list; 0 = no limit. */
  readonly maxReferences: number;
}

export const NO_LIMITS: ManifestLimits = { maxReferences: 0 };

/**
 * Refuses a manifest that lists more than `maxReferences` descriptors, before any is parsed or
 * looked up: every one costs a check against storage on PUT (issue 9: 25 000 layers took over 5 s
 * on a busy machine). Descriptors are counted, not distinct digests, so the rule a client sees does
 * not depend on how often it repeats a blob; foreign layers count too (they are listed all the same).
 */
function checkReferenceCount(listed: unknown, extra: number, limits: ManifestLimits): void {
  if (limits.maxReferences === 0 || !Array.isArray(listed)) return;
  const references = listed.length + extra;
  if (references > limits.maxReferences) {
    invalid(`manifest lists ${references} descriptors; this registry accepts at most ${limits.maxReferences} (quayside.limits.manifestreferences)`, { references, limit: limits.maxReferences });
  }
}

export function parseManifest(bytes: Uint8Array, contentType: string | undefined, limits: ManifestLimits = NO_LIMITS): ParsedManifest {
  const json = parseJson(bytes);
  if (json['schemaVersion'] !== 2) invalid('schemaVersion must be 2');
  const mediaType = resolveMediaType(json, contentType);
  const kind = manifestKind(mediaType) as ManifestKind;
  const subject = json['subject'] === undefined ? undefined : parseDescriptor(json['subject'], 'subject');
  const annotations = parseAnnotations(json['annotations']);
  const artifactType = json['artifactType'];
  if (artifactType !== undefined && typeof artifactType !== 'string') invalid('artifactType must be a string');

  if (kind === 'index') {
    checkReferenceCount(json['manifests'], 0, limits);
    const children = parseDescriptors(json['manifests'], 'manifests');
    return { mediaType, kind, blobs: [], children, subject, artifactType, annotations };
  }
  checkReferenceCount(json['layers'], 1, limits);
  const config = parseDescriptor(json['config'], 'config');
  const layers = parseDescriptors(json['layers'], 'layers');
  return { mediaType, kind, blobs: [config, ...layers], children: [], subject, artifactType: artifactType ?? config.mediaType, annotations };
}
