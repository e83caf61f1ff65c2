import { createHash } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { LRUCache } from 'lru-cache';
import type { Config } from '../config/schema.ts';
import { parseDigest, type Digest } from '../digest/digest.ts';
import { RegistryError } from '../errors/registry-error.ts';
import type { Handler, RequestContext } from '../http/context.ts';
import { HEADER, parseBlobRange } from '../http/headers.ts';
import { sendEmpty, sendStream } from '../http/respond.ts';
import type { Logger } from '../log.ts';
import { MEDIA_TYPE } from '../manifests/media-types.ts';
import type { Services } from '../services.ts';
import type { OpenedDriver } from '../storage/factory.ts';
import { paths } from '../storage/paths.ts';
import { isValidTag } from '../routing/names.ts';
import { parseLookupReference, requireParam } from '../handlers/references.ts';
import { sendTags } from '../handlers/tags.ts';
import { BlobFetch, DigestMismatchError } from './blob-fetch.ts';
import { Remotes, type RemoteName } from './remotes.ts';
import { spoolFactoryFor, type SpoolFactory } from './spool.ts';
import { readLimited, UpstreamUnavailableError } from './upstream.ts';

/**
 * The pull-through cache (issue 11; distribution registry/proxy/): repositories under a proxied
 * prefix are filled from their upstream on demand and served from storage from then on.
 *
 * - Blobs and manifests by digest: content-addressed, so cached forever, each verified against
 *   its digest before it is stored (blobs while they stream: blob-fetch.ts).
 * - Manifests by tag: fetched from upstream, served from storage for `ttl`, then revalidated (a
 *   HEAD upstream; same digest → fresh again, another → fetched and retagged). distribution's
 *   proxytagservice asks the upstream on every tag lookup; `ttl: 0` does that here.
 * - Upstream down (or refusing us): what is cached is served, a tag past its ttl too
 *   (proxytagservice.Get falls back to the local tag on any remote error). What is not cached is
 *   404 MANIFEST_UNKNOWN / BLOB_UNKNOWN with the upstream's failure in `detail`, at once: that is
 *   distribution's answer for an uncached tag (its tag lookup falls back to the local store, which
 *   says ErrTagUnknown → MANIFEST_UNKNOWN); for blobs and digests distribution lets the remote
 *   error through as 500 UNKNOWN, which would send clients into retries of a fault that is not ours.
 * - Pushes and deletes on proxied names: 405 UNSUPPORTED (http/server.ts; distribution's proxy
 *   stores answer ErrUnsupported).
 *
 * Handlers call in through one hook line at their top (`intercepts` then getBlob/getManifest):
 * what is already local goes back to the handler's own path (`local`), so warm pulls are the
 * registry's normal pulls.
 */
/** What the cache uses of the registry's services: the same stores the handlers use. */
type Stores = Pick<Services, 'driver' | 'blobs' | 'manifests' | 'uploads' | 'catalog'>;

/** Every manifest type the registry stores, for the upstream's content negotiation. */
const MANIFEST_ACCEPT = [MEDIA_TYPE.ociManifest, MEDIA_TYPE.ociIndex, MEDIA_TYPE.dockerManifest, MEDIA_TYPE.dockerManifestList].join(', ');
/** The spec's manifest floor; the registry refuses larger pushes too (handlers/manifests.ts). */
const MANIFEST_LIMIT = 4 * 1024 * 1024;
const BLOB_CONTENT_TYPE = 'application/octet-stream';
/** One upstream page of a tag list, at most (a page of 10 000 tags is about 200 KB). */
const TAGS_PAGE_LIMIT = 4 * 1024 * 1024;
/** Pages followed through the upstream's Link headers, at most: a loop of Links cannot hold a request. */
const TAGS_MAX_PAGES = 100;

