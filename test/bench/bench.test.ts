import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import bcrypt from 'bcrypt';
import { XMLValidator } from 'fast-xml-parser';
import { libtrustKeyId } from '../../src/auth/token-keys.ts';
import { BenchUsageError, parseBenchArgs, runBench, type BenchOptions, type BenchReport } from '../../src/bench/command.ts';
import { makePki, mintToken } from '../helpers/pki.ts';
import { peersSkipReason, startDockerRegistry } from '../helpers/peers.ts';
import { startRegistry } from '../helpers/registry.ts';

/**
 * `quayside bench` (issue 12) against real registries: Quayside on port 0, docker-registry 2.8
 * for --compare, htpasswd Basic, the token flow (a token server of the test's own), TLS with
 * --insecure, and a read-only registry whose refusals must show up as errors by status.
 */
const run = promisify(execFile);
const repoRoot = new URL('../../', import.meta.url).pathname;
const quiet = (): void => undefined;

/** Small, quick settings: every scenario runs, in well under a second each. */
function options(url: string, extra: string[] = []): BenchOptions {
  return parseBenchArgs([url, '--parallel', '2', '--size', '3MiB', '--chunk', '1MiB', '--concurrency', '2', '--duration', '300ms', ...extra], {});
}

function entry(report: BenchReport, name: string, mode: string, target?: string) {
  const found = report.scenarios.find((e) => e.name === name && e.mode === mode && (target === undefined || e.target === target));
  assert.ok(found, `no ${name} ${mode} entry in ${JSON.stringify(report.scenarios.map((e) => `${e.target} ${e.name} ${e.mode}`))}`);
  return found;
}

