import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { readFileSync } from 'node:fs';
import type * as Https from 'node:https';
import { createRequire } from 'node:module';
import { accessFor, ALLOW_ALL, type Grants } from '../auth/access.ts';
import { toRegistryError } from '../errors/to-registry-error.ts';
import { RegistryError } from '../errors/registry-error.ts';
import type { Logger } from '../log.ts';
import type { Router } from '../routing/router.ts';
import type { Route } from '../routing/routes.ts';
import type { Services } from '../services.ts';
import type { RequestContext, RouteParams } from './context.ts';
import { API_VERSION } from './headers.ts';
import { sendError } from './respond.ts';

/**
 * The node:http server. Every response gets the API version header (spec end-1, "Docker-
 * Distribution-API-Version"). This is the ONE try/catch that turns errors into responses.
 */
export interface TlsFiles {
  readonly certificate: string;
  readonly key: string;
  readonly clientcas: readonly string[];
}

export interface Timeouts {
  /** ms for all request headers to arrive (slowloris). */
  readonly headertimeout: number;
  /** ms of silence after which a connection is closed; 0 = never. */
  readonly idletimeout: number;
}

/** node:https (and tls below it) is loaded only with http.tls: a few ms of every start otherwise (issue 12). */
const loadHttps = (): typeof Https => createRequire(import.meta.url)('node:https') as typeof Https;

export function createHttpServer(router: Router, services: Services, log: Logger, tls?: TlsFiles, timeouts: Timeouts = { headertimeout: 30_000, idletimeout: 300_000 }): Server {
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res, router, services, log).catch((err: unknown) => {
      // handle() answers every error itself; this is the backstop for a bug in that answering.
      // An unhandled rejection would end the process and every upload in flight with it.
      log.error({ err, method: req.method, url: req.url }, 'request handling failed');
      if (!res.headersSent) res.setHeader('connection', 'close');
      res.destroy();
    });
  };
  // http.tls: HTTPS; with clientcas, a client must present a certificate signed by one of them.
  // Node checks header deadlines on this interval (default 30 s): keep it within the deadline.
  const checking = { connectionsCheckingInterval: Math.max(250, Math.min(30_000, Math.floor(timeouts.headertimeout / 2))) };
  const server: Server = tls
    ? loadHttps().createServer(
        {
          ...checking,
          cert: readFileSync(tls.certificate),
          key: readFileSync(tls.key),
          ...(tls.clientcas.length > 0 ? { ca: tls.clientcas.map((f) => readFileSync(f)), requestCert: true, rejectUnauthorized: true } : {}),
        },
        onRequest,
      )
    : createServer(checking, onRequest);
  // A multi-GB layer can take minutes, so no limit on a whole request; slow clients are cut off
  // by the header deadline and by the idle timeout (no byte for that long: the socket closes).
  server.requestTimeout = 0;
  server.headersTimeout = timeouts.headertimeout;
  server.timeout = timeouts.idletimeout;
  server.keepAliveTimeout = Math.min(65_000, timeouts.idletimeout || 65_000);
  server.on('clientError', answerClientError);
  return server;
}

