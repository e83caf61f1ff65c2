import type { Digest } from '../digest/digest.ts';

/**
 * The storage layout: the one place a storage path is built. It is the reference registry's
 * (distribution registry/storage/paths.go), so a root written by docker-registry is served by
 * Quayside and the other way round.
 *
 *   <root>/docker/registry/v2/
 *   ├── gc-aside                                                Quayside: blobs a running gc moved aside
 *   ├── gc-drop-fence                                           Quayside: gc's manifest drops and PUTs take turns
 *   ├── health-check                                            Quayside: health.storagedriver's probe object
 *   ├── blobs/<alg>/<hex[0:2]>/<hex>/data                       content-addressed bytes
 *   │                               /data~gc                    Quayside: a blob mid-delete (gc)
 *   └── repositories/<name>/
 *       ├── _layers/<alg>/<hex>/link                            blob linked into the repository
 *       ├── _manifests/
 *       │   ├── revisions/<alg>/<hex>/link                      manifest in the repository
 *       │   ├── tags/<tag>/current/link                         tag → manifest digest
 *       │   ├── tags/<tag>/index/<alg>/<hex>/link               every digest the tag has had
 *       │   └── referrers/<alg>/<subject hex>/<alg>/<hex>/link  Quayside: OCI 1.1 referrers index
 *       └── _uploads/<id>/
 *           ├── data                                           bytes received so far
 *           ├── startedat                                      RFC 3339 time of the POST
 *           └── hashstates/sha256/<offset>                     SHA-256 checkpoint after <offset> bytes
 *
 * A link file holds the digest string (`sha256:<hex>`). Every component that reaches this file
 * has been validated against the spec grammars (routing/names.ts, digest/digest.ts), so no path
 * built here can leave the root.
 */
const ROOT = '/docker/registry/v2';

export const paths = {
  root: ROOT,
  blobsRoot: `${ROOT}/blobs`,
  repositoriesRoot: `${ROOT}/repositories`,

  blobData: (d: Digest) => `${ROOT}/blobs/${d.algorithm}/${d.hex.slice(0, 2)}/${d.hex}/data`,
  blobDir: (d: Digest) => `${ROOT}/blobs/${d.algorithm}/${d.hex.slice(0, 2)}/${d.hex}`,
  /** One algorithm's blobs, then one two-hex-digit prefix of them: what a sweep lists. */
  blobsOfAlgorithm: (algorithm: string) => `${ROOT}/blobs/${algorithm}`,
  blobsWithPrefix: (algorithm: string, prefix: string) => `${ROOT}/blobs/${algorithm}/${prefix}`,
  /** Where garbage collection moves a blob's data before its last look at the links (gc/garbage-collect.ts). */
  blobDataAside: (d: Digest) => `${ROOT}/blobs/${d.algorithm}/${d.hex.slice(0, 2)}/${d.hex}/data~gc`,
  /**
   * The digests garbage collection is about to move aside, written before it moves any (gc/aside.ts):
   * its absence makes "did a gc crash mid-delete?" one failed read at start-up. distribution walks
   * only blobs/ and repositories/, so it never sees this file.
   */
  gcAsideJournal: `${ROOT}/gc-aside`,
  /** Garbage collection's untagged-manifest drops and manifest PUTs take turns here (storage/drop-fence.ts). */
  gcDropFence: `${ROOT}/gc-drop-fence`,
  /** Written and read back by the storage health check (metrics/health.ts); distribution never walks it. */
  healthCheck: `${ROOT}/health-check`,

  repository: (repo: string) => `${ROOT}/repositories/${repo}`,
  /** A folder under repositories/ that may be a repository or a prefix of names ('' is the root). */
  repositoriesUnder: (prefix: string) => (prefix === '' ? `${ROOT}/repositories` : `${ROOT}/repositories/${prefix}`),
  layerLink: (repo: string, d: Digest) => `${ROOT}/repositories/${repo}/_layers/${d.algorithm}/${d.hex}/link`,
  /** Every blob of one algorithm linked into the repository: what the mark phase lists. */
  layersOfAlgorithm: (repo: string, algorithm: string) => `${ROOT}/repositories/${repo}/_layers/${algorithm}`,
  layerDir: (repo: string, d: Digest) => `${ROOT}/repositories/${repo}/_layers/${d.algorithm}/${d.hex}`,

  revisionLink: (repo: string, d: Digest) => `${ROOT}/repositories/${repo}/_manifests/revisions/${d.algorithm}/${d.hex}/link`,
  revisionsOfAlgorithm: (repo: string, algorithm: string) => `${ROOT}/repositories/${repo}/_manifests/revisions/${algorithm}`,
  revisionDir: (repo: string, d: Digest) => `${ROOT}/repositories/${repo}/_manifests/revisions/${d.algorithm}/${d.hex}`,
  tagsDir: (repo: string) => `${ROOT}/repositories/${repo}/_manifests/tags`,
  tagDir: (repo: string, tag: string) => `${ROOT}/repositories/${repo}/_manifests/tags/${tag}`,
  tagCurrentLink: (repo: string, tag: string) => `${ROOT}/repositories/${repo}/_manifests/tags/${tag}/current/link`,
  tagIndexLink: (repo: string, tag: string, d: Digest) => `${ROOT}/repositories/${repo}/_manifests/tags/${tag}/index/${d.algorithm}/${d.hex}/link`,
  referrersDir: (repo: string, subject: Digest) => `${ROOT}/repositories/${repo}/_manifests/referrers/${subject.algorithm}/${subject.hex}`,
  referrerDir: (repo: string, subject: Digest, d: Digest) =>
    `${ROOT}/repositories/${repo}/_manifests/referrers/${subject.algorithm}/${subject.hex}/${d.algorithm}/${d.hex}`,
  referrerLink: (repo: string, subject: Digest, d: Digest) =>
    `${ROOT}/repositories/${repo}/_manifests/referrers/${subject.algorithm}/${subject.hex}/${d.algorithm}/${d.hex}/link`,

  referrersOfAlgorithm: (repo: string, subject: Digest, algorithm: string) => `${ROOT}/repositories/${repo}/_manifests/referrers/${subject.algorithm}/${subject.hex}/${algorithm}`,

  uploadsDir: (repo: string) => `${ROOT}/repositories/${repo}/_uploads`,
  uploadDir: (repo: string, id: string) => `${ROOT}/repositories/${repo}/_uploads/${id}`,
  uploadData: (repo: string, id: string) => `${ROOT}/repositories/${repo}/_uploads/${id}/data`,
  /** Where interrupted-commit.ts rebuilds `data` before renaming it in ('~tmp-': never listed, never a name). */
  uploadDataRestoring: (repo: string, id: string) => `${ROOT}/repositories/${repo}/_uploads/${id}/data~tmp-restore`,
  /** Written by a commit before it moves `data` into the blob store (uploads/commit.ts). Ours only. */
  uploadCommitting: (repo: string, id: string) => `${ROOT}/repositories/${repo}/_uploads/${id}/committing`,
  uploadStartedAt: (repo: string, id: string) => `${ROOT}/repositories/${repo}/_uploads/${id}/startedat`,
  uploadHashStates: (repo: string, id: string) => `${ROOT}/repositories/${repo}/_uploads/${id}/hashstates/sha256`,
  uploadHashState: (repo: string, id: string, offset: number) => `${ROOT}/repositories/${repo}/_uploads/${id}/hashstates/sha256/${offset}`,
} as const;

/** The directory names that mark a folder under repositories/ as a repository. */
export const REPOSITORY_MARKERS = ['_layers', '_manifests', '_uploads'] as const;
