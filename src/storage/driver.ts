import type { Readable } from 'node:stream';

/**
 * The storage seam: a small driver in the manner of distribution's storagedriver.StorageDriver.
 * Paths are slash-separated, absolute within the driver ("/docker/registry/v2/..."), and only
 * ever built by storage/paths.ts. Drivers are built from plain parameters (factory.ts), so a
 * worker thread can rebuild the same driver from its workerData.
 */
export interface FileInfo {
  readonly size: number;
  readonly isDirectory: boolean;
  readonly modifiedAt: Date;
}

/**
 * What every driver has, the filesystem and object stores alike (issue 10): whole objects named
 * by slash paths, listed one folder level at a time, read by byte range.
 */
export interface ObjectStore {
  readonly name: string;
  /** Whole content of a small file; throws PathNotFoundError when absent. */
  getContent(path: string): Promise<Buffer>;
  /**
   * Atomically replaces the file (tmp → rename): readers see old or new, never half. Durable
   * (file and directory synced) before it resolves, unless `durable` is false: then a crash may
   * lose the new content, which callers must be able to rebuild (upload checkpoints).
   */
  putContent(path: string, content: Uint8Array | string, options?: { durable?: boolean }): Promise<void>;
  /** undefined when nothing is there; a folder (anything below `path/`) has isDirectory. */
  stat(path: string): Promise<FileInfo | undefined>;
  /** Names of the direct children, sorted; [] when the directory is absent. */
  list(path: string): Promise<string[]>;
  /** A stream of bytes [start, end] inclusive, empty past the end; throws PathNotFoundError when absent. */
  reader(path: string, start?: number, end?: number): Promise<Readable>;
  /** Moves a file into place durably, creating parent directories; replaces the destination. */
  move(from: string, to: string): Promise<void>;
  /** Removes a file or a whole tree; absent is fine. */
  delete(path: string): Promise<void>;
}

/**
 * What the registry needs of storage, on every driver: whole objects, plus `touch`, which garbage
 * collection's safety rests on. On S3 a touch rewrites the object in place (a server-side copy
 * onto itself), so its LastModified moves as a filesystem mtime does.
 */
export interface StorageDriver extends ObjectStore {
  /**
   * Sets the modification time to now; false when nothing is there. Garbage collection reads it:
   * a link touched after its mark phase started is in use (see gc/garbage-collect.ts).
   */
  touch(path: string): Promise<boolean>;
  /**
   * How far a `modifiedAt` may read earlier than the moment of the write as this process's clock
   * saw it (coarse resolution, another machine's clock). Garbage collection widens its grace by
   * this much. Absent: 0 (a local filesystem, whose mtimes come from our own clock).
   */
  readonly timestampSlackMs?: number;
  /**
   * A URL the client can fetch `path` from directly with `method` (distribution's RedirectURL),
   * or undefined when this driver cannot give one (the filesystem) or not for that method.
   */
  redirectUrl?(path: string, method: string): string | undefined;
  /**
   * Writes under `path` begun before `startedBefore` (ms) and never finished, which a store keeps
   * invisibly and bills (S3's incomplete multipart uploads: a process that died while the
   * pull-through cache or a commit wrote a blob). Aborts them unless `dryRun`; returns how many.
   * Writes under any of the folders `keep` are left alone. Absent: the driver leaves nothing of
   * the kind (a filesystem's temp files are its own to clean).
   */
  purgeIncompleteWrites?(path: string, startedBefore: number, dryRun: boolean, keep: readonly string[]): Promise<number>;
}

/**
 * The filesystem driver's POSIX extras, which only the filesystem's upload path uses
 * (uploads/filesystem/): write at an offset and fdatasync. An object store has neither; its uploads
 * go through the S3 upload writer and state object instead (storage/s3/upload-writer.ts).
 */
export interface PosixDriver extends StorageDriver {
  /**
   * Writes `bytes` at `offset`, cutting the file to `offset` first when it is longer. Creates the
   * file at offset 0. Throws OffsetMismatchError when the file is shorter than `offset` (or
   * absent): appending there would leave a hole. Not synced.
   */
  writeAt(path: string, offset: number, bytes: Uint8Array): Promise<void>;
  /** Makes the file's bytes durable (fdatasync). */
  sync(path: string): Promise<void>;
}

/** The driver's "not found", free of HTTP; errors/to-registry-error.ts and callers map it. */
export class PathNotFoundError extends Error {
  constructor(readonly path: string) {
    super(`path not found: ${path}`);
    this.name = 'PathNotFoundError';
  }
}

/** `getContent`, with "nothing there" as undefined; every other failure still throws. */
export async function getContentIfExists(driver: ObjectStore, path: string): Promise<Buffer | undefined> {
  try {
    return await driver.getContent(path);
  } catch (err) {
    if (err instanceof PathNotFoundError) return undefined;
    throw err;
  }
}

/** writeAt was asked to write past the end of the file: the caller's idea of its size is stale. */
export class OffsetMismatchError extends Error {
  constructor(
    readonly path: string,
    readonly size: number,
    readonly offset: number,
  ) {
    super(`${path} holds ${size} bytes; cannot write at ${offset}`);
    this.name = 'OffsetMismatchError';
  }
}

/**
 * Which driver, and its parameters: a tagged union keyed by the driver's name, the shape of
 * distribution's `storage:` section (exactly one of `filesystem`, `s3`). Plain data, so a worker
 * thread rebuilds the same driver from its workerData (factory.ts).
 */
export type DriverParams = FilesystemParams | S3DriverParams | InMemoryParams;

export interface FilesystemParams {
  readonly filesystem: {
    readonly rootdirectory: string;
    /** Write upload data with O_DIRECT where it can (default true): see filesystem/driver.ts. */
    readonly directio?: boolean;
  };
  readonly s3?: undefined;
  readonly inmemory?: undefined;
}

export interface S3DriverParams {
  readonly s3: import('./s3/params.ts').S3Params;
  readonly filesystem?: undefined;
  readonly inmemory?: undefined;
}

/**
 * distribution's `inmemory` driver (storage/inmemory/driver.ts): no parameters. Each opening is a
 * new, empty store that lives on the main thread only; the workers only hash for it.
 */
export interface InMemoryParams {
  readonly inmemory: Record<string, never>;
  readonly filesystem?: undefined;
  readonly s3?: undefined;
}
