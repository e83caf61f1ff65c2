import type { Config } from './config/schema.ts';
import type { BlobStore } from './storage/blob-store.ts';
import type { Catalog } from './storage/catalog.ts';
import type { StorageDriver } from './storage/driver.ts';
import type { ManifestStore } from './storage/manifest-store.ts';
import type { UploadBackend } from './uploads/backend.ts';
import type { UploadLocks } from './uploads/upload-lock.ts';
import type { Authenticator } from './auth/authenticator.ts';
import type { UploadGate } from './uploads/upload-gate.ts';
import type { EventSink } from './notifications/notifications.ts';
import type { RequestObserver } from './metrics/http-metrics.ts';
import type { Readiness } from './metrics/probes.ts';
import type { PullThroughCache } from './proxy/pull-through.ts';

/**
 * The dependency container the composition root (registry.ts) builds and every handler receives:
 * the stores and the upload pipeline, never the fs directly. It belongs to the root, not to
 * http/, which only carries it to the handlers (issue 9).
 */
export interface Services {
  readonly config: Config;
  readonly driver: StorageDriver;
  readonly blobs: BlobStore;
  readonly manifests: ManifestStore;
  /** GET /v2/_catalog's names; handlers that can create a repository tell it (storage/catalog.ts). */
  readonly catalog: Catalog;
  /** The upload path of this storage (uploads/backend.ts). */
  readonly uploads: UploadBackend;
  /** One writer per upload within this process (uploads/upload-lock.ts). */
  readonly uploadLocks: UploadLocks;
  readonly uploadGate: UploadGate;
  /** Set when `auth` is configured. */
  readonly auth: Authenticator | undefined;
  /** Webhook events (notifications/); absent when no endpoint is enabled, so an event site costs nothing. */
  readonly notifications?: EventSink;
  /** Counts every request (http/server.ts); only set when metrics are on (http.debug.prometheus), so off costs nothing. */
  readonly requestMetrics?: RequestObserver | undefined;
  /** /readyz: false once close() started (metrics/probes.ts); absent means ready. */
  readonly readiness?: Readiness | undefined;
  /** Set when `proxy` is configured: the pull-through cache the blob and manifest GETs hook into (src/proxy/). */
  readonly proxy?: PullThroughCache;
}
