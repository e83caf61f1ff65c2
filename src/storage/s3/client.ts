import aws4 from 'aws4';
import { XMLParser } from 'fast-xml-parser';
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';

/**
 * A small S3 client: SigV4 by aws4 over node:http(s) with one keep-alive agent, XML by
 * fast-xml-parser. It has the dozen calls the driver makes and nothing else.
 *
 * Why not @aws-sdk/client-s3: its middleware stack costs several times the CPU per small request
 * (bench/micro/s3-client.ts measures both against RGW), and a registry's pull path is mostly small
 * requests (links, manifests, HEADs). Nothing here is S3-specific beyond the wire format, so RGW,
 * MinIO and AWS all speak it; only path-style vs virtual-host addressing differs.
 */

export interface S3ClientOptions {
  /** scheme://host[:port] of the service, e.g. http://127.0.0.1:7480. */
  readonly endpoint: URL;
  readonly region: string;
  readonly bucket: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** endpoint/bucket/key (true) or bucket.endpoint/key (false). */
  readonly forcePathStyle: boolean;
  /** Accept any TLS certificate. */
  readonly skipVerify?: boolean;
  /** A request with no byte from the service for this long fails (never a hang). Default 30 s. */
  readonly timeoutMs?: number;
}

/** An error answer from S3 (or a failure to reach it); `code` is S3's, e.g. NoSuchBucket. */
export class S3Error extends Error {
  constructor(
    readonly operation: string,
    readonly code: string,
    readonly status: number,
    detail: string,
  ) {
    super(`S3 ${operation}: ${code}${status > 0 ? ` (HTTP ${status})` : ''}${detail === '' ? '' : `: ${detail}`}`);
    this.name = 'S3Error';
  }
}

export interface ObjectHead {
  readonly size: number;
  readonly lastModified: Date;
  readonly etag: string;
}

export interface ListedObject {
  readonly key: string;
  readonly size: number;
  readonly lastModified: Date;
}

export interface ListPage {
  readonly objects: ListedObject[];
  /** Common prefixes (with their trailing delimiter) when a delimiter was given. */
  readonly prefixes: string[];
  /** Set when there is more: pass it back as `continuationToken`. */
  readonly nextContinuationToken: string | undefined;
}

export interface CompletedPart {
  readonly partNumber: number;
  readonly etag: string;
}

/** One part of a multipart upload as ListParts reports it. */
export interface ListedPart {
  readonly partNumber: number;
  readonly etag: string;
  readonly size: number;
}

export interface PartsPage {
  readonly parts: ListedPart[];
  /** Set when there is more: pass it back as `partNumberMarker`. */
  readonly nextPartNumberMarker: number | undefined;
}

/**
 * A PutObject precondition. `ifNoneMatch: '*'` creates only (fails when the key exists);
 * `ifMatch` replaces only the version with that ETag (fails when the key is missing or changed).
 */
export type PutCondition = { readonly ifNoneMatch: '*' } | { readonly ifMatch: string };

interface RequestSpec {
  readonly method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';
  /** Object key, unencoded; undefined addresses the bucket. */
  readonly key?: string;
  /** Query parameters, unencoded; '' values give `?name=` (S3 reads `?delete=` as `?delete`). */
  readonly query?: Readonly<Record<string, string>>;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Buffer;
  /** The caller streams the body at its own pace: no idle timer once the headers are in. */
  readonly stream?: boolean;
}

type XmlNode = Record<string, unknown>;

const xml = new XMLParser({
  ignoreAttributes: true,
  // Keys, ETags and tokens are strings: "0123" must not become 123.
  parseTagValue: false,
  isArray: (_name, jPath) =>
    jPath === 'ListBucketResult.Contents' || jPath === 'ListBucketResult.CommonPrefixes' || jPath === 'DeleteResult.Error' || jPath === 'DeleteResult.Deleted' || jPath === 'ListPartsResult.Part' || jPath === 'ListMultipartUploadsResult.Upload',
});

