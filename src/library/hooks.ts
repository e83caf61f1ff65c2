import type { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Digest } from '../digest/digest.ts';
import type { RequestContext } from '../http/context.ts';
import type { RequestObserver } from '../metrics/http-metrics.ts';
import { BLOB_MEDIA_TYPE } from '../notifications/event.ts';
import type { EventSink, PushedManifest } from '../notifications/notifications.ts';
import type { Route } from '../routing/routes.ts';
import type { Services } from '../services.ts';

/**
 * What a harness hears from a library registry (src/index.ts). The committed-content events carry
 * the fields of distribution's notification target (notifications/event.ts EventTarget) under the
 * same names, so a receiver's code reads both.
 */
export interface RequestEvent {
  readonly method: string;
  /** The URL's path, without the query. */
  readonly path: string;
  /** The route's id ("blob-upload-chunk", ...; routing/routes.ts); undefined when none matched. */
  readonly route: string | undefined;
  /** The status answered; when `aborted`, what had been set when the client went away. */
  readonly status: number;
  /** From arrival to the end of the answer. */
  readonly durationMs: number;
  /** The client went away before the answer was complete. */
  readonly aborted: boolean;
}

/** A blob is in the repository: pushed (the upload's PUT) or mounted from another repository. */
export interface BlobEvent {
  readonly action: 'push' | 'mount';
  readonly repository: string;
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
  /** Mounts: where it came from. */
  readonly fromRepository?: string;
}

/** A manifest is stored, with the tags this PUT pointed at it (none when pushed by digest). */
export interface ManifestEvent {
  readonly action: 'push';
  readonly repository: string;
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
  readonly tags: readonly string[];
}

export interface RegistryEventMap {
  request: [RequestEvent];
  blob: [BlobEvent];
  manifest: [ManifestEvent];
}

/**
 * Attaches `emitter` to a registry's two existing seams: the request observer the server calls
 * once per request (metrics' seam) and the event sink the handlers call when content is committed
 * (notifications' seam). Both are read through getters that return what was there before while
 * nobody listens, so a registry without listeners does exactly what it did without the library:
 * no clock read, no call, no object per request (server.ts times a request only when an observer
 * is there). Events are emitted before the answer for content (the 201 follows them) and after
 * the answer for requests.
 */
export function attachEvents(services: Services, emitter: EventEmitter<RegistryEventMap>): void {
  const metrics = services.requestMetrics;
  const notifications = services.notifications;
  const observer = requestObserver(metrics, emitter);
  const sink = eventSink(notifications, emitter);
  Object.defineProperty(services, 'requestMetrics', { enumerable: true, get: () => (emitter.listenerCount('request') > 0 ? observer : metrics) });
  Object.defineProperty(services, 'notifications', {
    enumerable: true,
    get: () => (emitter.listenerCount('blob') > 0 || emitter.listenerCount('manifest') > 0 ? sink : notifications),
  });
}

function requestObserver(inner: RequestObserver | undefined, emitter: EventEmitter<RegistryEventMap>): RequestObserver {
  return {
    observe(req: IncomingMessage, res: ServerResponse, route: Route | undefined, startedNs: bigint, closed: boolean): void {
      inner?.observe(req, res, route, startedNs, closed);
      // A listener may have gone since the request started: then nobody is told.
      if (emitter.listenerCount('request') === 0) return;
      const url = req.url ?? '/';
      const queryAt = url.indexOf('?');
      emitter.emit('request', {
        method: req.method ?? 'GET',
        path: queryAt === -1 ? url : url.slice(0, queryAt),
        route: route?.id,
        status: res.statusCode,
        durationMs: startedNs === 0n ? 0 : Number(process.hrtime.bigint() - startedNs) / 1e6,
        aborted: closed,
      });
    },
  };
}

/** Webhooks (when configured) first, exactly as without the library; then the emitter. */
function eventSink(inner: EventSink | undefined, emitter: EventEmitter<RegistryEventMap>): EventSink {
  const blob = (ctx: RequestContext, digest: Digest, size: number, fromRepository?: string): void => {
    emitter.emit('blob', {
      action: fromRepository === undefined ? 'push' : 'mount',
      repository: ctx.params.name,
      digest: digest.value,
      size,
      mediaType: BLOB_MEDIA_TYPE,
      ...(fromRepository === undefined ? {} : { fromRepository }),
    });
  };
  return {
    blobPushed(ctx, digest, size) {
      const delivered = inner?.blobPushed(ctx, digest, size);
      blob(ctx, digest, size);
      return delivered;
    },
    blobMounted(ctx, digest, size, from) {
      const delivered = inner?.blobMounted(ctx, digest, size, from);
      blob(ctx, digest, size, from);
      return delivered;
    },
    manifestPushed(ctx, manifest: PushedManifest, tags) {
      const delivered = inner?.manifestPushed(ctx, manifest, tags);
      emitter.emit('manifest', { action: 'push', repository: ctx.params.name, digest: manifest.digest.value, size: manifest.size, mediaType: manifest.parsed.mediaType, tags: [...tags] });
      return delivered;
    },
    blobPulled: (ctx, digest, size) => inner?.blobPulled(ctx, digest, size),
    blobDeleted: (ctx, digest) => inner?.blobDeleted(ctx, digest),
    manifestPulled: (ctx, manifest, tag) => inner?.manifestPulled(ctx, manifest, tag),
    manifestDeleted: (ctx, digest) => inner?.manifestDeleted(ctx, digest),
    tagDeleted: (ctx, tag) => inner?.tagDeleted(ctx, tag),
  };
}
