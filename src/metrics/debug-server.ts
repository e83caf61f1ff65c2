import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseAddr } from '../config/load.ts';
import { RegistryError } from '../errors/registry-error.ts';
import { sendError, sendJson } from '../http/respond.ts';
import type { Logger } from '../log.ts';
import { healthReport, type HealthCheck } from './health.ts';
import type { RegistryMetrics } from './metrics.ts';

/**
 * distribution's debug server (registry.go configureDebugServer): a second listener on
 * `http.debug.addr`, for operators and scrapers, never for registry clients. It serves
 * `/debug/health` (health.StatusHandler: 200, or 503 when a check fails, JSON naming each check)
 * and, when `http.debug.prometheus.enabled`, the Prometheus exposition on its `path`
 * (default /metrics). No auth, as in distribution: bind it to a private address.
 */
export interface DebugServerOptions {
  readonly addr: string;
  /** Set when http.debug.prometheus.enabled. */
  readonly metrics: RegistryMetrics | undefined;
  readonly metricsPath: string;
  readonly checks: readonly HealthCheck[];
  readonly log: Logger;
}

export interface DebugServer {
  /** http://host:port it listens on. */
  readonly url: string;
  close(): Promise<void>;
}

export const HEALTH_PATH = '/debug/health';

export async function startDebugServer(options: DebugServerOptions): Promise<DebugServer> {
  const server = createServer((req, res) => {
    answer(req, res, options).catch((err: unknown) => {
      if (!(err instanceof RegistryError)) options.log.error({ err, url: req.url }, 'debug server request failed');
      if (!res.headersSent) sendError(req, res, err instanceof RegistryError ? err : new RegistryError('UNKNOWN', { reason: 'the debug server could not answer' }));
      else res.destroy();
    });
  });
  // A scraper keeps its connection; close() must not wait for it.
  server.keepAliveTimeout = 5_000;
  const { host, port } = parseAddr(options.addr);
  server.listen(port, host);
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err as Error))]);
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  options.log.info({ addr: `${shownHost}:${address.port}`, metrics: options.metrics ? options.metricsPath : false }, 'debug server listening');
  return { url: `http://${shownHost}:${address.port}`, close: () => closeServer(server) };
}

async function closeServer(server: Server): Promise<void> {
  const closed = once(server, 'close');
  server.close();
  server.closeAllConnections();
  await closed;
}

async function answer(req: IncomingMessage, res: ServerResponse, options: DebugServerOptions): Promise<void> {
  const url = req.url ?? '/';
  const queryAt = url.indexOf('?');
  const path = queryAt === -1 ? url : url.slice(0, queryAt);
  const metrics = path === options.metricsPath ? options.metrics : undefined;
  if (path !== HEALTH_PATH && metrics === undefined) throw new RegistryError('ROUTE_UNKNOWN', { path: path.slice(0, 300) });
  if (req.method !== 'GET' && req.method !== 'HEAD') throw new RegistryError('UNSUPPORTED', { method: req.method, path });
  if (metrics === undefined) {
    const report = healthReport(options.checks);
    sendJson(req, res, report.healthy ? 200 : 503, report.checks, { 'cache-control': 'no-store' });
    return;
  }
  const { body, contentType } = await metrics.scrape();
  const bytes = Buffer.from(body);
  res.writeHead(200, { 'content-type': contentType, 'content-length': bytes.length, 'cache-control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}
