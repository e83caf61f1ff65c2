import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import type { StorageDriver } from '../storage/driver.ts';
import type { ManifestStore } from '../storage/manifest-store.ts';
import type { CommitDeps } from '../uploads/commit.ts';
import type { Authenticator } from '../auth/authenticator.ts';
import type { UploadGate } from '../uploads/upload-gate.ts';
import type { Grants } from '../auth/access.ts';

/** What handlers may use: the stores and the upload pipeline, never the fs directly. */
export interface Services {
  readonly config: Config;
  readonly driver: StorageDriver;
  readonly blobs: BlobStore;
  readonly manifests: ManifestStore;
  readonly uploads: CommitDeps;
  readonly uploadGate: UploadGate;
  /** Set when `auth` is configured. */
  readonly auth: Authenticator | undefined;
}

/** Route parameters after the pre-router: `name` is the whole repository name, '/' included. */
export interface RouteParams {
  readonly name: string;
  readonly reference?: string;
  readonly digest?: string;
  readonly uuid?: string;
}

export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly params: RouteParams;
  readonly query: URLSearchParams;
  readonly services: Services;
  readonly log: Logger;
  /** What this request may do (everything when auth is off). */
  readonly grants: Grants;
}

export type Handler = (ctx: RequestContext) => Promise<void>;
