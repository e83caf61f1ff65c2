import assert from 'node:assert/strict';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { test } from 'node:test';
import bcrypt from 'bcrypt';
import { join } from 'node:path';
import { describe, expectStatus, type Reply } from '../helpers/assertions.ts';
import { send } from '../helpers/oci-client.ts';
import { startRegistry } from '../helpers/registry.ts';
import { scrape, startMetricsRegistry, waitFor } from './helpers.ts';

const CHECK = 'storagedriver_filesystem';

/**
 * Turns the storage root into a file, so that nothing under it can be written or read (as root,
 * chmod would not stop a write). The check may be recreating folders under the root meanwhile:
 * move the root aside until a file takes its place.
 */
async function breakRoot(t: { after: (fn: () => Promise<void>) => void }, root: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const aside = `${root}-gone-${attempt}`;
    t.after(() => rm(aside, { recursive: true, force: true }));
    await rename(root, aside).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    try {
      await writeFile(root, 'not a directory', { flag: 'wx' });
      return;
    } catch (err) {
      if (attempt > 100) throw err;
    }
  }
}

async function health(debugUrl: string): Promise<{ reply: Reply; checks: Record<string, string> }> {
  const reply = await send(debugUrl, '/debug/health');
  assert.match(reply.headers.get('content-type') ?? '', /^application\/json/, describe(reply));
  return { reply, checks: JSON.parse(reply.body.toString('utf8')) as Record<string, string> };
}

test('health /debug/health 200 naming the storage check; 503 naming it once storage cannot be written; 200 again after', async (t) => {
  const { debugUrl, root } = await startMetricsRegistry(t, { health: { storagedriver: { enabled: true, interval: '50ms', threshold: 2 } } });
  const ok = await waitFor('the first check', () => health(debugUrl), (h) => h.checks[CHECK] === 'ok');
  expectStatus(ok.reply, 200);

  await breakRoot(t, root);
  const failing = await waitFor('the check to fail', () => health(debugUrl), (h) => h.reply.status === 503);
  assert.equal(Object.keys(failing.checks).length, 1);
  assert.match(failing.checks[CHECK] ?? '', /ENOTDIR|not a directory/, describe(failing.reply));

  await rm(root, { force: true });
  await mkdir(root);
  const healed = await waitFor('the check to pass again', () => health(debugUrl), (h) => h.reply.status === 200);
  assert.deepEqual(healed.checks, { [CHECK]: 'ok' });
});

test('health threshold: failures below it leave the check passing', async (t) => {
  // A threshold no run of failures in this test can reach, at a fast interval.
  const { debugUrl, root } = await startMetricsRegistry(t, { health: { storagedriver: { enabled: true, interval: '50ms', threshold: 1_000_000 } } });
  await waitFor('the first check', () => health(debugUrl), (h) => h.checks[CHECK] === 'ok');
  await breakRoot(t, root);
  // Observed through the registry's own log-free view: still 200 after many failed rounds.
  for (let i = 0; i < 10; i++) expectStatus((await health(debugUrl)).reply, 200);
});

test('health with storage.maintenance.readonly only reads: a root nothing may be written to stays healthy', async (t) => {
  const { debugUrl } = await startMetricsRegistry(t, { health: { storagedriver: { enabled: true, interval: '50ms', threshold: 1 } }, maintenance: { readonly: { enabled: true } } });
  const h = await waitFor('the check', () => health(debugUrl), (x) => x.checks[CHECK] === 'ok');
  expectStatus(h.reply, 200);
});

test('health /livez and /readyz answer 200 on the main port, without credentials when auth is on', async (t) => {
  const dir = await import('node:fs/promises').then((fs) => fs.mkdtemp(join(process.env['TMPDIR'] ?? '/tmp', 'quayside-probes-')));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const htpasswd = join(dir, 'htpasswd');
  await writeFile(htpasswd, `alice:${bcrypt.hashSync('secret', 4)}\n`);
  const { url } = await startRegistry(t, { config: { auth: { htpasswd: { path: htpasswd } } } });
  for (const path of ['/livez', '/readyz']) {
    const reply = await send(url, path);
    expectStatus(reply, 200);
    assert.deepEqual(JSON.parse(reply.body.toString()), { status: 'ok' });
    assert.equal(reply.headers.get('cache-control'), 'no-store');
    const head = await send(url, path, { method: 'HEAD' });
    expectStatus(head, 200);
    assert.equal(head.body.length, 0);
  }
  // The API itself still asks for credentials.
  expectStatus(await send(url, '/v2/'), 401);
  // Probes take GET and HEAD only.
  const post = await send(url, '/readyz', { method: 'POST' });
  assert.equal(post.status, 405, describe(post));
});

/**
 * Every response on one connection until it closes: a request held open (an upload whose body
 * has not all arrived), then, pipelined behind it once close() has started, the probes.
 */
function responsesOf(raw: string): { status: number; body: string }[] {
  const out: { status: number; body: string }[] = [];
  const pattern = /HTTP\/1\.1 (\d{3})[^\r]*\r\n((?:[^\r]+\r\n)*)\r\n/g;
  let match: RegExpExecArray | null;
  while ((match = pattern.exec(raw)) !== null) {
    const length = Number(/content-length: (\d+)/i.exec(match[2] ?? '')?.[1] ?? 0);
    const start = pattern.lastIndex;
    out.push({ status: Number(match[1]), body: raw.slice(start, start + length) });
    pattern.lastIndex = start + length;
  }
  return out;
}

test('health /readyz turns 503 as soon as close() starts while /livez stays 200', async (t) => {
  const { url, debugUrl, registry } = await startMetricsRegistry(t);
  const post = await send(url, '/v2/probe/blobs/uploads/', { method: 'POST' });
  expectStatus(post, 202);
  const location = post.headers.get('location') ?? '';
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  t.after(() => socket.destroy());
  let raw = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (raw += chunk));
  const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  // A PATCH whose body is still arriving keeps its connection, and close() waits for it.
  socket.write(`PATCH ${location} HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/octet-stream\r\nContent-Length: 10\r\n\r\n12345`);
  // Seen by the registry (an idle connection would be closed at once by close()).
  await waitFor('the PATCH to be in flight', async () => (await scrape(debugUrl)).value('registry_uploads_in_flight'), (n) => n === 1);
  expectStatus(await send(url, '/readyz'), 200);
  const closing = registry.close(30_000);
  // Pipelined behind the PATCH: answered after it, by the registry that is shutting down.
  socket.write(`67890GET /readyz HTTP/1.1\r\nHost: ${hostname}\r\n\r\nGET /livez HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`);
  await ended;
  await closing;
  const responses = responsesOf(raw);
  assert.deepEqual(responses.map((r) => r.status), [202, 503, 200], raw);
  assert.deepEqual(JSON.parse(responses[1]?.body ?? ''), { status: 'shutting down' });
});
