import { randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Config } from '../config/schema.ts';
import { splitAddr } from '../config/values.ts';
import type { Digest } from '../digest/digest.ts';
import type { RequestContext } from '../http/context.ts';
import type { Logger } from '../log.ts';
import type { ParsedManifest } from '../manifests/validate.ts';
import type { ObjectStore } from '../storage/driver.ts';
import { EndpointDelivery, type EndpointStats } from './endpoint.ts';
import { BLOB_MEDIA_TYPE, requestRecord, targetUrl, type Event, type EventAction, type EventTarget } from './event.ts';
import { DurableQueue } from './queue.ts';
import { OrphanAdoption, type AdoptionStats } from './adoption.ts';

/**
 * What handlers tell (services.notifications, absent when no endpoint is enabled: then an event
 * site costs one optional-chaining check). Each call is distribution's Listener method of the same
 * name (notifications/listener.go, bridge.go). Writes (push, mount, delete) return a promise the
 * handler awaits before it answers: the event is in the durable queue by then. Pulls do not: a
 * read's answer never waits on a storage write; its event joins the next group commit (a crash in
 * that moment may lose a pull event, never a push, mount or delete event).
 *
 * Which requests emit, as distribution: a GET or HEAD that finds the blob or manifest is a pull
 * (distribution's ServeBlob and ManifestService.Get run for both; a 307 to the store too); a
 * blob upload completed (PUT, or POST ?digest=) is a blob push; a manifest PUT is a push (one
 * per ?tag=, each with its tag); a mount that links the blob is a mount; a DELETE that removed
 * something is a delete (of a blob, a manifest by digest, or a tag). Failures emit nothing.
 */
export interface EventSink {
  blobPushed(ctx: RequestContext, digest: Digest, size: number): Promise<void> | undefined;
  blobPulled(ctx: RequestContext, digest: Digest, size: number): void;
  blobMounted(ctx: RequestContext, digest: Digest, size: number, from: string): Promise<void> | undefined;
  blobDeleted(ctx: RequestContext, digest: Digest): Promise<void> | undefined;
  manifestPushed(ctx: RequestContext, manifest: PushedManifest, tags: readonly string[]): Promise<void> | undefined;
  manifestPulled(ctx: RequestContext, manifest: { readonly digest: Digest; readonly mediaType: string; readonly bytes: Buffer }, tag: string | undefined): void;
  manifestDeleted(ctx: RequestContext, digest: Digest): Promise<void> | undefined;
  tagDeleted(ctx: RequestContext, tag: string): Promise<void> | undefined;
}

export interface PushedManifest {
  readonly digest: Digest;
  readonly size: number;
  readonly parsed: ParsedManifest;
}

/** For the metrics helper: per endpoint pending and failures, and the queue's own figures. */
export interface NotificationStats {
  readonly endpoints: readonly EndpointStats[];
  /** Events held (not yet given to every endpoint); at most quayside.notifications.queuesize. */
  readonly queued: number;
  /** Events dropped because the queue was full, since start. */
  readonly dropped: number;
  /** Queues of stopped replicas looked for and adopted (quayside.notifications.adoptafter). */
  readonly adoption: AdoptionStats;
}

export class Notifications implements EventSink, NotificationStats {
  readonly endpoints: readonly EndpointDelivery[];
  private readonly source: { readonly addr: string; readonly instanceID: string };

  private constructor(
    private readonly queue: DurableQueue,
    readonly adoption: OrphanAdoption,
    endpoints: readonly EndpointDelivery[],
    instance: string,
    addr: string,
    private readonly includeReferences: boolean,
  ) {
    this.endpoints = endpoints;
    this.source = { addr, instanceID: instance };
  }

  /**
   * The notifications of `config`, their queue reopened (what a previous run left is delivered
   * first) and every enabled endpoint delivering; undefined when none is enabled (distribution
   * skips disabled endpoints entirely), so notifications off cost nothing.
   */
  static async start(config: Config, driver: ObjectStore, log: Logger): Promise<Notifications | undefined> {
    const enabled = config.notifications.endpoints.filter((endpoint) => !endpoint.disabled);
    if (enabled.length === 0) return undefined;
    const instance = instanceIdOf(config);
    const queue = await DurableQueue.open(driver, instance, enabled.map((e) => e.name), config.quayside.notifications.queuesize, log);
    const endpoints = enabled.map((endpoint) => new EndpointDelivery(endpoint, queue, log));
    const adoption = new OrphanAdoption(driver, instance, enabled, config.quayside.notifications.adoptafter, log);
    await adoption.start();
    const notifications = new Notifications(queue, adoption, endpoints, instance, sourceAddr(config), config.notifications.events.includereferences);
    for (const endpoint of endpoints) endpoint.start();
    log.info({ instance, endpoints: endpoints.map((e) => e.name) }, 'notifications on');
    return notifications;
  }

  get queued(): number {
    return this.queue.size;
  }

  get dropped(): number {
    return this.queue.dropped;
  }

