import { Readable } from 'node:stream';
import { PathNotFoundError, type FileInfo, type StorageDriver } from '../driver.ts';
import { S3Client, S3Error, type CompletedPart } from './client.ts';
import { KeyLayout } from './layout.ts';
import type { S3Params } from './params.ts';

/** S3 refuses a single CopyObject above 5 GiB; beyond it, UploadPartCopy in parts. */
const MAX_SINGLE_COPY = 5 * 1024 * 1024 * 1024;
/** distribution's multipartcopychunksize and multipartcopymaxconcurrency defaults are 32 MiB / 100; a 2-core box wants fewer. */
const COPY_PART_SIZE = 32 * 1024 * 1024;
const COPY_CONCURRENCY = 8;
/** The most keys ListObjectsV2 returns and DeleteObjects takes in one call. */
const BATCH = 1000;

export interface S3DriverOptions {
  /** Objects above this size move by multipart copy (default 5 GiB, S3's single-copy limit). */
  readonly multipartCopyThreshold?: number;
  /** Part size of a multipart copy (≥ 5 MiB; default 32 MiB, as distribution). */
  readonly multipartCopyPartSize?: number;
  /** Per-request idle timeout, ms (default 30 s). */
  readonly timeoutMs?: number;
}

/** S3 "no such key" (or a bodiless 404) is the driver's PathNotFoundError; anything else keeps its message and code. */
function isNoSuchKey(err: unknown): boolean {
  return err instanceof S3Error && (err.code === 'NoSuchKey' || err.code === 'NotFound');
}

/** The endpoint URL from distribution's parameters: a scheme in regionendpoint wins over `secure`. */
export function endpointOf(params: S3Params): URL {
  const scheme = params.secure === false ? 'http' : 'https';
  const given = params.regionendpoint;
  if (given === undefined || given === '') return new URL(`${scheme}://s3.${params.region}.amazonaws.com`);
  return new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(given) ? given : `${scheme}://${given}`);
}

/** Builds the client from distribution's parameters; credentials fall back to the AWS_* environment. */
export function clientOf(params: S3Params, timeoutMs?: number): S3Client {
  const accessKeyId = params.accesskey ?? process.env['AWS_ACCESS_KEY_ID'];
  const secretAccessKey = params.secretkey ?? process.env['AWS_SECRET_ACCESS_KEY'];
  if (accessKeyId === undefined || accessKeyId === '' || secretAccessKey === undefined || secretAccessKey === '') {
    throw new Error('s3: no credentials: set storage.s3.accesskey/secretkey or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY');
  }
  if (params.bucket === '') throw new Error('s3: storage.s3.bucket is empty');
  return new S3Client({
    endpoint: endpointOf(params),
    region: params.region,
    bucket: params.bucket,
    accessKeyId,
    secretAccessKey,
    forcePathStyle: params.forcepathstyle ?? false,
    skipVerify: params.skipverify ?? false,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });
}

/**
 * The S3 driver's whole-object part (issue 10): distribution's s3-aws driver's layout and
 * semantics, over our own small client (client.ts).
 *
 * S3 has no folders. A folder exists while some key starts with `folder/`; stat calls it a
 * directory of size 0 with no meaningful time. putContent is atomic by S3's own rule (a PUT is
 * visible whole or not at all) and durable when it returns, so `durable` changes nothing. move
 * is copy + delete: not atomic, and O(size) on the server. The upload writer comes later.
 */
/** How long a presigned blob URL is valid: distribution's s3-aws uses 20 minutes. */
const REDIRECT_EXPIRY_SECONDS = 20 * 60;

/**
 * LastModified is the store's clock, read in whole seconds (Last-Modified is an HTTP date). S3
 * accepts SigV4 requests from clients up to 15 minutes off its clock, so that is the skew a
 * working setup can have; plus the second lost to resolution.
 */
const TIMESTAMP_SLACK_MS = 15 * 60_000 + 1000;

export class S3Driver implements StorageDriver {
  readonly name = 's3';
  readonly timestampSlackMs = TIMESTAMP_SLACK_MS;
  readonly client: S3Client;
  readonly layout: KeyLayout;
  /** Part size of new uploads (storage.s3.chunksize); the upload writer's default when absent. */
  readonly chunksize: number | undefined;
  private readonly copyThreshold: number;
  private readonly copyPartSize: number;