export class PullThroughCache {
  readonly remotes: Remotes;
  /** Requests that were found local: the handler's second pass serves them itself. */
  private readonly local = new WeakSet<RequestContext['req']>();
  /** `repo@digest` → the fetch in flight (or its start): one upstream GET per blob. */
  private readonly fetches = new Map<string, Promise<BlobFetch>>();
  /** `repo:tag` or `repo@digest` → the manifest fetch in flight. */
  private readonly manifestFetches = new Map<string, Promise<void>>();
  /** `repo:tag` → when it was last fetched or confirmed upstream (ms); else the tag link's mtime. */
  private readonly confirmedAt = new LRUCache<string, number>({ max: 100_000 });
  private readonly running = new Set<Promise<void>>();
  /** Where fetched blobs are spooled and how they reach storage, written once (spool.ts). */
  private readonly spools: SpoolFactory;
  /** Upstream blob GETs started (tests, bench). */
  blobFetches = 0;

  constructor(
    config: NonNullable<Config['proxy']>,
    private readonly log: Logger,
    /** The storage as opened (registry.ts): the spool writes in place on the filesystem. */
    opened?: OpenedDriver,
  ) {
    this.remotes = new Remotes(config);
    this.spools = spoolFactoryFor(opened);
  }

  /** Whether `name` is proxied (pushes and deletes on it are refused). */
  covers(name: string): boolean {
    return this.remotes.covers(name);
  }

  /** The hook's test: a proxied name this request has not yet been found local for. */
  intercepts(ctx: RequestContext): boolean {
    return !this.local.has(ctx.req) && this.remotes.covers(ctx.params.name);
  }

  /** end-2 on a proxied name: local when stored, else from the fetch in flight or a new one. */
  getBlob(ctx: RequestContext, local: Handler): Promise<void> | void {
    const digest = parseDigest(requireParam(ctx.params.digest, 'digest'));
    if (ctx.services.blobs.cachedSmall(ctx.params.name, digest)) return this.serveLocal(ctx, local);
    return this.getRemoteBlob(ctx, digest, local);
  }

  /** end-3 on a proxied name: by digest local or fetched once; by tag local while fresh. */
  getManifest(ctx: RequestContext, local: Handler): Promise<void> | void {
    const { name } = ctx.params;
    const reference = parseLookupReference(name, requireParam(ctx.params.reference, 'reference'));
    if (typeof reference !== 'string') {
      if (ctx.services.manifests.cached(name, reference)) return this.serveLocal(ctx, local);
      return this.getManifestByDigest(ctx, reference, local);
    }
    const confirmed = this.confirmedAt.get(`${name}:${reference}`);
    const remote = this.route(name);
    if (confirmed !== undefined && Date.now() - confirmed < remote.remote.ttlMs && ctx.services.manifests.cached(name, reference)) return this.serveLocal(ctx, local);
    return this.getManifestByTag(ctx, reference, remote, local);
  }

  /**
   * end-8a/8b on a proxied name: the upstream's tags, else (upstream down, refusing us, or not
   * knowing the name) the tags cached here; n/last and Link as for any repository. This is
   * distribution's proxytagservice.All: remote first, local on any failure.
   */
  async getTags(ctx: RequestContext, local: Handler): Promise<void> {
    const remote = this.route(ctx.params.name);
    const tags = await this.fetchTags(remote).catch((err: unknown) => {
      this.log.debug({ err, name: ctx.params.name, upstream: remote.remote.client.host }, 'pull-through: upstream tag list unavailable; answering with the cached tags');
      return undefined;
    });
    if (tags === undefined) return this.serveLocal(ctx, local);
    sendTags(ctx, tags);
  }

