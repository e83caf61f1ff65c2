/**
 * Per-request CPU of the S3 client (src/storage/s3/client.ts) against @aws-sdk/client-s3, on a
 * real Ceph RGW: 4 KiB PutObject, GetObject and HeadObject, one request at a time, so the figure
 * is this process's CPU (user + system, process.cpuUsage) per request and not RGW's. It is what
 * chose the client: a registry's pull path is mostly small requests (links, manifests, HEADs).
 *
 *   node --import tsx bench/micro/s3-client.ts [--requests 400] [--size 4096]
 *
 * Uses the S3_* variables of `scripts/s3-ceph.sh env` when set; otherwise starts RGW with
 * scripts/s3-ceph.sh (and stops it after) unless one already runs.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { S3Client as SdkClient, GetObjectCommand, HeadObjectCommand, PutObjectCommand, DeleteObjectsCommand } from '@aws-sdk/client-s3';
import { S3Client } from '../../src/storage/s3/client.ts';
import { report, round, type Row } from '../lib/report.ts';
import { repoRoot } from '../lib/targets.ts';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '400' }, size: { type: 'string', default: '4096' } } });
const REQUESTS = Number(values.requests);
const SIZE = Number(values.size);

const script = join(repoRoot, 'scripts', 's3-ceph.sh');
let startedHere = false;
function s3Env(): Record<string, string> {
  if (process.env['S3_ENDPOINT'] === undefined) {
    const status = spawnSync('bash', [script, 'status'], { encoding: 'utf8' });
    const out = status.status === 0 ? status : spawnSync('bash', [script, 'start'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (out.status !== 0) throw new Error(`s3-client bench: RGW did not start (${script} start exited ${out.status})`);
    startedHere = status.status !== 0;
    for (const line of out.stdout.split('\n')) {
      const match = /^(S3_[A-Z_]+)=(.*)$/.exec(line);
      if (match?.[1] !== undefined && match[2] !== undefined) process.env[match[1]] = match[2];
    }
  }
  const need = (name: string): string => {
    const value = process.env[name];
    if (value === undefined) throw new Error(`s3-client bench: ${name} unset`);
    return value;
  };
  return { endpoint: need('S3_ENDPOINT'), region: need('S3_REGION'), bucket: need('S3_BUCKET'), accessKey: need('S3_ACCESS_KEY'), secretKey: need('S3_SECRET_KEY') };
}

interface Client {
  readonly name: string;
  put(key: string, body: Buffer): Promise<void>;
  get(key: string): Promise<Buffer>;
  head(key: string): Promise<number>;
  deleteAll(keys: string[]): Promise<void>;
  close(): void;
}

function ours(env: Record<string, string>): Client {
  const client = new S3Client({ endpoint: new URL(env['endpoint'] ?? ''), region: env['region'] ?? '', bucket: env['bucket'] ?? '', accessKeyId: env['accessKey'] ?? '', secretAccessKey: env['secretKey'] ?? '', forcePathStyle: true });
  return {
    name: 'aws4 + node:http (ours)',
    put: (key, body) => client.putObject(key, body),
    get: async (key) => {
      const res = await client.getObject(key);
      if (res === 'out-of-range') throw new Error('unexpected 416');
      const parts: Buffer[] = [];
      for await (const chunk of res) parts.push(chunk as Buffer);
      return Buffer.concat(parts);
    },
    head: async (key) => (await client.headObject(key))?.size ?? -1,
    deleteAll: (keys) => client.deleteObjects(keys),
    close: () => client.close(),
  };
}

function sdk(env: Record<string, string>): Client {
  const client = new SdkClient({
    endpoint: env['endpoint'] ?? '',
    region: env['region'] ?? '',
    forcePathStyle: true,
    credentials: { accessKeyId: env['accessKey'] ?? '', secretAccessKey: env['secretKey'] ?? '' },
    // Ceph pacific predates the SDK's default CRC32 trailers (scripts/s3-ceph.sh).
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const Bucket = env['bucket'] ?? '';
  return {
    name: '@aws-sdk/client-s3',
    put: async (Key, Body) => void (await client.send(new PutObjectCommand({ Bucket, Key, Body }))),
    get: async (Key) => {
      const res = await client.send(new GetObjectCommand({ Bucket, Key }));
      return Buffer.from((await res.Body?.transformToByteArray()) ?? []);
    },
    head: async (Key) => (await client.send(new HeadObjectCommand({ Bucket, Key }))).ContentLength ?? -1,
    deleteAll: async (keys) => void (await client.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }))),
    close: () => client.destroy(),
  };
}

/** Runs `op` REQUESTS times in sequence; CPU µs and wall ms per request. */
async function measure(op: (i: number) => Promise<unknown>): Promise<{ cpuUs: number; wallMs: number }> {
  // Warm up: sockets open, code paths compiled.
  for (let i = 0; i < 30; i++) await op(i);
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < REQUESTS; i++) await op(i);
  const wall = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return { cpuUs: (used.user + used.system) / REQUESTS, wallMs: wall / REQUESTS };
}