test('bench: every scenario against Quayside, verified, no errors; --json has one entry per scenario with the issue\'s fields; --cleanup deletes what it pushed', async (t) => {
  const { url } = await startRegistry(t, { deleteEnabled: true });
  const dir = await mkdtemp(join(tmpdir(), 'quayside-bench-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const json = join(dir, 'report.json');
  const report = await runBench(options(url, ['--json', json, '--cleanup', '--repo', 'bench/t1']), quiet);
  const written = JSON.parse(await readFile(json, 'utf8')) as BenchReport;
  assert.deepEqual(written.scenarios, JSON.parse(JSON.stringify(report.scenarios)));
  const expected = [
    ['push', 'chunked'], ['pull', 'cold'], ['pull', 'warm'], ['push', 'streamed'], ['push', 'monolithic'],
    ['small-read', 'manifest'], ['small-read', 'tags'], ['small-read', 'blob'], ['push-chain', 'chunked'], ['mixed-read', 'manifest'], ['mixed-push', 'chunked'],
  ];
  assert.deepEqual(written.scenarios.map((e) => [e.name, e.mode]), expected);
  for (const e of written.scenarios) {
    assert.deepEqual(e.errors, {}, `${e.name} ${e.mode}: ${e.note ?? ''}`);
    assert.equal(typeof e.parallel, 'number');
    assert.equal(typeof e.size, 'number');
    assert.ok(e.p50Ms > 0 && e.p99Ms >= e.p50Ms, `${e.name} ${e.mode}: p50 ${e.p50Ms} p99 ${e.p99Ms}`);
    const figure = e.mibPerSec ?? e.requestsPerSec;
    assert.ok(figure !== undefined && figure > 0, `${e.name} ${e.mode}: no MiB/s nor req/s`);
    assert.ok((e.mibPerSec === undefined) !== (e.requestsPerSec === undefined), `${e.name}: exactly one of mibPerSec, requestsPerSec`);
  }
  assert.equal(entry(written, 'push', 'chunked').size, 3 * 1024 * 1024);
  assert.equal(entry(written, 'push', 'chunked').parallel, 2);
  // --cleanup: the pushed blobs are gone from their repositories.
  const gone = await fetch(`${url}/v2/bench/t1/small/manifests/latest`);
  assert.equal(gone.status, 404);
});

test('bench --compare: Quayside against docker-registry 2.8, scenario by scenario interleaved, with the ratio of each; --chart draws them as one SVG', async (t) => {
  const skip = await peersSkipReason();
  if (skip) return t.skip(skip);
  const quayside = await startRegistry(t);
  const root = await mkdtemp(join(tmpdir(), 'quayside-bench-ref-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const reference = await startDockerRegistry(t, { root });
  const chart = join(root, 'chart.svg');
  const report = await runBench(options(quayside.url, ['--compare', reference.url, '--scenarios', 'push,pull,small', '--modes', 'chunked,streamed', '--chart', chart]), quiet);
  // Interleaved: each scenario on both before the next.
  assert.deepEqual(report.scenarios.slice(0, 4).map((e) => [e.target, e.name, e.mode]), [
    [quayside.url, 'push', 'chunked'], [quayside.url, 'pull', 'cold'], [quayside.url, 'pull', 'warm'],
    [reference.url, 'push', 'chunked'],
  ]);
  for (const e of report.scenarios) assert.deepEqual(e.errors, {}, `${e.target} ${e.name} ${e.mode}: ${e.note ?? ''}`);
  assert.equal(report.comparisons.length, report.scenarios.length / 2);
  for (const c of report.comparisons) assert.ok(typeof c.ratio === 'number' && c.ratio > 0, `${c.name} ${c.mode}: ratio ${String(c.ratio)}`);

  // --chart: well-formed SVG, a titled group per scenario with its ratio, a bar per entry with its figure.
  const svg = await readFile(chart, 'utf8');
  assert.equal(XMLValidator.validate(svg), true);
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  const bars = [...svg.matchAll(/<rect x="\d+" y="\d+" width="\d+" height="18" fill="[^"]+"><title>([^<]+)<\/title>/g)].map((m) => m[1]);
  assert.equal(bars.length, report.scenarios.length);
  const first = report.scenarios[0];
  assert.ok(first);
  assert.ok(bars.includes(`${first.target.replace('http://', '')}: ${first.mibPerSec} MiB/s`), JSON.stringify(bars));
  for (const c of report.comparisons) assert.ok(svg.includes(`${c.name} ${c.mode} (`) && svg.includes(`first target ${c.ratio}×`), `${c.name} ${c.mode} ratio ${String(c.ratio)} in the chart`);
  assert.doesNotMatch(svg, /<script|href=/, 'standalone: no script, nothing linked');
});

test('bench: a read-only registry\'s refusals are counted as errors by status, and the figures say so', async (t) => {
  const { url } = await startRegistry(t, { maintenance: { readonly: { enabled: true } } });
  const report = await runBench(options(url, ['--scenarios', 'push', '--modes', 'chunked']), quiet);
  const push = entry(report, 'push', 'chunked');
  assert.deepEqual(push.errors, { '405': 2 });
  assert.equal(push.mibPerSec, 0);
  assert.match(push.note ?? '', /POST: expected 202, got 405/);
});

async function htpasswd(t: { after: (fn: () => Promise<void>) => void }, user: string, password: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'quayside-bench-auth-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'htpasswd');
  await writeFile(path, `${user}:${(await bcrypt.hash(password, 5)).replace(/^\$2b\$/, '$2y$')}\n`);
  return path;
}

test('bench --username/--password: htpasswd Basic is answered; without credentials every operation is a 401', async (t) => {
  const path = await htpasswd(t, 'alice', 's3cret');
  const { url } = await startRegistry(t, { config: { auth: { htpasswd: { realm: 'bench', path } } } });
  const denied = await runBench(options(url, ['--scenarios', 'push', '--modes', 'chunked']), quiet);
  assert.deepEqual(entry(denied, 'push', 'chunked').errors, { '401': 2 });
  const allowed = await runBench(options(url, ['--scenarios', 'push,pull,small', '--modes', 'chunked,monolithic', '--username', 'alice', '--password', 's3cret']), quiet);
  for (const e of allowed.scenarios) assert.deepEqual(e.errors, {}, `${e.name} ${e.mode}: ${e.note ?? ''}`);
});

test('bench: the Docker token flow (challenge → token server with Basic → Bearer), one token per repository reused', async (t) => {
  const pki = await makePki(t);
  const kid = libtrustKeyId(createPublicKey(pki.signingKey));
  const asked: string[] = [];
  const tokens = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const expected = `Basic ${Buffer.from('bob:pw').toString('base64')}`;
    if (req.headers.authorization !== expected) {
      res.writeHead(401).end();
      return;
    }
    const scope = url.searchParams.get('scope') ?? '';
    asked.push(scope);
    const [, name = '', actions = ''] = scope.split(':');
    const now = Math.floor(Date.now() / 1000);
    const token = mintToken(pki.signingKey, { kid }, { iss: 'bench-issuer', sub: 'bob', aud: 'bench-service', exp: now + 300, nbf: now - 10, iat: now, jti: String(Math.random()), access: scope === '' ? [] : [{ type: 'repository', name, actions: actions.split(',') }] });
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token }));
  });
  tokens.listen(0, '127.0.0.1');
  await once(tokens, 'listening');
  t.after(() => new Promise<void>((resolve) => tokens.close(() => resolve())));
  const realm = `http://127.0.0.1:${(tokens.address() as AddressInfo).port}/token`;
  const { url } = await startRegistry(t, { config: { auth: { token: { realm, service: 'bench-service', issuer: 'bench-issuer', rootcertbundle: pki.signingCertPath } } } });
  const report = await runBench(options(url, ['--scenarios', 'push,pull', '--modes', 'chunked,streamed', '--username', 'bob', '--password', 'pw', '--repo', 'bench/tok']), quiet);
  for (const e of report.scenarios) assert.deepEqual(e.errors, {}, `${e.name} ${e.mode}: ${e.note ?? ''}`);
  // Both uploads of a scenario may meet the first challenge at once; after that the token is reused.
  const perRepo = new Map<string, number>();
  for (const scope of asked) perRepo.set(scope.split(':')[1] ?? '', (perRepo.get(scope.split(':')[1] ?? '') ?? 0) + 1);
  assert.deepEqual([...perRepo.keys()].sort(), ['bench/tok/push-chunked', 'bench/tok/push-streamed']);
  for (const [repo, n] of perRepo) assert.ok(n <= 2, `${repo}: ${n} token requests`);
});

