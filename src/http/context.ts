import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log.ts';
import type { Grants } from '../auth/access.ts';
import type { Services } from '../services.ts';

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

/**
 * A route's handler. It may answer before returning (no promise): a GET served from the caches
 * is answered in the request's own event, without the microtask hops of an async chain (issue 9).
 */
export type Handler = (ctx: RequestContext) => Promise<void> | void;
