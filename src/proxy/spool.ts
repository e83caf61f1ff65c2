import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, rmdir, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Digest } from '../digest/digest.ts';
import type { Services } from '../services.ts';
import type { OpenedDriver } from '../storage/factory.ts';
import { FilesystemDriver } from '../storage/filesystem/driver.ts';
import { paths } from '../storage/paths.ts';
import { DEFAULT_CHUNK_SIZE } from '../storage/s3/params.ts';
import type { S3Driver } from '../storage/s3/driver.ts';
import { cancelUpload } from '../uploads/session.ts';

/**
 * Where a blob fetched from upstream is spooled while it arrives, and how the verified spool
 * becomes the stored blob, written ONCE (issue 11, "a cold pull writes each blob once"):
 *
 * - filesystem: the spool is an upload's data file inside the storage root,
 *   `repositories/<name>/_uploads/<id>/data` beside a `startedat` (distribution's layout), so it is
 *   on the blob's filesystem, garbage collection never looks at it, and the upload purger (ours and
 *   docker-registry's) removes what a crash left. Once verified: fdatasync, rename to
 *   `blobs/<alg>/<xx>/<hex>/data` (an existing blob wins), the layer link, the upload folder
 *   removed: what a committed upload does (uploads/commit.ts), minus its re-read and re-hash. A
 *   crash before the rename leaves only an upload no one can see as a blob.
 * - s3: the spool is a local temp file; once verified it is uploaded to the blob's key once
 *   (PutObject, or a multipart upload of `chunksize` parts, completed only at the end, so nothing
 *   partial is ever visible), no re-hash: the digest is verified already.
 * - any other driver: the upload path (create, append, commit), which hashes again.
 *
 * Readers share the fetch's file handle (blob-fetch.ts), so the rename or unlink of the spool
 * does not touch a response in flight.
 */
export interface Spool {
  /** Local file the fetch writes and its readers read. */
  readonly path: string;
  /** Puts the verified spool into storage (written `size` bytes, open as `file`); cleans up on failure. */
  store(file: FileHandle, size: number): Promise<void>;
  /** The fetch failed: removes what the spool left. Never throws. */
  discard(): Promise<void>;
}

/** What a spool needs of the registry's stores. */
export type SpoolStores = Pick<Services, 'driver' | 'blobs' | 'uploads'>;

export interface SpoolFactory {
  open(stores: SpoolStores, repo: string, digest: Digest): Promise<Spool>;
  /** Removes the factory's own temp folder (close). */
  close(): Promise<void>;
}

export function spoolFactoryFor(opened: OpenedDriver | undefined): SpoolFactory {
  if (opened?.kind === 'filesystem' && opened.driver instanceof FilesystemDriver) return new RootSpools(opened.driver);
  if (opened?.kind === 's3') return new TempSpools((stores, repo, digest, path) => new S3Spool(opened.driver, stores, repo, digest, path));
  return new TempSpools((stores, repo, digest, path) => new UploadPathSpool(stores, repo, digest, path));
}

// ---- filesystem: inside the storage root

class RootSpools implements SpoolFactory {
  constructor(private readonly driver: FilesystemDriver) {}

  async open(stores: SpoolStores, repo: string, digest: Digest): Promise<Spool> {
    const ref = { repo, id: randomUUID() };
    // Not synced: it only dates the spool for the purger, which falls back to the folder's mtime
    // when a crash lost it; the data is synced before it becomes the blob.
    await this.driver.putContent(paths.uploadStartedAt(repo, ref.id), new Date().toISOString(), { durable: false });
    return new RootSpool(this.driver, stores, ref, digest);
  }

  async close(): Promise<void> {}
}

class RootSpool implements Spool {
  readonly path: string;

  constructor(
    private readonly driver: FilesystemDriver,
    private readonly stores: SpoolStores,
    private readonly ref: { readonly repo: string; readonly id: string },
    private readonly digest: Digest,
  ) {
    this.path = driver.localPath(paths.uploadData(ref.repo, ref.id));
  }

  async store(file: FileHandle): Promise<void> {
    try {
      await file.datasync();
      // blobs.adopt: an existing blob wins (same digest, same bytes); the spool then goes with the upload.
      await this.stores.blobs.adopt(this.digest, paths.uploadData(this.ref.repo, this.ref.id));
      await this.stores.blobs.link(this.ref.repo, this.digest);
    } finally {
      await cancelUpload(this.driver, this.ref);
    }
  }

