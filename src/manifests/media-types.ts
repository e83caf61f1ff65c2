/** The manifest media types Quayside stores (OCI image-spec; Docker Image Manifest V2, Schema 2). */
export const MEDIA_TYPE = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

export type ManifestKind = 'image' | 'index';

const KIND_OF: ReadonlyMap<string, ManifestKind> = new Map([
  [MEDIA_TYPE.ociManifest, 'image'],
  [MEDIA_TYPE.dockerManifest, 'image'],
  [MEDIA_TYPE.ociIndex, 'index'],
  [MEDIA_TYPE.dockerManifestList, 'index'],
]);

export function manifestKind(mediaType: string): ManifestKind | undefined {
  return KIND_OF.get(mediaType);
}

/** `Content-Type` without parameters, lower-cased (RFC 9110 §8.3.1: type and subtype are case-insensitive). */
export function bareMediaType(contentType: string | undefined): string | undefined {
  const bare = contentType?.split(';')[0]?.trim().toLowerCase();
  return bare ? bare : undefined;
}
