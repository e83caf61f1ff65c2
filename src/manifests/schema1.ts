import { tryParseDigest, type Digest } from '../digest/digest.ts';

/**
 * Docker Image Manifest V2, Schema 1 (`application/vnd.docker.distribution.manifest.v1+json`, and
 * `...v1+prettyjws` when signed): only as far as garbage collection needs it. Quayside refuses to
 * store schema 1 (manifests/validate.ts), but a root written by docker-registry can hold it, and
 * its layers must be marked (issue 9). distribution's schema1 `Manifest.References()` is the
 * `blobSum` of every `fsLayers` entry; the signed form is the same JSON object with a
 * `signatures` member added, so one parse reads both.
 */
export class Schema1Error extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'Schema1Error';
  }
}

/** Whether a parsed manifest object declares schema 1 (distribution's versioned.SchemaVersion). */
export function isSchema1(json: Record<string, unknown>): boolean {
  return json['schemaVersion'] === 1;
}

/** Every layer a schema 1 manifest references, in order (duplicates kept, as in the manifest). */
export function schema1Layers(json: Record<string, unknown>): Digest[] {
  const fsLayers = json['fsLayers'];
  if (!Array.isArray(fsLayers)) throw new Schema1Error('schema 1 manifest has no fsLayers array');
  return fsLayers.map((layer: unknown, i) => {
    const blobSum = typeof layer === 'object' && layer !== null ? (layer as Record<string, unknown>)['blobSum'] : undefined;
    const digest = typeof blobSum === 'string' ? tryParseDigest(blobSum) : undefined;
    if (!digest) throw new Schema1Error(`fsLayers[${i}].blobSum is not a supported digest`);
    return digest;
  });
}