  /** Writes what is queued, stops the deliveries; what is undelivered goes out after the next start. */
  async close(): Promise<void> {
    await this.adoption.close();
    await Promise.all(this.endpoints.map((endpoint) => endpoint.close()));
    await this.queue.close();
  }

  blobPushed(ctx: RequestContext, digest: Digest, size: number): Promise<void> | undefined {
    return this.emit(ctx, 'push', this.blobTarget(ctx, digest, size));
  }

  blobPulled(ctx: RequestContext, digest: Digest, size: number): void {
    void this.emit(ctx, 'pull', this.blobTarget(ctx, digest, size));
  }

  blobMounted(ctx: RequestContext, digest: Digest, size: number, from: string): Promise<void> | undefined {
    return this.emit(ctx, 'mount', { ...this.blobTarget(ctx, digest, size), fromRepository: from });
  }

  blobDeleted(ctx: RequestContext, digest: Digest): Promise<void> | undefined {
    return this.emit(ctx, 'delete', { digest: digest.value, repository: ctx.params.name });
  }

  manifestPushed(ctx: RequestContext, manifest: PushedManifest, tags: readonly string[]): Promise<void> | undefined {
    const target = this.manifestTarget(ctx, manifest.digest, manifest.parsed.mediaType, manifest.size, manifest.parsed);
    if (tags.length <= 1) return this.emit(ctx, 'push', tags[0] === undefined ? target : { ...target, tag: tags[0] });
    const written = tags.map((tag) => this.emit(ctx, 'push', { ...target, tag }));
    return Promise.all(written).then(() => undefined);
  }

  manifestPulled(ctx: RequestContext, manifest: { readonly digest: Digest; readonly mediaType: string; readonly bytes: Buffer }, tag: string | undefined): void {
    const target = this.manifestTarget(ctx, manifest.digest, manifest.mediaType, manifest.bytes.length, undefined);
    void this.emit(ctx, 'pull', tag === undefined ? target : { ...target, tag });
  }

  manifestDeleted(ctx: RequestContext, digest: Digest): Promise<void> | undefined {
    return this.emit(ctx, 'delete', { digest: digest.value, repository: ctx.params.name });
  }

  tagDeleted(ctx: RequestContext, tag: string): Promise<void> | undefined {
    return this.emit(ctx, 'delete', { repository: ctx.params.name, tag });
  }

  private blobTarget(ctx: RequestContext, digest: Digest, size: number): EventTarget {
    const repository = ctx.params.name;
    return { mediaType: BLOB_MEDIA_TYPE, digest: digest.value, size, length: size, repository, url: targetUrl(ctx.req, repository, 'blobs', digest.value) };
  }

  /** distribution's createManifestEvent; `references` (config, layers, index entries) with notifications.events.includereferences. */
  private manifestTarget(ctx: RequestContext, digest: Digest, mediaType: string, size: number, parsed: ParsedManifest | undefined): EventTarget {
    const repository = ctx.params.name;
    const references = this.includeReferences && parsed ? [...parsed.blobs, ...parsed.children].map((d) => ({ mediaType: d.mediaType, digest: d.digest.value, size: d.size })) : [];
    return {
      mediaType,
      digest: digest.value,
      size,
      length: size,
      repository,
      url: targetUrl(ctx.req, repository, 'manifests', digest.value),
      ...(references.length > 0 ? { references } : {}),
    };
  }

  /** Queues the event unless every endpoint's ignore rules drop it (then nothing is written at all). */
  private emit(ctx: RequestContext, action: EventAction, target: EventTarget): Promise<void> | undefined {
    const event: Event = {
      id: randomUUID(),
      timestamp: new Date().toISOString(),
      action,
      target,
      request: requestRecord(ctx.req),
      actor: ctx.grants.subject === undefined ? {} : { name: ctx.grants.subject },
      source: this.source,
    };
    if (this.endpoints.every((endpoint) => endpoint.ignores(event))) return undefined;
    return this.queue.append(event);
  }
}

/**
 * quayside.notifications.instanceid, or <hostname>-<port of http.addr>: stable across restarts
 * on the same host and port, so a restarted (or killed) process resumes its own queue. Two live
 * processes on one host cannot listen on the same port, so the id is theirs alone, except on
 * port 0 (the library's default, tests, harnesses): every such process would be <hostname>-0 and
 * write one queue folder together. There the id is <hostname>-0-<8 random hex digits>, new at each
 * start like the port itself (distribution's own instanceID is a new UUID at each start); what an
 * earlier start left undelivered is adopted by the next process that scans (adoptafter).
 */
export function instanceIdOf(config: Config): string {
  if (config.quayside.notifications.instanceid !== '') return config.quayside.notifications.instanceid;
  const port = splitAddr(config.http.addr)?.port ?? 0;
  const host = hostname().replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100) || 'quayside';
  return port === 0 ? `${host}-0-${randomBytes(4).toString('hex')}` : `${host}-${port}`;
}

/** distribution's source.addr: this host's name and the port from http.addr. */
function sourceAddr(config: Config): string {
  const port = splitAddr(config.http.addr)?.port ?? 0;
  return `${hostname()}:${port}`;
}
