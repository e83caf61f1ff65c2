/**
 * The floor under a streamed blob pull on S3 (storage.redirect.disable): what it costs plain Node
 * to relay an HTTP response body from an upstream (node:http client, as src/storage/s3/client.ts
 * reads GetObject) to a client (ServerResponse), with none of Quayside's code in the way. Three
 * relays, interleaved rounds, each in its own process so its CPU (user + system) is its own:
 *   pipeline: stream.pipeline(upstream, res), what src/http/respond.ts sendStream does;
 *   pipe:     upstream.pipe(res);
 *   socket:   upstream 'data' written to the client socket directly, past ServerResponse.
 * The upstream serves `--gib` GiB from memory; `--clients` curl-like readers pull in parallel.
 * With `--s3` the upstream is instead one object of that size on the RGW of S3_* (or one
 * scripts/s3-ceph.sh starts), fetched by a presigned URL: the bytes arrive as a streamed blob
 * pull's do, without Quayside.
 *
 *   node --import tsx bench/micro/http-relay-cost.ts [--gib 1] [--clients 4] [--rounds 2] [--s3]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { S3Driver } from '../../src/storage/s3/driver.ts';
import { acquireS3 } from '../lib/s3.ts';

const RELAYS = ['pipeline', 'pipe', 'socket'] as const;
type Relay = (typeof RELAYS)[number];
const MIB = 1024 * 1024;

function isRelay(value: string | undefined): value is Relay {
  return RELAYS.some((relay) => relay === value);
}

/** Child process: a relay on port 0 in front of `upstream`; reports its port, then its CPU on 'report'. */
async function serveRelay(relay: Relay, upstream: URL): Promise<void> {
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((req, res) => {
    http.get({ host: upstream.hostname, port: upstream.port, path: upstream.pathname + upstream.search, agent }, (upstream) => {
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

async function measure(relay: Relay, upstream: URL, clients: number, bytes: number): Promise<{ cpuPerGiB: number; mibPerSec: number }> {
  const child = fork(new URL(import.meta.url), ['--child', relay, upstream.href], { execArgv: process.execArgv });
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
  const { values } = parseArgs({ options: { gib: { type: 'string', default: '1' }, clients: { type: 'string', default: '4' }, rounds: { type: 'string', default: '2' }, s3: { type: 'boolean', default: false } } });
  const bytes = Math.round(Number(values.gib) * 2 ** 30);
  const clients = Number(values.clients);
  const upstream = values.s3 ? await s3Upstream(bytes) : await localUpstream(bytes);
  const rows: Record<string, string | number>[] = [];
  try {
    for (let round = 1; round <= Number(values.rounds); round++) {
      for (const relay of RELAYS) {
        const { cpuPerGiB, mibPerSec } = await measure(relay, upstream.url, clients, bytes);
        rows.push({ upstream: values.s3 ? 'rgw' : 'node', round, relay, 'relay cpu-s/GiB': Math.round(cpuPerGiB * 100) / 100, 'MiB/s': Math.round(mibPerSec) });
      }
    }
  } finally {
    await upstream.close();
  }
  console.table(rows);
}

interface Upstream {
  readonly url: URL;
  close(): Promise<void>;
}

async function localUpstream(bytes: number): Promise<Upstream> {
  const server = await startUpstream(bytes);
  const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  return { url, close: async () => void server.close() };
}

/** One object of `bytes` on RGW, read through a presigned URL (what a 307 would hand a client). */
async function s3Upstream(bytes: number): Promise<Upstream> {
  const service = await acquireS3((text) => console.log(text));
  const driver = new S3Driver({ ...service.params, rootdirectory: `/bench-relay-${randomBytes(4).toString('hex')}` });
  const block = randomBytes(64 * MIB);
  const writer = await driver.client.createMultipartUpload(driver.layout.key('/object'));
  const etags: string[] = [];
  for (let at = 0, n = 1; at < bytes; at += block.length, n++) etags.push(await driver.client.uploadPart(driver.layout.key('/object'), writer, n, block.subarray(0, Math.min(block.length, bytes - at))));
  await driver.client.completeMultipartUpload(driver.layout.key('/object'), writer, etags.map((etag, i) => ({ partNumber: i + 1, etag })));
  const location = driver.redirectUrl('/object', 'GET');
  if (location === undefined) throw new Error('the s3 driver gave no presigned URL');
  return {
    url: new URL(location),
    close: async () => {
      await driver.delete('/');
      driver.close();
      await service.release();
    },
  };
}

const [flag, relay, upstreamUrl] = process.argv.slice(2);
if (flag === '--child' && isRelay(relay) && upstreamUrl !== undefined) await serveRelay(relay, new URL(upstreamUrl));
else await main();
