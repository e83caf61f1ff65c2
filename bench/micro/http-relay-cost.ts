/**
 * The floor under a streamed blob pull on S3 (storage.redirect.disable): what it costs plain Node
 * to relay an HTTP response body from an upstream (node:http client, as src/storage/s3/client.ts
 * reads GetObject) to a client (ServerResponse), with none of Quayside's code in the way. Three
 * relays, interleaved rounds, each in its own process so its CPU (user + system) is its own:
 *   pipeline: stream.pipeline(upstream, res), what src/http/respond.ts sendStream does;
 *   pipe:     upstream.pipe(res);
 *   socket:   upstream 'data' written to the client socket directly, past ServerResponse.
 * The upstream serves `--gib` GiB from memory; `--clients` curl-like readers pull in parallel.
 *
 *   node --import tsx bench/micro/http-relay-cost.ts [--gib 1] [--clients 4] [--rounds 2]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';

const RELAYS = ['pipeline', 'pipe', 'socket'] as const;
type Relay = (typeof RELAYS)[number];
const MIB = 1024 * 1024;

function isRelay(value: string | undefined): value is Relay {
  return RELAYS.some((relay) => relay === value);
}

/** Child process: a relay on port 0 in front of `upstreamPort`; reports its port, then its CPU on 'report'. */
async function serveRelay(relay: Relay, upstreamPort: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((req, res) => {
    http.get({ host: '127.0.0.1', port: upstreamPort, path: '/', agent }, (upstream) => {
      res.writeHead(200, { 'content-length': upstream.headers['content-length'] ?? '0' });
      if (relay === 'pipeline') pipeline(upstream, res).catch(() => undefined);
      else if (relay === 'pipe') upstream.pipe(res);
      else relayToSocket(upstream, res);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const started = process.cpuUsage();
  process.on('message', (message) => {
    if (message !== 'report') return;
    const used = process.cpuUsage(started);
    process.send?.({ cpuSeconds: (used.user + used.system) / 1e6 });
  });
  process.send?.({ port: (server.address() as AddressInfo).port });
}

/** The body written straight to the client's socket once the head is out (backpressure kept). */
function relayToSocket(upstream: http.IncomingMessage, res: http.ServerResponse): void {
  res.flushHeaders();
  const socket = res.socket;
  if (!socket) return void upstream.destroy();
  upstream.on('data', (chunk: Buffer) => {
    if (!socket.write(chunk)) {
      upstream.pause();
      socket.once('drain', () => upstream.resume());
    }
  });
  upstream.on('end', () => res.end());
}

/** An upstream that serves `bytes` from one 1 MiB buffer written again and again. */
async function startUpstream(bytes: number): Promise<http.Server> {
  const block = Buffer.alloc(MIB, 7);
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-length': String(bytes) });
    let left = bytes;
    const fill = (): void => {
      while (left > 0) {
        const piece = left >= MIB ? block : block.subarray(0, left);
        left -= piece.length;
        if (!res.write(piece)) return void res.once('drain', fill);
      }
      res.end();
    };
    fill();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

/** Reads one whole response, counting bytes: a client that keeps up. */
function pull(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/' }, (res) => {
      let n = 0;
      res.on('data', (chunk: Buffer) => (n += chunk.length));
      res.on('end', () => resolve(n));
      res.on('error', reject);
    }).on('error', reject);
  });
}

function nextMessage<T>(child: ChildProcess): Promise<T> {
  return new Promise((resolve) => child.once('message', (message) => resolve(message as T)));
}

async function measure(relay: Relay, upstreamPort: number, clients: number, bytes: number): Promise<{ cpuPerGiB: number; mibPerSec: number }> {
  const child = fork(new URL(import.meta.url), ['--child', relay, String(upstreamPort)], { execArgv: process.execArgv });
  const { port } = await nextMessage<{ port: number }>(child);
  const started = performance.now();
  const got = await Promise.all(Array.from({ length: clients }, () => pull(port)));
  const seconds = (performance.now() - started) / 1000;
  if (got.some((n) => n !== bytes)) throw new Error(`${relay}: short body ${got.join(',')}`);
  child.send('report');
  const { cpuSeconds } = await nextMessage<{ cpuSeconds: number }>(child);
  child.kill();
  const gib = (clients * bytes) / 2 ** 30;
  return { cpuPerGiB: cpuSeconds / gib, mibPerSec: (clients * bytes) / MIB / seconds };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { gib: { type: 'string', default: '1' }, clients: { type: 'string', default: '4' }, rounds: { type: 'string', default: '2' } } });
  const bytes = Math.round(Number(values.gib) * 2 ** 30);
  const clients = Number(values.clients);
  const upstream = await startUpstream(bytes);
  const upstreamPort = (upstream.address() as AddressInfo).port;
  const rows: Record<string, string | number>[] = [];
  for (let round = 1; round <= Number(values.rounds); round++) {
    for (const relay of RELAYS) {
      const { cpuPerGiB, mibPerSec } = await measure(relay, upstreamPort, clients, bytes);
      rows.push({ round, relay, 'relay cpu-s/GiB': Math.round(cpuPerGiB * 100) / 100, 'MiB/s': Math.round(mibPerSec) });
    }
  }
  upstream.close();
  console.table(rows);
}

const [flag, relay, upstreamPort] = process.argv.slice(2);
if (flag === '--child' && isRelay(relay)) await serveRelay(relay, Number(upstreamPort));
else await main();
