/**
 * Where a driver path lives in the bucket. This is distribution's s3-aws `s3Path()`, to the
 * character, so a bucket written by docker-registry is read by Quayside and the other way round:
 *
 *   key = trimLeft(trimRight(rootdirectory, "/") + path, "/")
 *
 *   rootdirectory ""           path /docker/registry/v2/repositories/a/_layers  →  docker/registry/v2/repositories/a/_layers
 *   rootdirectory "/reg/"      path /docker/registry/v2/blobs/...              →  reg/docker/registry/v2/blobs/...
 *
 * S3 has no folders: a "folder" is the key prefix `key + "/"`, present while any key starts with it.
 */
export class KeyLayout {
  private readonly root: string;

  constructor(rootdirectory = '') {
    this.root = rootdirectory.replace(/\/+$/, '');
  }

  /** The object key of a driver path (distribution's s3Path). */
  key(path: string): string {
    return (this.root + path).replace(/^\/+/, '');
  }

  /** The prefix every key below `path` starts with: "" for the bucket's root, else ending in "/". */
  folder(path: string): string {
    const key = this.key(path);
    return key === '' || key.endsWith('/') ? key : `${key}/`;
  }
}
