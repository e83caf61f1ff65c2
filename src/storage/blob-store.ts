import type { Readable } from 'node:stream';
import type { Digest } from '../digest/digest.ts';
import { PathNotFoundError, type StorageDriver } from './driver.ts';
import { paths } from './paths.ts';

/**
 * Content-addressed blobs and their links into repositories. A blob is visible in a repository
 * only through its link (`_layers/.../link`), as in distribution: a digest known elsewhere in the
 * registry is not readable through a repository that never received it.
 */
export class BlobStore {
  constructor(private readonly driver: StorageDriver) {}

  /** Size of the blob as seen from `repo`; undefined when not linked there or not stored. */
  async statInRepository(repo: string, digest: Digest): Promise<number | undefined> {
    const [link, data] = await Promise.all([this.driver.stat(paths.layerLink(repo, digest)), this.driver.stat(paths.blobData(digest))]);
    if (!link || !data || data.isDirectory) return undefined;
    return data.size;
  }

  /** Size of the stored blob, linked anywhere or nowhere. */
  async statGlobal(digest: Digest): Promise<number | undefined> {
    const data = await this.driver.stat(paths.blobData(digest));
    return data && !data.isDirectory ? data.size : undefined;
  }

  async isLinked(repo: string, digest: Digest): Promise<boolean> {
    return (await this.driver.stat(paths.layerLink(repo, digest))) !== undefined;
  }

  /** Bytes [start, end] of a blob; undefined when it vanished since it was stat'ed. */
  async open(digest: Digest, start?: number, end?: number): Promise<Readable | undefined> {
    try {
      return await this.driver.reader(paths.blobData(digest), start, end);
    } catch (err) {
      if (err instanceof PathNotFoundError) return undefined;
      throw err;
    }
  }

  async read(digest: Digest): Promise<Buffer | undefined> {
    try {
      return await this.driver.getContent(paths.blobData(digest));
    } catch (err) {
      if (err instanceof PathNotFoundError) return undefined;
      throw err;
    }
  }

  /**
   * Moves finished upload data into place under its digest. A blob that already exists wins
   * (content-addressed: same digest, same bytes) and the upload's copy is left for the caller to drop.
   */
  async adopt(digest: Digest, uploadDataPath: string): Promise<void> {
    if ((await this.statGlobal(digest)) !== undefined) return;
    await this.driver.move(uploadDataPath, paths.blobData(digest));
  }

  /** Stores small content (manifests) under its digest; durable before it returns. */
  async put(digest: Digest, content: Uint8Array): Promise<void> {
    if ((await this.statGlobal(digest)) !== undefined) return;
    await this.driver.putContent(paths.blobData(digest), content);
  }

  async link(repo: string, digest: Digest): Promise<void> {
    await this.driver.putContent(paths.layerLink(repo, digest), digest.value);
  }

  async unlink(repo: string, digest: Digest): Promise<void> {
    await this.driver.delete(paths.layerDir(repo, digest));
  }
}
