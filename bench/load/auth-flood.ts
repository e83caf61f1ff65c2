/**
 * Load: authorized manifest GETs while a flood of wrong passwords hits the same registry
 * (issue 9: bcrypt must not stall reads). One registry with auth.htpasswd, an image pushed;
 * autocannon measures GET /v2/bench/app/manifests/latest with the right password (cached after
 * the first request) for `duration` seconds, three ways, interleaved round by round:
 *   none      no flood
 *   distinct  a concurrent flood of GET /v2/ with a new wrong password per request (each needs bcrypt)
 *   repeated  the same flood, always the same wrong password
 * Reported per tree and mode: the median authorized req/s over the rounds, its ratio to `none`
 * of the same tree, and how the flood was answered (401, 429).
 *
 *   node --import tsx bench/load/auth-flood.ts [--duration 5] [--rounds 3] [--connections 16]
 *        [--flood-connections 32] [--cost 10] [--old <source tree>]
 *
 * --old runs a second tree side by side (e.g. `git archive main | tar -x -C /tmp/old`, with
 * node_modules and build linked in): both trees run from source under tsx, the same way, each a
 * child process on 127.0.0.1 with its own copy of the content. The machine may be busy: compare
 * the ratios, not the absolute figures.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import bcrypt from 'bcrypt';
import { progress, report, round, type Row } from '../lib/report.ts';
import { repoRoot } from '../lib/targets.ts';
import { APP_REPO, makeContent, PULL_ACCEPT, seed } from './seed.ts';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '16' },
    'flood-connections': { type: 'string', default: '32' },
    cost: { type: 'string', default: '10' },
    old: { type: 'string' },
  },
});
const duration = Number(values.duration);
const rounds = Number(values.rounds);
const connections = Number(values.connections);
const floodConnections = Number(values['flood-connections']);
const cost = Number(values.cost);

const USER = 'bench';
const PASSWORD = 'right-password';
const basic = (password: string): string => `Basic ${Buffer.from(`${USER}:${password}`).toString('base64')}`;
const MODES = ['none', 'distinct', 'repeated'] as const;
type Mode = (typeof MODES)[number];

interface Server {
  readonly tree: string;
  readonly url: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  return typeof address === 'object' && address ? address.port : 0;
}

/** Quayside from a source tree under tsx; ready when /v2/ answers (200 open, 401 with auth). */
async function startTree(name: string, tree: string, root: string, env: NodeJS.ProcessEnv): Promise<Server> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(tree, 'src', 'cli.ts'), 'serve'], {
    cwd: tree,
    env: { ...process.env, REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`, REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root, REGISTRY_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  };
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`${name}: server exited with ${child.exitCode}`);
    const status = await fetch(`${url}/v2/`).then((r) => r.status, () => 0);
    if (status === 200 || status === 401) return { tree: name, url, stop };
    await sleep(50);
  }
  await stop();
  throw new Error(`${name}: not ready after 15 s`);
}

/** Seeds the content with auth off, then serves the same root with auth.htpasswd on. */
async function prepareTree(name: string, tree: string, work: string, htpasswd: string, content: ReturnType<typeof makeContent>): Promise<Server> {
  const root = join(work, name);
  await mkdir(root, { recursive: true });
  const open = await startTree(name, tree, root, {});
  await seed(open.url, content);
  await open.stop();
  const server = await startTree(name, tree, root, { REGISTRY_AUTH_HTPASSWD_PATH: htpasswd, REGISTRY_AUTH_HTPASSWD_REALM: 'bench' });
  const path = `/v2/${APP_REPO}/manifests/latest`;
  const denied = await fetch(`${server.url}${path}`, { headers: { accept: PULL_ACCEPT } });
  assert.equal(denied.status, 401, `${name}: anonymous GET must be refused`);
  const allowed = await fetch(`${server.url}${path}`, { headers: { accept: PULL_ACCEPT, authorization: basic(PASSWORD) } });
  assert.equal(allowed.status, 200, `${name}: authorized GET`);
  assert.deepEqual(Buffer.from(await allowed.arrayBuffer()), content.manifest.bytes, `${name}: manifest bytes as pushed`);
  return server;
}

interface FloodCounts {
  readonly byStatus: Map<number, number>;
}

/** The wrong-password flood on GET /v2/, until stopped; counts replies by status. */
function startFlood(url: string, mode: Exclude<Mode, 'none'>): { stop: () => Promise<FloodCounts> } {
  const byStatus = new Map<number, number>();
  let n = 0;
  let finished: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finished = resolve));
  const instance = autocannon({
    url,
    connections: floodConnections,
    duration: duration + 30,
    timeout: 30,
    requests: [
      {
        method: 'GET',
        path: '/v2/',
        setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: basic(mode === 'distinct' ? `wrong-${process.pid}-${n++}` : 'always-wrong') } }),
        onResponse: (status) => byStatus.set(status, (byStatus.get(status) ?? 0) + 1),
      },
    ],
  }, () => finished());
  return {
    stop: async () => {
      instance.stop();
      await done;
      return { byStatus };
    },
  };
}

async function measureAuthorized(server: Server, expectedBody: string): Promise<{ rps: number; p99: number; wrong: number; errors: number }> {
  let wrong = 0;
  const result = await autocannon({
    url: server.url,
    connections,
    duration,
    timeout: 30,
    requests: [
      {
        method: 'GET',
        path: `/v2/${APP_REPO}/manifests/latest`,
        headers: { accept: PULL_ACCEPT, authorization: basic(PASSWORD) },
        onResponse: (status, body) => {
          if (status !== 200 || body !== expectedBody) wrong++;
        },
      },
    ],
  });
  const ok = result.requests.total - wrong;
  return { rps: ok / duration, p99: result.latency.p99, wrong, errors: result.errors + result.timeouts };
}

/**
 * Waits until the server has worked off what the stopped flood left behind (the old code keeps
 * running every queued compare), so the next run does not measure the previous one's backlog.
 */
async function drain(server: Server): Promise<void> {
  const reply = await fetch(`${server.url}/v2/`, { headers: { authorization: basic(PASSWORD) }, signal: AbortSignal.timeout(300_000) });
  assert.equal(reply.status, 200, `${server.tree}: authorized /v2/ after the flood`);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

const work = join(tmpdir(), `quayside-auth-flood-${process.pid}`);
await mkdir(work, { recursive: true });
const htpasswd = join(work, 'htpasswd');
// `htpasswd -B` writes $2y$; node's bcrypt writes $2b$, the same algorithm.
await writeFile(htpasswd, `${USER}:${(await bcrypt.hash(PASSWORD, cost)).replace(/^\$2b\$/, '$2y$')}\n`);
const content = makeContent();
const trees: [string, string][] = [['new', repoRoot], ...(values.old ? [['old', values.old] as [string, string]] : [])];
const servers: Server[] = [];
type Sample = { rps: number; p99: number; wrong: number; errors: number; flood: Map<number, number> };
const samples = new Map<string, Sample[]>();
try {
  for (const [name, tree] of trees) servers.push(await prepareTree(name, tree, work, htpasswd, content));
  const body = content.manifest.bytes.toString('utf8');
  // Warmup (JIT, caches), not measured.
  for (const server of servers) await autocannon({ url: server.url, connections, duration: 2, requests: [{ method: 'GET', path: `/v2/${APP_REPO}/manifests/latest`, headers: { accept: PULL_ACCEPT, authorization: basic(PASSWORD) } }] });
  for (let r = 0; r < rounds; r++) {
    for (const mode of MODES) {
      // Which tree goes first alternates by round: neither always runs right after the other's flood.
      for (const server of r % 2 === 0 ? servers : [...servers].reverse()) {
        const flood = mode === 'none' ? undefined : startFlood(server.url, mode);
        const measured = await measureAuthorized(server, body);
        const counts = (await flood?.stop())?.byStatus ?? new Map<number, number>();
        if (flood) await drain(server);
        const key = `${server.tree}/${mode}`;
        samples.set(key, [...(samples.get(key) ?? []), { ...measured, flood: counts }]);
        progress(`auth-flood: round ${r + 1} ${key}: ${round(measured.rps, 0)} req/s, p99 ${measured.p99} ms, flood ${JSON.stringify(Object.fromEntries(counts))}`);
      }
    }
  }
} finally {
  await Promise.all(servers.map((s) => s.stop()));
  await rm(work, { recursive: true, force: true });
}

const rows: Row[] = [];
for (const [name] of trees) {
  const base = median((samples.get(`${name}/none`) ?? []).map((s) => s.rps));
  for (const mode of MODES) {
    const runs = samples.get(`${name}/${mode}`) ?? [];
    const rps = median(runs.map((s) => s.rps));
    const flood = (status: number): number => runs.reduce((sum, s) => sum + (s.flood.get(status) ?? 0), 0);
    rows.push({
      tree: name,
      flood: mode,
      'authorized req/s': round(rps, 0),
      '× none': round(rps / base, 2),
      'runs req/s': runs.map((s) => round(s.rps, 0)).join(' '),
      'p99 ms': median(runs.map((s) => s.p99)),
      'wrong/err': runs.reduce((sum, s) => sum + s.wrong + s.errors, 0),
      'flood 401/s': round(flood(401) / (runs.length * duration), 0),
      'flood 429/s': round(flood(429) / (runs.length * duration), 0),
    });
  }
}
await report('auth-flood', rows, { duration, rounds, connections, floodConnections, cost });
if (rows.some((r) => Number(r['wrong/err']) > 0)) {
  console.error('auth-flood: an authorized GET got a wrong answer or an error');
  process.exitCode = 1;
}