test('bench over https: --insecure accepts the registry\'s certificate; without it every push fails on the certificate', async (t) => {
  const pki = await makePki(t);
  const { url } = await startRegistry(t, { config: { tls: { certificate: pki.serverCertPath, key: pki.serverKeyPath } } });
  assert.match(url, /^https:/);
  const refused = await runBench(options(url, ['--scenarios', 'push', '--modes', 'chunked']), quiet);
  assert.deepEqual(entry(refused, 'push', 'chunked').errors, { network: 2 });
  const insecure = await runBench(options(url, ['--scenarios', 'push,pull', '--modes', 'chunked', '--insecure']), quiet);
  for (const e of insecure.scenarios) assert.deepEqual(e.errors, {}, `${e.name} ${e.mode}: ${e.note ?? ''}`);
});

test('bench: bad arguments are refused with the flag named', () => {
  const cases: [string[], RegExp][] = [
    [[], /exactly one registry URL/],
    [['ftp://x'], /URL: an http/],
    [['http://x', '--compare', 'nope'], /--compare: an http/],
    [['http://x', '--scenarios', 'push,fly'], /--scenarios: fly is not one of/],
    [['http://x', '--modes', ''], /--modes/],
    [['http://x', '--parallel', '0'], /--parallel: a whole number ≥ 1/],
    [['http://x', '--size', 'big'], /--size: a size/],
    [['http://x', '--chunk', '1500KiB'], /--chunk: a whole number of MiB/],
    [['http://x', '--duration', '10'], /--duration/],
    [['http://x', '--username', 'u'], /--username and --password go together/],
    [['http://x', '--server-pid', 'x'], /--server-pid/],
  ];
  for (const [args, message] of cases) assert.throws(() => parseBenchArgs(args, {}), (err: unknown) => err instanceof BenchUsageError && message.test(err.message), args.join(' '));
  assert.equal(parseBenchArgs(['http://x'], { QUAYSIDE_BENCH_USERNAME: 'u', QUAYSIDE_BENCH_PASSWORD: 'p' }).username, 'u');
  assert.match(parseBenchArgs(['http://x'], {}).repo, /^bench\/[0-9a-f]{8}$/);
});

test('quayside bench: --help exits 0, a bad flag exits 2 with the usage, a failing run exits 1', async (t) => {
  const cli = ['--import', 'tsx', join(repoRoot, 'src/cli.ts'), 'bench'];
  const help = await run(process.execPath, [...cli, '--help']);
  assert.match(help.stdout, /quayside bench URL/);
  await assert.rejects(run(process.execPath, [...cli, 'http://127.0.0.1:1', '--parallel', 'x']), (err: { code?: number; stderr?: string }) => err.code === 2 && /--parallel/.test(err.stderr ?? ''));
  const { url } = await startRegistry(t, { maintenance: { readonly: { enabled: true } } });
  await assert.rejects(run(process.execPath, [...cli, url, '--scenarios', 'push', '--modes', 'chunked', '--size', '1MiB', '--parallel', '1']), (err: { code?: number; stdout?: string }) => err.code === 1 && /push/.test(err.stdout ?? ''));
});