  constructor(params: S3Params, options: S3DriverOptions = {}) {
    this.client = clientOf(params, options.timeoutMs);
    this.layout = new KeyLayout(params.rootdirectory ?? '');
    this.chunksize = params.chunksize;
    this.copyThreshold = options.multipartCopyThreshold ?? MAX_SINGLE_COPY;
    this.copyPartSize = options.multipartCopyPartSize ?? COPY_PART_SIZE;
  }

  /** Checks the bucket and the credentials once: a wrong setup fails at start-up with S3's reason. */
  async verify(): Promise<void> {
    await this.client.headBucket();
  }

  /** Closes the client's idle sockets. */
  close(): void {
    this.client.close();
  }

  async getContent(path: string): Promise<Buffer> {
    const body = await this.open(path);
    if (body === 'out-of-range') return Buffer.alloc(0);
    const parts: Buffer[] = [];
    for await (const chunk of body) parts.push(chunk as Buffer);
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  }

  async putContent(path: string, content: Uint8Array | string, _options?: { durable?: boolean }): Promise<void> {
    const body = typeof content === 'string' ? Buffer.from(content) : Buffer.isBuffer(content) ? content : Buffer.from(content.buffer, content.byteOffset, content.byteLength);
    await this.client.putObject(this.layout.key(path), body);
  }

  /**
   * S3 cannot set a LastModified, but a copy of the object onto itself (metadata replaced) gets a
   * new one: one server-side request, what garbage collection needs of a touch. The time is the
   * store's clock, not ours (gc/garbage-collect.ts allows for the skew).
   */
  async touch(path: string): Promise<boolean> {
    const key = this.layout.key(path);
    try {
      await this.client.copyObject(key, key, { replaceMetadata: true });
      return true;
    } catch (err) {
      if (err instanceof S3Error && err.status === 404) return false;
      throw err;
    }
  }

  /** distribution's RedirectURL: GET and HEAD presigned for 20 minutes (its s3-aws default). */
  redirectUrl(path: string, method: string): string | undefined {
    if (method !== 'GET' && method !== 'HEAD') return undefined;
    return this.client.presign(method, this.layout.key(path), REDIRECT_EXPIRY_SECONDS);
  }

  /**
   * Incomplete multipart uploads under `path` initiated before `startedBefore` (by the store's
   * clock, widened by its slack): the upload purge's (uploads/purge.ts). An upload without an
   * Initiated time is kept: its age is unknown.
   */
  async purgeIncompleteWrites(path: string, startedBefore: number, dryRun: boolean, keep: readonly string[]): Promise<number> {
    const cutoff = startedBefore - TIMESTAMP_SLACK_MS;
    const kept = keep.map((folder) => this.layout.folder(folder));
    const stale = (await this.client.listMultipartUploads(this.layout.folder(path))).filter(
      (u) => u.initiated !== undefined && u.initiated.getTime() < cutoff && !kept.some((folder) => u.key.startsWith(folder)),
    );
    if (!dryRun) for (const upload of stale) await this.client.abortMultipartUpload(upload.key, upload.uploadId);
    return stale.length;
  }

  async stat(path: string): Promise<FileInfo | undefined> {
    const key = this.layout.key(path);
    if (key !== '' && !key.endsWith('/')) {
      const head = await this.client.headObject(key);
      if (head !== undefined) return { size: head.size, isDirectory: false, modifiedAt: head.lastModified };
    }
    // Not an object: a folder if any key lies below it. (This list also surfaces a missing
    // bucket, which the bodiless HEAD 404 above could not tell from a missing key.)
    const page = await this.client.listObjectsV2({ prefix: this.layout.folder(path), maxKeys: 1 });
    if (page.objects.length === 0 && page.prefixes.length === 0) return undefined;
    return { size: 0, isDirectory: true, modifiedAt: new Date(0) };
  }