/** encodeURIComponent plus the RFC 3986 reserved characters it leaves alone: SigV4's encoding. */
function encodeRfc3986(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function encodeKey(key: string): string {
  return key.split('/').map(encodeRfc3986).join('/');
}

function xmlEscape(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Listing with encoding-type=url returns keys percent-encoded, with '+' for space. */
function decodeListed(value: string): string {
  return decodeURIComponent(value.replace(/\+/g, ' '));
}

function text(node: unknown): string {
  if (typeof node === 'string') return node;
  if (node === undefined || node === null) return '';
  return String(node);
}

function child(node: unknown, name: string): unknown {
  return typeof node === 'object' && node !== null ? (node as XmlNode)[name] : undefined;
}

function children(node: unknown, name: string): unknown[] {
  const value = child(node, name);
  return Array.isArray(value) ? value : value === undefined ? [] : [value];
}

/**
 * Upload bodies (parts, tails) go with `UNSIGNED-PAYLOAD`: SigV4 otherwise wants the body's
 * SHA-256 in the signature, which cost this event loop 1.2 CPU-seconds per GiB (the parts' bytes
 * hashed a second time, beside the worker's hash of the upload; measured by
 * bench/micro/s3-part-cost.ts). The AWS SDK v3 sends the same for PutObject and UploadPart.
 * Integrity in transit is then TLS's on https endpoints, TCP's on plain http ones. Small bodies
 * (state objects, links, manifests) stay signed: hashing them is free.
 */
const UNSIGNED_BODY = { 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD' } as const;
const SIGNED_BODY_MAX = 64 * 1024;

/** Network failures that mean "a kept-alive socket was closed under us": safe to send again. */
const STALE_SOCKET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
const MAX_STALE_RETRIES = 16;

export class S3Client {
  private readonly options: S3ClientOptions;
  private readonly transport: typeof http | typeof https;
  private readonly agent: http.Agent;
  private readonly host: string;
  private readonly port: number;
  private readonly hostHeader: string;
  private readonly basePath: string;
  private readonly credentials: { accessKeyId: string; secretAccessKey: string };
  private readonly timeoutMs: number;

  constructor(options: S3ClientOptions) {
    this.options = options;
    const secure = options.endpoint.protocol === 'https:';
    this.transport = secure ? https : http;
    // One agent per client: sockets are reused across requests (the TLS or TCP handshake is
    // the largest per-request cost otherwise). Unlimited sockets, as the SDK's default.
    this.agent = secure ? new https.Agent({ keepAlive: true, rejectUnauthorized: options.skipVerify !== true }) : new http.Agent({ keepAlive: true });
    const endpointHost = options.endpoint.hostname;
    this.host = options.forcePathStyle ? endpointHost : `${options.bucket}.${endpointHost}`;
    this.port = options.endpoint.port === '' ? (secure ? 443 : 80) : Number(options.endpoint.port);
    this.hostHeader = options.endpoint.port === '' ? this.host : `${this.host}:${this.port}`;
    this.basePath = options.forcePathStyle ? `/${encodeRfc3986(options.bucket)}` : '';
    this.credentials = { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey };
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  get bucket(): string {
    return this.options.bucket;
  }

  /** Closes idle sockets; requests still in flight finish. */
  close(): void {
    this.agent.destroy();
  }

  /**
   * Sends one signed request and resolves with the response once its headers are in; the body is
   * left unread for the caller (stream it, or `readAll`). When a reused keep-alive socket turns out
   * closed by the service (Node's documented `req.reusedSocket` pattern), sends again: each such
   * failure destroys that socket, and the pool may hold several stale ones (seen in the test), so
   * it retries until a request fails on a fresh socket, at most MAX_STALE_RETRIES times. Bodies are
   * Buffers, so any request can be sent again.
   */
  private async send(operation: string, spec: RequestSpec): Promise<http.IncomingMessage> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.sendOnce(operation, spec);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const stale = (err as { reusedSocket?: boolean }).reusedSocket === true && code !== undefined && STALE_SOCKET_CODES.has(code);
        if (stale && attempt < MAX_STALE_RETRIES) continue;
        throw err;
      }
    }
  }

  private sendOnce(operation: string, spec: RequestSpec): Promise<http.IncomingMessage> {
    let path = this.basePath + (spec.key === undefined ? '/' : `/${encodeKey(spec.key)}`);
    if (spec.query !== undefined) {
      const pairs = Object.entries(spec.query).map(([name, value]) => `${encodeRfc3986(name)}=${encodeRfc3986(value)}`);
      if (pairs.length > 0) path += `?${pairs.join('&')}`;
    }
    const headers: Record<string, string> = { Host: this.hostHeader, ...spec.headers };
    if (spec.body !== undefined) headers['Content-Length'] = String(spec.body.length);
    const signed = aws4.sign({ service: 's3', region: this.options.region, method: spec.method, host: this.host, path, headers, ...(spec.body === undefined ? {} : { body: spec.body }) }, this.credentials);
    return new Promise((resolve, reject) => {
      const req = this.transport.request({
        agent: this.agent,
        host: this.options.endpoint.hostname,
        port: this.port,
        method: spec.method,
        // aws4 may re-encode the path into its canonical form; send what it signed.
        path: signed.path ?? path,
        headers: signed.headers as http.OutgoingHttpHeaders,
      });
      req.setTimeout(this.timeoutMs, () => {
        req.destroy(new S3Error(operation, 'Timeout', 0, `no answer from ${this.options.endpoint.origin} in ${this.timeoutMs / 1000} s`));
      });
      req.once('response', (res) => {
        // A streamed body goes at its reader's pace (a slow client pulling a blob): the idle timer
        // stops here. Bodies read whole (XML answers) keep it, so a stalled answer still fails.
        if (spec.stream === true) req.setTimeout(0);
        resolve(res);
      });
      req.once('error', (err: Error) => {
        if (err instanceof S3Error) return reject(err);
        const wrapped = new S3Error(operation, (err as NodeJS.ErrnoException).code ?? 'NetworkError', 0, `${this.options.endpoint.origin}: ${err.message}`);
        Object.assign(wrapped, { reusedSocket: req.reusedSocket, cause: err });
        reject(wrapped);
      });
      req.end(spec.body);
    });
  }

  /**
   * A presigned URL for GET or HEAD of `key` (SigV4 in the query), valid `expiresSeconds`: what a
   * client is redirected to, so blob bytes go from the store to it without passing through us.
   */
  presign(method: 'GET' | 'HEAD', key: string, expiresSeconds: number): string {
    const path = `${this.basePath}/${encodeKey(key)}?X-Amz-Expires=${expiresSeconds}`;
    const signed = aws4.sign({ service: 's3', region: this.options.region, method, host: this.host, path, headers: { Host: this.hostHeader }, signQuery: true }, this.credentials);
    return `${this.options.endpoint.protocol}//${this.hostHeader}${signed.path ?? path}`;
  }

  /** Reads a whole (small) response body. */
  private static async readAll(res: http.IncomingMessage): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const chunk of res) parts.push(chunk as Buffer);
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  }

  /** Turns a non-2xx answer into an S3Error carrying S3's code and message. */
  private static async failure(operation: string, res: http.IncomingMessage): Promise<S3Error> {
    const status = res.statusCode ?? 0;
    const body = await S3Client.readAll(res);
    const parsed = body.length > 0 ? S3Client.parseXml(body) : undefined;
    const error = child(parsed, 'Error');
    if (error !== undefined) {
      const message = text(child(error, 'Message'));
      const bucket = text(child(error, 'BucketName'));
      const key = text(child(error, 'Key'));
      const where = key !== '' ? `key ${key}` : bucket !== '' ? `bucket ${bucket}` : '';
      return new S3Error(operation, text(child(error, 'Code')) || `HTTP${status}`, status, [message, where].filter((s) => s !== '').join('; '));
    }
    // HEAD answers carry no body: name the usual causes.
    const code = status === 404 ? 'NotFound' : status === 403 ? 'Forbidden' : `HTTP${status}`;
    const hint = status === 403 ? 'wrong credentials or no permission' : status === 404 ? 'no such key or bucket' : res.statusMessage ?? '';
    return new S3Error(operation, code, status, hint);
  }

  private static parseXml(body: Buffer): unknown {
    try {
      return xml.parse(body.toString('utf8'));
    } catch {
      return undefined;
    }
  }

  /** Sends, fails on non-2xx, and parses an XML body; a 200 with <Error> (CopyObject, Complete) fails too. */
  private async xmlCall(operation: string, spec: RequestSpec): Promise<unknown> {
    const res = await this.send(operation, spec);
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw await S3Client.failure(operation, res);
    const body = await S3Client.readAll(res);
    const parsed = body.length > 0 ? S3Client.parseXml(body) : undefined;
    const error = child(parsed, 'Error');
    if (error !== undefined) throw new S3Error(operation, text(child(error, 'Code')) || 'InternalError', status, text(child(error, 'Message')));
    return parsed;
  }

  /**
   * GetObject, optionally ranged (`bytes=start-end`, `end` inclusive, open when undefined).
   * Resolves with the body stream, or with 'out-of-range' for a 416 (a start at or past the end).
   */
  async getObject(key: string, range?: { start: number; end?: number }): Promise<http.IncomingMessage | 'out-of-range'> {
    const headers: Record<string, string> = range === undefined ? {} : { Range: `bytes=${range.start}-${range.end ?? ''}` };
    const res = await this.send('GetObject', { method: 'GET', key, headers, stream: true });
    const status = res.statusCode ?? 0;
    if (status === 200 || status === 206) return res;
    if (status === 416) {
      res.resume();
      return 'out-of-range';
    }
    throw await S3Client.failure('GetObject', res);
  }

  /** HeadObject; undefined on 404 (which is also what a missing bucket answers: HEAD has no body). */
  async headObject(key: string): Promise<ObjectHead | undefined> {
    const res = await this.send('HeadObject', { method: 'HEAD', key });
    res.resume();
    const status = res.statusCode ?? 0;
    if (status === 404) return undefined;
    if (status !== 200) throw await S3Client.failure('HeadObject', res);
    const modified = res.headers['last-modified'];
    return {
      size: Number(res.headers['content-length'] ?? 0),
      lastModified: modified === undefined ? new Date(0) : new Date(modified),
      etag: res.headers.etag ?? '',
    };
  }

  /** HeadBucket: resolves when the bucket exists and the credentials may use it. */
  async headBucket(): Promise<void> {
    const res = await this.send('HeadBucket', { method: 'HEAD' });
    res.resume();
    const status = res.statusCode ?? 0;
    if (status === 404) throw new S3Error('HeadBucket', 'NoSuchBucket', 404, `bucket ${this.options.bucket} does not exist at ${this.options.endpoint.origin}`);
    if (status !== 200) throw await S3Client.failure('HeadBucket', res);
  }

  async putObject(key: string, body: Buffer, contentType = 'application/octet-stream'): Promise<void> {
    const headers = body.length > SIGNED_BODY_MAX ? { 'Content-Type': contentType, ...UNSIGNED_BODY } : { 'Content-Type': contentType };
    const res = await this.send('PutObject', { method: 'PUT', key, body, headers });
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw await S3Client.failure('PutObject', res);
    res.resume();
  }

  /**
   * PutObject under a precondition: resolves with the new object's ETag, or 'precondition-failed'
   * when S3 answered 412 (the condition did not hold) or 409 ConditionalRequestConflict (AWS: a
   * concurrent conditional write to the same key won the race). Whether a service honours the
   * headers at all is its business: upload-state.ts records what Ceph RGW does.
   */
  async putObjectIf(key: string, body: Buffer, condition: PutCondition, contentType = 'application/octet-stream'): Promise<{ etag: string } | 'precondition-failed'> {
    const headers: Record<string, string> = { 'Content-Type': contentType };
    // Ceph RGW 16.2 compares If-Match with the stored ETag, which it keeps without quotes
    // (strncmp in RGWRados::Object::Write::_do_write_meta's guard): the quoted form every
    // ETag header carries never matches there. The bare form is what it honours.
    if ('ifMatch' in condition) headers['If-Match'] = condition.ifMatch.replace(/^"(.*)"$/, '$1');
    else headers['If-None-Match'] = condition.ifNoneMatch;
    const res = await this.send('PutObject', { method: 'PUT', key, body, headers });
    const status = res.statusCode ?? 0;
    if (status === 412 || status === 409) {
      res.resume();
      return 'precondition-failed';
    }
    if (status < 200 || status >= 300) throw await S3Client.failure('PutObject', res);
    res.resume();
    return { etag: res.headers.etag ?? '' };
  }

  /** GetObject of a small object read whole, with its ETag; undefined when the key is missing. */
  async getSmallObject(key: string): Promise<{ body: Buffer; etag: string } | undefined> {
    const res = await this.send('GetObject', { method: 'GET', key });
    const status = res.statusCode ?? 0;
    if (status === 404) {
      const err = await S3Client.failure('GetObject', res);
      // A missing bucket is a setup error, not a missing object.
      if (err.code === 'NoSuchBucket') throw err;
      return undefined;
    }
    if (status !== 200) throw await S3Client.failure('GetObject', res);
    return { body: await S3Client.readAll(res), etag: res.headers.etag ?? '' };
  }

  async deleteObject(key: string): Promise<void> {
    const res = await this.send('DeleteObject', { method: 'DELETE', key });
    const status = res.statusCode ?? 0;
    // S3 answers 204 whether or not the key was there.
    if ((status < 200 || status >= 300) && status !== 404) throw await S3Client.failure('DeleteObject', res);
    res.resume();
  }

  /** One page of ListObjectsV2 (at most `maxKeys`, S3 caps it at 1000). */
  async listObjectsV2(input: { prefix: string; delimiter?: string; continuationToken?: string; maxKeys?: number }): Promise<ListPage> {
    const query: Record<string, string> = { 'list-type': '2', 'encoding-type': 'url', prefix: input.prefix };
    if (input.delimiter !== undefined) query['delimiter'] = input.delimiter;
    if (input.continuationToken !== undefined) query['continuation-token'] = input.continuationToken;
    if (input.maxKeys !== undefined) query['max-keys'] = String(input.maxKeys);
    const result = child(await this.xmlCall('ListObjectsV2', { method: 'GET', query }), 'ListBucketResult');
    const truncated = text(child(result, 'IsTruncated')) === 'true';
    const token = text(child(result, 'NextContinuationToken'));
    if (truncated && token === '') throw new S3Error('ListObjectsV2', 'InvalidResponse', 200, 'truncated listing without NextContinuationToken');
    return {
      objects: children(result, 'Contents').map((entry) => ({
        key: decodeListed(text(child(entry, 'Key'))),
        size: Number(text(child(entry, 'Size'))),
        lastModified: new Date(text(child(entry, 'LastModified'))),
      })),
      prefixes: children(result, 'CommonPrefixes').map((entry) => decodeListed(text(child(entry, 'Prefix')))),
      nextContinuationToken: truncated ? token : undefined,
    };
  }

  /** DeleteObjects for ≤ 1000 keys; any per-key error fails the call, naming the first. */
  async deleteObjects(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    if (keys.length > 1000) throw new RangeError(`DeleteObjects takes at most 1000 keys, got ${keys.length}`);
    const body = Buffer.from(`<?xml version="1.0" encoding="UTF-8"?><Delete><Quiet>true</Quiet>${keys.map((k) => `<Object><Key>${xmlEscape(k)}</Key></Object>`).join('')}</Delete>`);
    // S3 requires Content-MD5 on DeleteObjects.
    const headers = { 'Content-Type': 'application/xml', 'Content-MD5': createHash('md5').update(body).digest('base64') };
    const result = child(await this.xmlCall('DeleteObjects', { method: 'POST', query: { delete: '' }, headers, body }), 'DeleteResult');
    const errors = children(result, 'Error').filter((e) => text(child(e, 'Code')) !== 'NoSuchKey');
    const first = errors[0];
    if (first !== undefined) {
      throw new S3Error('DeleteObjects', text(child(first, 'Code')), 200, `${text(child(first, 'Key'))}: ${text(child(first, 'Message'))} (${errors.length} of ${keys.length} keys failed)`);
    }
  }

  private copySource(key: string): string {
    return `/${encodeRfc3986(this.options.bucket)}/${encodeKey(key)}`;
  }

  /**
   * CopyObject within the bucket (S3 allows up to 5 GiB per copy). `replaceMetadata` sends
   * `x-amz-metadata-directive: REPLACE`, which S3 requires to copy an object onto itself (touch).
   */
  async copyObject(sourceKey: string, destinationKey: string, options: { replaceMetadata?: boolean } = {}): Promise<void> {
    const headers: Record<string, string> = { 'x-amz-copy-source': this.copySource(sourceKey), 'Content-Type': 'application/octet-stream' };
    if (options.replaceMetadata) headers['x-amz-metadata-directive'] = 'REPLACE';
    await this.xmlCall('CopyObject', { method: 'PUT', key: destinationKey, headers });
  }

  async createMultipartUpload(key: string, contentType = 'application/octet-stream'): Promise<string> {
    const result = await this.xmlCall('CreateMultipartUpload', { method: 'POST', key, query: { uploads: '' }, headers: { 'Content-Type': contentType } });
    const uploadId = text(child(child(result, 'InitiateMultipartUploadResult'), 'UploadId'));
    if (uploadId === '') throw new S3Error('CreateMultipartUpload', 'InvalidResponse', 200, 'no UploadId in the answer');
    return uploadId;
  }

  /** UploadPart of one whole part; returns the part's ETag. */
  async uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer): Promise<string> {
    const res = await this.send('UploadPart', { method: 'PUT', key, query: { partNumber: String(partNumber), uploadId }, body, headers: UNSIGNED_BODY });
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw await S3Client.failure('UploadPart', res);
    res.resume();
    const etag = res.headers.etag ?? '';
    if (etag === '') throw new S3Error('UploadPart', 'InvalidResponse', status, 'no ETag in the answer');
    return etag;
  }

  /** UploadPart with the body's SHA-256 in the signature: only bench/micro/s3-part-cost.ts, to measure what that costs. */
  async uploadPartSigned(key: string, uploadId: string, partNumber: number, body: Buffer): Promise<string> {
    const res = await this.send('UploadPart', { method: 'PUT', key, query: { partNumber: String(partNumber), uploadId }, body });
    if ((res.statusCode ?? 0) >= 300) throw await S3Client.failure('UploadPart', res);
    res.resume();
    return res.headers.etag ?? '';
  }

  /**
   * One page of ListParts (S3 returns at most 1000 parts per page, fewer when `maxParts` says so).
   * Callers loop on `nextPartNumberMarker`: a single call stops at 1000 parts, which is how
   * distribution's s3-aws driver lost layers above 10 GB (distribution #2814).
   */
  async listParts(key: string, uploadId: string, input: { maxParts?: number; partNumberMarker?: number } = {}): Promise<PartsPage> {
    const query: Record<string, string> = { uploadId };
    if (input.maxParts !== undefined) query['max-parts'] = String(input.maxParts);
    if (input.partNumberMarker !== undefined) query['part-number-marker'] = String(input.partNumberMarker);
    const result = child(await this.xmlCall('ListParts', { method: 'GET', key, query }), 'ListPartsResult');
    const parts = children(result, 'Part').map((part) => ({
      partNumber: Number(text(child(part, 'PartNumber'))),
      etag: text(child(part, 'ETag')),
      size: Number(text(child(part, 'Size'))),
    }));
    const truncated = text(child(result, 'IsTruncated')) === 'true';
    const marker = Number(text(child(result, 'NextPartNumberMarker')));
    if (truncated && !(marker > 0)) throw new S3Error('ListParts', 'InvalidResponse', 200, 'truncated listing without NextPartNumberMarker');
    return { parts, nextPartNumberMarker: truncated ? marker : undefined };
  }

  /** Every part of a multipart upload, page after page (`pageSize` only for tests of the loop). */
  async listAllParts(key: string, uploadId: string, pageSize?: number): Promise<ListedPart[]> {
    const all: ListedPart[] = [];
    let partNumberMarker: number | undefined;
    do {
      const page = await this.listParts(key, uploadId, { ...(pageSize === undefined ? {} : { maxParts: pageSize }), ...(partNumberMarker === undefined ? {} : { partNumberMarker }) });
      all.push(...page.parts);
      partNumberMarker = page.nextPartNumberMarker;
    } while (partNumberMarker !== undefined);
    return all;
  }

  /**
   * The multipart uploads in progress whose key starts with `prefix` (every page). A writer that
   * died between CreateMultipartUpload and recording it leaves one no state names: cancel finds
   * it here.
   */
  async listMultipartUploads(prefix: string): Promise<Array<{ key: string; uploadId: string; initiated?: Date }>> {
    const all: Array<{ key: string; uploadId: string; initiated?: Date }> = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const query: Record<string, string> = { uploads: '', prefix };
      if (keyMarker !== undefined) query['key-marker'] = keyMarker;
      if (uploadIdMarker !== undefined) query['upload-id-marker'] = uploadIdMarker;
      const result = child(await this.xmlCall('ListMultipartUploads', { method: 'GET', query }), 'ListMultipartUploadsResult');
      for (const upload of children(result, 'Upload')) {
        const initiated = new Date(text(child(upload, 'Initiated')));
        all.push({ key: text(child(upload, 'Key')), uploadId: text(child(upload, 'UploadId')), ...(Number.isNaN(initiated.getTime()) ? {} : { initiated }) });
      }
      if (text(child(result, 'IsTruncated')) !== 'true') return all;
      keyMarker = text(child(result, 'NextKeyMarker'));
      uploadIdMarker = text(child(result, 'NextUploadIdMarker'));
      if (keyMarker === '') throw new S3Error('ListMultipartUploads', 'InvalidResponse', 200, 'truncated listing without NextKeyMarker');
    }
  }

  /** UploadPartCopy of bytes [first, last] of `sourceKey`; returns the part's ETag. */
  async uploadPartCopy(sourceKey: string, destinationKey: string, uploadId: string, partNumber: number, first: number, last: number): Promise<string> {
    const result = await this.xmlCall('UploadPartCopy', {
      method: 'PUT',
      key: destinationKey,
      query: { partNumber: String(partNumber), uploadId },
      headers: { 'x-amz-copy-source': this.copySource(sourceKey), 'x-amz-copy-source-range': `bytes=${first}-${last}` },
    });
    const etag = text(child(child(result, 'CopyPartResult'), 'ETag'));
    if (etag === '') throw new S3Error('UploadPartCopy', 'InvalidResponse', 200, 'no ETag in the answer');
    return etag;
  }

  /** Resolves with the completed object's ETag (S3's `<md5 of part md5s>-<count>` form). */
  async completeMultipartUpload(key: string, uploadId: string, parts: readonly CompletedPart[]): Promise<string> {
    const body = Buffer.from(
      `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload>${parts.map((p) => `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>${xmlEscape(p.etag)}</ETag></Part>`).join('')}</CompleteMultipartUpload>`,
    );
    const result = await this.xmlCall('CompleteMultipartUpload', { method: 'POST', key, query: { uploadId }, headers: { 'Content-Type': 'application/xml' }, body });
    return text(child(child(result, 'CompleteMultipartUploadResult'), 'ETag'));
  }

  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    const res = await this.send('AbortMultipartUpload', { method: 'DELETE', key, query: { uploadId } });
    const status = res.statusCode ?? 0;
    if ((status < 200 || status >= 300) && status !== 404) throw await S3Client.failure('AbortMultipartUpload', res);
    res.resume();
  }
}
