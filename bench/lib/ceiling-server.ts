/**
 * The ceiling row of `npm run bench:load`: a bare node:http server that answers each recorded
 * path with the bytes and headers Quayside answered it with (recorded by bench/lib/ceiling.ts),
 * and does nothing else: no routing, logging, storage or timers of ours. What node:http itself
 * costs per request on this machine; Quayside cannot go faster.
 *
 *   node --import tsx bench/lib/ceiling-server.ts <answers.json> <port>
 */
import { createServer, type OutgoingHttpHeaders } from 'node:http';
import { readFileSync } from 'node:fs';

interface RecordedAnswer {
  readonly path: string;
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string; // base64
}

interface Answer {
  readonly status: number;
  readonly headers: OutgoingHttpHeaders;
  readonly body: Buffer;
}

const [file, port] = process.argv.slice(2);
if (file === undefined || port === undefined) throw new Error('usage: ceiling-server.ts <answers.json> <port>');
const recorded = JSON.parse(readFileSync(file, 'utf8')) as RecordedAnswer[];
const answers = new Map<string, Answer>(recorded.map((a) => [a.path, { status: a.status, headers: a.headers, body: Buffer.from(a.body, 'base64') }]));
// `GET /v2/` is what the bench's readiness check asks for.
const base: Answer = { status: 200, headers: { 'content-type': 'application/json', 'content-length': '2' }, body: Buffer.from('{}') };

const server = createServer((req, res) => {
  const answer = answers.get(req.url ?? '') ?? base;
  res.writeHead(answer.status, answer.headers);
  res.end(answer.body);
});
// Quayside's keep-alive (65 s): the same `Keep-Alive: timeout=65` bytes on every answer.
server.keepAliveTimeout = 65_000;
server.listen(Number(port), '127.0.0.1');
process.once('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