  /** Every tag upstream, following its Link pages (as distribution's remote tag service does); sorted. */
  private async fetchTags(remote: RemoteName): Promise<string[]> {
    const tags = new Set<string>();
    let path: string | undefined = `/v2/${remote.name}/tags/list`;
    for (let page = 0; path !== undefined; page++) {
      if (page === TAGS_MAX_PAGES) throw new Error(`upstream tag list longer than ${TAGS_MAX_PAGES} pages`);
      const res = await this.upstream(remote, 'GET', path, { accept: 'application/json' });
      if (res.statusCode !== 200) {
        res.resume();
        throw new Error(`upstream answered ${res.statusCode ?? 0}`);
      }
      const body = JSON.parse((await readLimited(res, TAGS_PAGE_LIMIT)).toString('utf8')) as { tags?: unknown };
      // distribution answers `"tags": null` for a repository without tags.
      if (body.tags !== null && body.tags !== undefined && !Array.isArray(body.tags)) throw new Error('upstream tag list has no tags array');
      for (const tag of (body.tags ?? []) as unknown[]) if (typeof tag === 'string' && isValidTag(tag)) tags.add(tag);
      const link = res.headers[HEADER.link];
      path = nextPagePath(Array.isArray(link) ? link.join(', ') : link, remote.remote.client.origin);
    }
    return [...tags].sort();
  }

  /** Stops upstream traffic and waits for the fetches' last writes to storage. */
  async close(): Promise<void> {
    for (const remote of this.remotes.all) remote.client.close();
    await Promise.all([...this.running]);
    await this.spools.close();
  }

  private serveLocal(ctx: RequestContext, local: Handler): Promise<void> | void {
    this.local.add(ctx.req);
    return local(ctx);
  }

  private route(name: string): RemoteName {
    const resolved = this.remotes.resolve(name);
    if (!resolved) throw new Error(`${name} is not proxied`);
    return resolved;
  }

  // ---- blobs

  private async getRemoteBlob(ctx: RequestContext, digest: Digest, local: Handler): Promise<void> {
    const { name } = ctx.params;
    const { blobs } = ctx.services;
    if ((await blobs.statInRepository(name, digest)) !== undefined) return this.serveLocal(ctx, local);
    const key = `${name}@${digest.value}`;
    const inFlight = this.fetches.get(key);
    if (inFlight) return this.serveFetch(ctx, await inFlight);
    const remote = this.route(name);
    // Stored for another repository: linked here once the upstream confirms this one has it.
    if ((await blobs.statGlobal(digest)) !== undefined && (await this.upstreamHasBlob(remote, digest))) {
      await blobs.link(name, digest);
      return this.serveLocal(ctx, local);
    }
    if (ctx.req.method === 'HEAD') return this.headUpstreamBlob(ctx, remote, digest);
    // Looked up again: another request may have started the fetch while this one awaited.
    const fetch = this.fetches.get(key) ?? this.startFetch(ctx.services, key, name, remote, digest);
    return this.serveFetch(ctx, await fetch);
  }

  private startFetch(services: Stores, key: string, name: string, remote: RemoteName, digest: Digest): Promise<BlobFetch> {
    const started = (async () => {
      this.blobFetches++;
      const res = await this.upstream(remote, 'GET', `/v2/${remote.name}/blobs/${digest.value}`, {}).catch((err: unknown) => {
        throw this.unavailable('BLOB_UNKNOWN', err, { digest: digest.value });
      });
      if (res.statusCode !== 200) throw this.upstreamRefused(res, 'BLOB_UNKNOWN', remote, { digest: digest.value });
      const length = res.headers['content-length'];
      const size = length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined;
      const spool = await this.spools.open(services, name, digest).catch((err: unknown) => {
        res.destroy();
        throw err;
      });
      const stored = (): void => services.catalog.noteWrite(name);
      const fetch = new BlobFetch(digest, size, spool, res, stored, (err) => this.log.error({ err, name, digest: digest.value }, 'pull-through: could not store a fetched blob'));
      const finished = fetch.done.then(async () => {
        this.fetches.delete(key);
        fetch.retire();
        if (!fetch.failed) return;
        this.log.warn({ err: fetch.failed, name, digest: digest.value, upstream: remote.remote.client.host }, 'pull-through: blob fetch failed');
        // Out of the table first: a pull from now on fetches anew rather than meet this failure.
        await spool.discard();
      });
      this.track(finished);
      return fetch;
    })();
    this.fetches.set(key, started);
    started.catch(() => this.fetches.delete(key));
    return started;
  }