/** Cold import cost of each client, in a fresh process (what start-up would pay). */
function importMs(...specifiers: string[]): number {
  // Plain node, no tsx: the libraries' own load cost, as a built Quayside pays it.
  const code = `const t = performance.now(); await Promise.all(${JSON.stringify(specifiers)}.map((s) => import(s))); console.log(performance.now() - t);`;
  const out = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: repoRoot, encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`import of ${specifiers.join(', ')} failed: ${out.stderr}`);
  return Number(out.stdout.trim());
}

/**
 * The transport floor: an unsigned keep-alive HEAD of a key (RGW answers 403, no body), no signing,
 * no parsing. (Not HEAD /: RGW answers that one with a chunked body, which Node rightly refuses.)
 */
async function floor(endpoint: string, bucket: string): Promise<Row> {
  const agent = new http.Agent({ keepAlive: true });
  const url = new URL(endpoint);
  const head = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = http.request({ agent, host: url.hostname, port: url.port, method: 'HEAD', path: `/${bucket}/floor` }, (res) => {
        res.resume();
        res.once('end', resolve);
      });
      req.once('error', reject);
      req.end();
    });
  const m = await measure(head);
  agent.destroy();
  return { client: 'node:http alone (floor)', op: 'HEAD, unsigned', 'CPU µs/req': round(m.cpuUs, 0), 'wall ms/req': round(m.wallMs, 2) };
}

const env = s3Env();
const rows: Row[] = [];
try {
  rows.push(await floor(env['endpoint'] ?? '', env['bucket'] ?? ''));
  const prefix = `bench-s3-client-${randomBytes(4).toString('hex')}`;
  const body = randomBytes(SIZE);
  for (const client of [ours(env), sdk(env)]) {
    const keys = Array.from({ length: REQUESTS + 30 }, (_, i) => `${prefix}/${client.name.replace(/\W+/g, '-')}/${i}`);
    // Answers first (STYLE habit 10): the bytes put come back, HEAD sees their size.
    await client.put(keys[0] ?? '', body);
    if (!(await client.get(keys[0] ?? '')).equals(body)) throw new Error(`${client.name}: GetObject returned other bytes`);
    if ((await client.head(keys[0] ?? '')) !== SIZE) throw new Error(`${client.name}: HeadObject size wrong`);

    const put = await measure((i) => client.put(keys[i] ?? '', body));
    const get = await measure((i) => client.get(keys[i] ?? ''));
    const head = await measure((i) => client.head(keys[i] ?? ''));
    for (const [op, m] of [['PutObject', put], ['GetObject', get], ['HeadObject', head]] as const) {
      rows.push({ client: client.name, op: `${op} ${SIZE} B`, 'CPU µs/req': round(m.cpuUs, 0), 'wall ms/req': round(m.wallMs, 2) });
    }
    for (let i = 0; i < keys.length; i += 1000) await client.deleteAll(keys.slice(i, i + 1000));
    client.close();
  }
  rows.push({ client: 'aws4 + node:http (ours)', op: 'cold import aws4 + fast-xml-parser (ms)', 'CPU µs/req': '', 'wall ms/req': round(importMs('aws4', 'fast-xml-parser'), 1) });
  rows.push({ client: '@aws-sdk/client-s3', op: 'cold import (ms)', 'CPU µs/req': '', 'wall ms/req': round(importMs('@aws-sdk/client-s3'), 1) });
  await report('s3-client', rows, { requests: REQUESTS, size: SIZE, endpoint: env['endpoint'] });
} finally {
  if (startedHere) spawnSync('bash', [script, 'stop'], { stdio: 'inherit' });
}
