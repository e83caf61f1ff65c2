import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { accessFor, ALLOW_ALL } from '../auth/access.ts';
import { toRegistryError } from '../errors/to-registry-error.ts';
import { RegistryError } from '../errors/registry-error.ts';
import type { Logger } from '../log.ts';
import type { Router } from '../routing/router.ts';
import type { Services } from './context.ts';
import { API_VERSION, HEADER } from './headers.ts';
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

export function createHttpServer(router: Router, services: Services, log: Logger, tls?: TlsFiles): Server {
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    void handle(req, res, router, services, log);
  };
  // http.tls: HTTPS; with clientcas, a client must present a certificate signed by one of them.
  const server: Server = tls
    ? createHttpsServer(
        {
          cert: readFileSync(tls.certificate),
          key: readFileSync(tls.key),
          ...(tls.clientcas.length > 0 ? { ca: tls.clientcas.map((f) => readFileSync(f)), requestCert: true, rejectUnauthorized: true } : {}),
        },
        onRequest,
      )
    : createServer(onRequest);
  // A multi-GB layer can take minutes; slow-client limits come from headersTimeout instead.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  return server;
}

async function handle(req: IncomingMessage, res: ServerResponse, router: Router, services: Services, rootLog: Logger): Promise<void> {
  const started = process.hrtime.bigint();
  const log = rootLog.child({ req: randomUUID().slice(0, 8) });
  res.setHeader(HEADER.apiVersion, API_VERSION);
  res.setHeader(HEADER.contentTypeOptions, 'nosniff');
  const rawUrl = req.url ?? '/';
  const queryAt = rawUrl.indexOf('?');
  const path = queryAt === -1 ? rawUrl : rawUrl.slice(0, queryAt);
  const query = new URLSearchParams(queryAt === -1 ? '' : rawUrl.slice(queryAt + 1));
  let routeId = '-';
  try {
    const { route, params } = router.match(req.method ?? 'GET', path);
    routeId = route.id;
    const grants = services.auth ? await services.auth.authorize(req, accessFor(route.access, params.name)) : ALLOW_ALL;
    // storage.maintenance.readonly: every write is refused, reads go on (distribution answers the same).
    if (services.config.storage.maintenance.readonly.enabled && route.method !== 'GET' && route.method !== 'HEAD') {
      throw new RegistryError('UNSUPPORTED', { reason: 'the registry is in read-only mode' });
    }
    await route.handler({ req, res, params, query, services, log, grants });
  } catch (err) {
    const error = toRegistryError(err);
    if (error.status >= 500) log.error({ err, method: req.method, url: rawUrl }, 'request failed');
    if (!res.headersSent) sendError(req, res, error);
    else res.destroy();
  } finally {
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    log.info({ method: req.method, url: rawUrl, route: routeId, status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
  }
}