  private serveFetch(ctx: RequestContext, fetch: BlobFetch): Promise<void> {
    const { req, res } = ctx;
    if (fetch.failed) throw new RegistryError('BLOB_UNKNOWN', { digest: fetch.digest.value, reason: `not cached, and the upstream fetch failed: ${fetch.failed.message}` });
    const headers: OutgoingHttpHeaders = {
      [HEADER.contentType]: BLOB_CONTENT_TYPE,
      [HEADER.contentDigest]: fetch.digest.value,
      [HEADER.etag]: `"${fetch.digest.value}"`,
    };
    if (fetch.size === undefined) return sendStream(req, res, 200, headers, this.watched(ctx, fetch, fetch.reader(0, undefined)));
    const range = parseBlobRange(req.headers.range, fetch.size);
    if (range.kind === 'unsatisfiable') {
      res.setHeader(HEADER.contentRange, `bytes */${fetch.size}`);
      throw new RegistryError('BLOB_RANGE_INVALID', { size: fetch.size, range: req.headers.range });
    }
    const start = range.kind === 'range' ? range.range.start : 0;
    const end = range.kind === 'range' ? range.range.end : fetch.size - 1;
    headers[HEADER.acceptRanges] = 'bytes';
    headers[HEADER.contentLength] = String(end - start + 1);
    if (range.kind === 'range') headers[HEADER.contentRange] = `bytes ${start}-${end}/${fetch.size}`;
    if (fetch.size === 0) return sendStream(req, res, 200, headers, this.watched(ctx, fetch, fetch.reader(0, undefined)));
    return sendStream(req, res, range.kind === 'range' ? 206 : 200, headers, this.watched(ctx, fetch, fetch.reader(start, end)));
  }

  /**
   * sendStream ends a failed body silently (it takes every failure for a client that left): say
   * why here. A pull from the fetch in flight is a pull as any other (distribution notifies pulls
   * of proxied repositories too), told once its body ended, so verified: a response cut short by
   * a lying upstream tells nothing, as failures do not.
   */
  private watched(ctx: RequestContext, fetch: BlobFetch, reader: Readable): Readable {
    reader.once('error', (err) => this.log.warn({ err, digest: fetch.digest.value }, 'pull-through: a response from the fetch in flight was aborted'));
    const pulled = (): void => ctx.services.notifications?.blobPulled(ctx, fetch.digest, fetch.size ?? fetch.written);
    // A HEAD sends no body (sendStream drops the reader): told now, as the handler tells a HEAD.
    if (ctx.req.method === 'HEAD') pulled();
    else reader.once('end', pulled);
    return reader;
  }

  /** HEAD of a blob not stored: the upstream's answer, nothing fetched (distribution's proxy Stat). */
  private async headUpstreamBlob(ctx: RequestContext, remote: RemoteName, digest: Digest): Promise<void> {
    const res = await this.upstream(remote, 'HEAD', `/v2/${remote.name}/blobs/${digest.value}`, {}).catch((err: unknown) => {
      throw this.unavailable('BLOB_UNKNOWN', err, { digest: digest.value });
    });
    res.resume();
    if (res.statusCode !== 200) throw this.upstreamRefused(res, 'BLOB_UNKNOWN', remote, { digest: digest.value });
    const length = res.headers['content-length'];
    // A HEAD that finds the blob is a pull (handlers/blobs.ts, as distribution's ServeBlob).
    if (length !== undefined && /^\d+$/.test(length)) ctx.services.notifications?.blobPulled(ctx, digest, Number(length));
    ctx.res.writeHead(200, {
      [HEADER.apiVersion]: 'registry/2.0',
      [HEADER.contentType]: BLOB_CONTENT_TYPE,
      [HEADER.contentDigest]: digest.value,
      [HEADER.etag]: `"${digest.value}"`,
      [HEADER.acceptRanges]: 'bytes',
      ...(length !== undefined ? { [HEADER.contentLength]: length } : {}),
    });
    ctx.res.end();
  }

