import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { RequestMetrics } from '../../src/metrics/http-metrics.ts';
import { routes } from '../../src/routing/routes.ts';

/**
 * What metrics add to one request, in isolation from a busy machine's load noise: the time of
 * RequestMetrics.observe (two hrtime reads, the series lookup, three histogram observations,
 * the socket's byte counters) on a real request and response, averaged over many calls. Compare
 * with a manifest GET answered from memory (~20-30 µs of server CPU, bench/metrics/on-off.ts).
 *
 *   node --import tsx bench/metrics/observe-cost.ts
 */
const CALLS = 2_000_000;
const server = createServer();
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const captured = new Promise<[IncomingMessage, ServerResponse]>((resolve) => server.once('request', (req: IncomingMessage, res: ServerResponse) => resolve([req, res])));
const client = request({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', path: '/v2/app/manifests/v1' });
client.on('error', () => undefined);
client.end();
const [req, res] = await captured;
const route = routes.find((r) => r.id === 'end-3' && r.method === 'GET');
assert.ok(route);
const registry = new Registry();
const metrics = new RequestMetrics(registry);
for (let round = 0; round < 3; round++) {
  const started = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) metrics.observe(req, res, route, process.hrtime.bigint(), true);
  const ns = Number(process.hrtime.bigint() - started) / CALLS;
  console.log(`round ${round + 1}: ${ns.toFixed(0)} ns per observed request (including one hrtime read for the start)`);
}
assert.match(await registry.metrics(), new RegExp(`registry_http_requests_total\\{handler="end-3",method="GET",code="closed"\\} ${3 * CALLS}`));
res.end();
client.destroy();
server.close();
server.closeAllConnections();