async function handle(req: IncomingMessage, res: ServerResponse, router: Router, services: Services, rootLog: Logger): Promise<void> {
  inFlight.set(req.socket, res);
  const log = new RequestLog(rootLog);
  // Timed only when the request line is written or metrics count it (issue 9: nothing per request that no one reads).
  const metrics = services.requestMetrics;
  const started = log.requestLines || metrics ? process.hrtime.bigint() : 0n;
  const rawUrl = req.url ?? '/';
  const queryAt = rawUrl.indexOf('?');
  const path = queryAt === -1 ? rawUrl : rawUrl.slice(0, queryAt);
  let routeId = '-';
  let matched: Route | undefined;
  try {
    const { route, params } = router.match(req.method ?? 'GET', path);
    routeId = route.id;
    matched = route;
    const grants = services.auth && route.access !== 'public' ? await services.auth.authorize(req, accessFor(route.access, params.name)) : ALLOW_ALL;
    // storage.maintenance.readonly: every write is refused, reads go on (distribution answers the same).
    if (services.config.storage.maintenance.readonly.enabled && route.method !== 'GET' && route.method !== 'HEAD') {
      throw new RegistryError('UNSUPPORTED', { reason: 'the registry is in read-only mode' });
    }
    // A pull-through cache takes no pushes or deletes on the names it proxies (distribution's proxy stores: ErrUnsupported).
    if ((route.access === 'push' || route.access === 'delete') && services.proxy?.covers(params.name)) throw new RegistryError('UNSUPPORTED', { reason: 'pull-through cache: pushes and deletes are not supported on proxied repositories', name: params.name });
    await route.handler(new Context(req, res, params, queryAt === -1 ? '' : rawUrl.slice(queryAt + 1), services, log, grants));
  } catch (err) {
    if (clientWentAway(req, res, err)) {
      // Nothing to answer and nothing wrong here: what arrived was kept (uploads) or dropped.
      if (log.requestLines) log.get().info({ method: req.method, url: rawUrl, route: routeId, status: 'client-closed' }, 'request');
      res.destroy();
      metrics?.observe(req, res, matched, started, true);
      return;
    }
    const error = toRegistryError(err);
    if (error.status >= 500) log.get().error({ err, method: req.method, url: rawUrl }, 'request failed');
    if (!res.headersSent) {
      // The handler stopped reading the body midway (an upload that failed mid-stream leaves it
      // paused). Nothing will read the rest, so this connection cannot carry another request:
      // say so, and node closes it after the answer. Kept alive, a client still writing its
      // body stalls until the idle timeout.
      if (!req.complete) res.setHeader('connection', 'close');
      sendError(req, res, error);
    }
    else res.destroy();
  }
  metrics?.observe(req, res, matched, started, false);
  if (!log.requestLines) return;
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  log.get().info({ method: req.method, url: rawUrl, route: routeId, status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
}

/**
 * A request's logger: the root logger's child carrying a request id, made the first time
 * something is logged. At the default `info` level every request makes one for its request line;
 * at `warn` and above only a request that logs an error pays for it (issue 9: the child and its
 * UUID were ~10 % of a manifest GET).
 */
class RequestLog {
  /** Whether the per-request `request` line is written at the configured level. */
  readonly requestLines: boolean;
  #child: Logger | undefined;

  constructor(private readonly root: Logger) {
    this.requestLines = root.isLevelEnabled('info');
  }

  get(): Logger {
    return (this.#child ??= this.root.child({ req: randomUUID().slice(0, 8) }));
  }
}

/** The handler's view of a request; the query string is parsed only if a handler asks for it. */
class Context implements RequestContext {
  #query: URLSearchParams | undefined;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly params: RouteParams,
    private readonly rawQuery: string,
    readonly services: Services,
    private readonly requestLog: RequestLog,
    readonly grants: Grants,
  ) {}

  get query(): URLSearchParams {
    return (this.#query ??= new URLSearchParams(this.rawQuery));
  }

  get log(): Logger {
    return this.requestLog.get();
  }
}

/** The client closed the connection mid-request (req 'aborted', a reset, a premature close). */
function clientWentAway(req: IncomingMessage, res: ServerResponse, err: unknown): boolean {
  if (err instanceof RegistryError) return false; // ours to answer, if the socket still lets us
  const code = (err as NodeJS.ErrnoException | null)?.code;
  // req.socket is null once a request stream was destroyed midway (node detaches it); the
  // response keeps its own reference to the connection until it is sent.
  const socket = req.socket ?? res.socket;
  return code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (err as Error | null)?.message === 'aborted' || socket?.destroyed === true;
}

/**
 * Requests node's parser refuses before we see them (a bad Content-Length, junk after a body,
 * headers over 16 KiB) still get an OCI error body and the API version header, not node's bare
 * `400 Bad Request`.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  // As node's own handler: no reply on a socket already ended, or into a response already started.
  if (!socket.writable || inFlight.get(socket)?.headersSent === true) {
    socket.destroy();
    return;
  }
  const detail = { reason: err.code ?? 'parse error' };
  const error = err.code === 'HPE_HEADER_OVERFLOW' ? new RegistryError('HEADERS_TOO_LARGE', detail) : new RegistryError('HTTP_REQUEST_INVALID', detail);
  const body = JSON.stringify(error.body());
  const status = `${error.status} ${STATUS_CODES[error.status] ?? ''}`;
  socket.end(
    `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: application/json\r\n${API_VERSION_HEADER}: ${API_VERSION}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

const API_VERSION_HEADER = 'Docker-Distribution-API-Version';

/** The response being written on each socket (see answerClientError). */
const inFlight = new WeakMap<Duplex, ServerResponse>();