  private async upstreamHasBlob(remote: RemoteName, digest: Digest): Promise<boolean> {
    try {
      const res = await this.upstream(remote, 'HEAD', `/v2/${remote.name}/blobs/${digest.value}`, {});
      res.resume();
      return res.statusCode === 200;
    } catch {
      return false;
    }
  }

  // ---- manifests

  private async getManifestByDigest(ctx: RequestContext, digest: Digest, local: Handler): Promise<void> {
    const { name } = ctx.params;
    const services = ctx.services;
    if (await services.manifests.hasRevision(name, digest)) return this.serveLocal(ctx, local);
    const remote = this.route(name);
    await this.once(`${name}@${digest.value}`, async () => {
      const fetched = await this.fetchManifest(remote, digest.value).catch((err: unknown) => {
        throw this.unavailable('MANIFEST_UNKNOWN', err, { name, reference: digest.value });
      });
      if ('refused' in fetched) throw fetched.refused;
      checkManifestDigest(digest, fetched.bytes);
      await services.manifests.put(name, digest, [], fetched.bytes, fetched.contentType, { checkReferences: false });
      services.catalog.noteWrite(name);
    });
    return this.serveLocal(ctx, local);
  }

  private async getManifestByTag(ctx: RequestContext, tag: string, remote: RemoteName, local: Handler): Promise<void> {
    const { name } = ctx.params;
    const key = `${name}:${tag}`;
    const services = ctx.services;
    const known = await services.manifests.resolveTag(name, tag);
    if (known !== undefined) {
      const confirmed = this.confirmedAt.get(key) ?? (await this.tagWrittenAt(services, name, tag));
      if (confirmed !== undefined && Date.now() - confirmed < remote.remote.ttlMs) {
        this.confirmedAt.set(key, confirmed);
        return this.serveLocal(ctx, local);
      }
    }
    try {
      await this.once(key, () => this.revalidateTag(services, name, tag, remote, known));
    } catch (err) {
      // Upstream down, refusing us, or without the tag: what is cached is served, past its ttl too (proxytagservice.Get).
      if (known === undefined) throw err;
      this.log.warn({ err, name, tag, upstream: remote.remote.client.host }, 'pull-through: upstream check failed; serving the cached tag');
    }
    return this.serveLocal(ctx, local);
  }

  /** Asks the upstream for the tag: the same digest refreshes it, another is fetched and tagged. */
  private async revalidateTag(services: Stores, name: string, tag: string, remote: RemoteName, known: Digest | undefined): Promise<void> {
    const key = `${name}:${tag}`;
    const path = `/v2/${remote.name}/manifests/${tag}`;
    if (known !== undefined) {
      const head = await this.upstream(remote, 'HEAD', path, { accept: MANIFEST_ACCEPT }).catch((err: unknown) => {
        throw this.unavailable('MANIFEST_UNKNOWN', err, { name, reference: tag });
      });
      head.resume();
      if (head.statusCode !== 200) throw this.upstreamRefused(head, 'MANIFEST_UNKNOWN', remote, { name, reference: tag });
      if (head.headers[HEADER.contentDigest] === known.value) {
        await services.driver.touch(paths.tagCurrentLink(name, tag));
        this.confirmedAt.set(key, Date.now());
        return;
      }
    }
    const fetched = await this.fetchManifest(remote, tag).catch((err: unknown) => {
      throw this.unavailable('MANIFEST_UNKNOWN', err, { name, reference: tag });
    });
    if ('refused' in fetched) throw fetched.refused;
    const sent = fetched.digest !== undefined ? parseDigestHeader(fetched.digest) : undefined;
    if (sent) checkManifestDigest(sent, fetched.bytes);
    await services.manifests.put(name, tag, [], fetched.bytes, fetched.contentType, { checkReferences: false });
    services.catalog.noteWrite(name);
    this.confirmedAt.set(key, Date.now());
  }

  /** When the tag's link was last written or touched: its fetch, or its last confirmation, before a restart. */
  private async tagWrittenAt(services: Stores, name: string, tag: string): Promise<number | undefined> {
    return (await services.driver.stat(paths.tagCurrentLink(name, tag)))?.modifiedAt.getTime();
  }