  async discard(): Promise<void> {
    await cancelUpload(this.driver, this.ref).catch(() => undefined);
    // A fetch that failed in a repository nothing else made must not leave it in the catalog
    // (an `_uploads` folder marks a repository): empty folders go, anything else stays (ENOTEMPTY).
    for (const dir of [paths.uploadsDir(this.ref.repo), paths.repository(this.ref.repo)]) {
      await rmdir(this.driver.localPath(dir)).catch(() => undefined);
    }
  }
}

// ---- elsewhere: a local temp file

class TempSpools implements SpoolFactory {
  private dir: Promise<string> | undefined;

  constructor(private readonly make: (stores: SpoolStores, repo: string, digest: Digest, path: string) => Spool) {}

  async open(stores: SpoolStores, repo: string, digest: Digest): Promise<Spool> {
    const dir = await (this.dir ??= mkdtemp(join(tmpdir(), 'quayside-proxy-')));
    return this.make(stores, repo, digest, join(dir, randomUUID()));
  }

  async close(): Promise<void> {
    if (this.dir) await rm(await this.dir, { recursive: true, force: true });
  }
}

abstract class TempSpool implements Spool {
  constructor(
    protected readonly stores: SpoolStores,
    protected readonly repo: string,
    protected readonly digest: Digest,
    readonly path: string,
  ) {}

  async store(file: FileHandle, size: number): Promise<void> {
    try {
      await this.upload(file, size);
    } finally {
      await this.discard();
    }
  }

  protected abstract upload(file: FileHandle, size: number): Promise<void>;

  async discard(): Promise<void> {
    await rm(this.path, { force: true }).catch(() => undefined);
  }
}

/** s3: the verified bytes go to the blob's key once, straight from the spool. */
class S3Spool extends TempSpool {
  constructor(
    private readonly driver: S3Driver,
    stores: SpoolStores,
    repo: string,
    digest: Digest,
    path: string,
  ) {
    super(stores, repo, digest, path);
  }

  protected async upload(file: FileHandle, size: number): Promise<void> {
    const { blobs } = this.stores;
    if ((await blobs.statGlobal(this.digest)) === undefined) await this.put(file, size);
    await blobs.link(this.repo, this.digest);
  }

  /** One PutObject up to a part, else a multipart upload completed only once every part is in (never partly visible). */
  private async put(file: FileHandle, size: number): Promise<void> {
    const { client, layout } = this.driver;
    const key = layout.key(paths.blobData(this.digest));
    const partSize = this.driver.chunksize ?? DEFAULT_CHUNK_SIZE;
    if (size <= partSize) return client.putObject(key, await readRange(file, 0, size));
    const uploadId = await client.createMultipartUpload(key);
    try {
      const parts: { partNumber: number; etag: string }[] = [];
      for (let at = 0, partNumber = 1; at < size; at += partSize, partNumber++) {
        const body = await readRange(file, at, Math.min(partSize, size - at));
        parts.push({ partNumber, etag: await client.uploadPart(key, uploadId, partNumber, body) });
      }
      await client.completeMultipartUpload(key, uploadId, parts);
    } catch (err) {
      await client.abortMultipartUpload(key, uploadId).catch(() => undefined);
      throw err;
    }
  }
}

/** A driver with neither: the registry's upload path (which hashes the blob again). */
class UploadPathSpool extends TempSpool {
  protected async upload(_file: FileHandle, size: number): Promise<void> {
    const { uploads } = this.stores;
    const ref = await uploads.create(this.repo);
    try {
      await uploads.append(ref, 0, createReadStream(this.path), size);
      await uploads.commit(ref, this.digest);
    } catch (err) {
      await uploads.discard(ref).catch(() => undefined);
      throw err;
    }
  }
}

/** `length` bytes of `file` from `at`. */
async function readRange(file: FileHandle, at: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  for (let done = 0; done < length; ) {
    const { bytesRead } = await file.read(buffer, done, length - done, at + done);
    if (bytesRead === 0) throw new Error(`spool is shorter than ${at + length} bytes`);
    done += bytesRead;
  }
  return buffer;
}