  async list(path: string): Promise<string[]> {
    const prefix = this.layout.folder(path);
    const names: string[] = [];
    let continuationToken: string | undefined;
    do {
      const page = await this.client.listObjectsV2({ prefix, delimiter: '/', maxKeys: BATCH, ...(continuationToken === undefined ? {} : { continuationToken }) });
      for (const object of page.objects) {
        const name = object.key.slice(prefix.length);
        // A key equal to the prefix ("folder/" marker objects some tools make) is no child.
        if (name !== '') names.push(name);
      }
      for (const folder of page.prefixes) {
        const name = folder.slice(prefix.length, -1);
        if (name !== '') names.push(name);
      }
      continuationToken = page.nextContinuationToken;
    } while (continuationToken !== undefined);
    // A name can be both an object and a folder ("a" and "a/b"): once.
    return [...new Set(names)].sort();
  }

  async reader(path: string, start = 0, end?: number): Promise<Readable> {
    if (end !== undefined && end < start) return Readable.from([]);
    const body = await this.open(path, start, end);
    return body === 'out-of-range' ? Readable.from([]) : body;
  }

  /** GetObject; a missing key is PathNotFoundError. */
  private async open(path: string, start = 0, end?: number): Promise<Readable | 'out-of-range'> {
    try {
      return await this.client.getObject(this.layout.key(path), start === 0 && end === undefined ? undefined : { start, ...(end === undefined ? {} : { end }) });
    } catch (err) {
      if (isNoSuchKey(err)) throw new PathNotFoundError(path);
      throw err;
    }
  }

  async move(from: string, to: string): Promise<void> {
    const source = this.layout.key(from);
    const destination = this.layout.key(to);
    const head = await this.client.headObject(source);
    if (head === undefined) {
      // A bodiless HEAD 404 is also a missing bucket: one list says which (and throws NoSuchBucket).
      await this.client.listObjectsV2({ prefix: source, maxKeys: 1 });
      throw new PathNotFoundError(from);
    }
    // S3 refuses a copy onto itself, and the delete after it would then lose the object.
    if (source === destination) return;
    if (head.size <= this.copyThreshold) {
      try {
        await this.client.copyObject(source, destination);
      } catch (err) {
        // Deleted between the HEAD and the copy.
        if (isNoSuchKey(err)) throw new PathNotFoundError(from);
        throw err;
      }
    } else {
      await this.multipartCopy(source, destination, head.size);
    }
    await this.client.deleteObject(source);
  }

  /** distribution's copy() above its threshold: UploadPartCopy of fixed-size ranges, a few at a time. */
  private async multipartCopy(source: string, destination: string, size: number): Promise<void> {
    const uploadId = await this.client.createMultipartUpload(destination);
    try {
      const count = Math.ceil(size / this.copyPartSize);
      const parts: CompletedPart[] = new Array<CompletedPart>(count);
      let next = 0;
      const lane = async (): Promise<void> => {
        while (next < count) {
          const index = next++;
          const first = index * this.copyPartSize;
          const last = Math.min(first + this.copyPartSize, size) - 1;
          const etag = await this.client.uploadPartCopy(source, destination, uploadId, index + 1, first, last);
          parts[index] = { partNumber: index + 1, etag };
        }
      };
      await Promise.all(Array.from({ length: Math.min(COPY_CONCURRENCY, count) }, lane));
      await this.client.completeMultipartUpload(destination, uploadId, parts);
    } catch (err) {
      await this.client.abortMultipartUpload(destination, uploadId).catch(() => undefined);
      throw err;
    }
  }

  async delete(path: string): Promise<void> {
    const key = this.layout.key(path);
    const prefix = this.layout.folder(path);
    // The object itself (if any) and every key below its folder; never "a-b" when deleting "a".
    let batch: string[] = prefix === key ? [] : [key];
    let continuationToken: string | undefined;
    do {
      const page = await this.client.listObjectsV2({ prefix, maxKeys: BATCH, ...(continuationToken === undefined ? {} : { continuationToken }) });
      for (const object of page.objects) {
        batch.push(object.key);
        if (batch.length === BATCH) {
          await this.client.deleteObjects(batch);
          batch = [];
        }
      }
      continuationToken = page.nextContinuationToken;
    } while (continuationToken !== undefined);
    await this.client.deleteObjects(batch);
  }
}