  private async fetchManifest(remote: RemoteName, reference: string): Promise<{ bytes: Buffer; contentType: string | undefined; digest: string | undefined } | { refused: RegistryError }> {
    const res = await this.upstream(remote, 'GET', `/v2/${remote.name}/manifests/${reference}`, { accept: MANIFEST_ACCEPT });
    if (res.statusCode !== 200) return { refused: this.upstreamRefused(res, 'MANIFEST_UNKNOWN', remote, { name: remote.name, reference }) };
    const bytes = await readLimited(res, MANIFEST_LIMIT).catch((err: unknown) => {
      throw new UpstreamUnavailableError(remote.remote.client.host, `manifest body: ${(err as Error).message}`, { cause: err });
    });
    const digest = res.headers[HEADER.contentDigest];
    return { bytes, contentType: res.headers[HEADER.contentType], digest: typeof digest === 'string' ? digest : undefined };
  }

  // ---- shared

  private upstream(remote: RemoteName, method: 'GET' | 'HEAD', path: string, headers: OutgoingHttpHeaders): Promise<IncomingMessage> {
    return remote.remote.client.send({ method, path, scope: `repository:${remote.name}:pull`, headers });
  }

  /** One run of `work` per key at a time; later callers wait for the running one. */
  private once(key: string, work: () => Promise<void>): Promise<void> {
    const running = this.manifestFetches.get(key);
    if (running) return running;
    const started = work().finally(() => this.manifestFetches.delete(key));
    this.manifestFetches.set(key, started);
    return started;
  }

  private track(work: Promise<void>): void {
    this.running.add(work);
    void work.finally(() => this.running.delete(work));
  }

  /** The upstream could not be asked: `name` (404) with why, for content that is not cached. */
  private unavailable(name: 'BLOB_UNKNOWN' | 'MANIFEST_UNKNOWN', err: unknown, detail: Record<string, string>): Error {
    if (err instanceof RegistryError) return err;
    if (err instanceof UpstreamUnavailableError) return new RegistryError(name, { ...detail, reason: `not cached, and the upstream is unavailable: ${err.message}` }, { cause: err });
    return err instanceof Error ? err : new Error(String(err));
  }

  /** The upstream answered, but not with the content: not cached here either, 404 with its status. */
  private upstreamRefused(res: IncomingMessage, name: 'BLOB_UNKNOWN' | 'MANIFEST_UNKNOWN', remote: RemoteName, detail: Record<string, string>): RegistryError {
    res.resume();
    const status = res.statusCode ?? 0;
    const why = status === 404 ? 'unknown upstream' : status === 401 || status === 403 ? 'the upstream refused our credentials' : 'the upstream failed';
    return new RegistryError(name, { ...detail, reason: `not cached, and ${why} (${remote.remote.client.host} answered ${status})` });
  }
}

/** Manifest bytes from upstream must hash to the digest they were asked for, or were sent under. */
function checkManifestDigest(digest: Digest, bytes: Buffer): void {
  const actual = createHash(digest.algorithm).update(bytes).digest('hex');
  if (actual !== digest.hex) {
    throw new RegistryError('MANIFEST_UNKNOWN', { reference: digest.value, reason: `the upstream's manifest does not match its digest (${digest.algorithm}:${actual})` }, { cause: new DigestMismatchError(digest.value, `${digest.algorithm}:${actual}`) });
  }
}

/** The path of the upstream's next page from `Link: <url>; rel="next"` (same origin only), or undefined. */
function nextPagePath(link: string | undefined, origin: string): string | undefined {
  const match = link === undefined ? null : /<([^>]*)>\s*;\s*rel="?next"?/i.exec(link);
  if (!match?.[1]) return undefined;
  const url = new URL(match[1], origin);
  return url.origin === origin ? `${url.pathname}${url.search}` : undefined;
}

function parseDigestHeader(value: string): Digest | undefined {
  try {
    return parseDigest(value);
  } catch {
    return undefined;
  }
}
