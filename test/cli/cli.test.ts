import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { once } from 'node:events';
import { connect } from 'node:net';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { before, test } from 'node:test';
import { promisify } from 'node:util';
import { pushBlob, pushImage, putUpload, send, sha256 } from '../helpers/oci-client.ts';
import { expectStatus } from '../helpers/assertions.ts';

const run = promisify(execFile);
const repo = new URL('../../', import.meta.url).pathname;
const cli = join(repo, 'dist', 'cli.js');

// The CLI is tested as it ships: compiled to JS (npm run build), workers included.
before(async () => {
  await run(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(repo, 'tsconfig.json')], { cwd: repo });
});

test('cli: --version prints the package version; --help the usage; unknown commands exit 2', async () => {
  const pkg = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as { version: string };
  assert.equal((await run(process.execPath, [cli, '--version'])).stdout.trim(), pkg.version);
  assert.match((await run(process.execPath, [cli, '--help'])).stdout, /quayside serve \[config\.yml\]/);
  await assert.rejects(run(process.execPath, [cli, 'frobnicate']), (err: { code?: number; stderr?: string }) => err.code === 2 && /unknown command/.test(err.stderr ?? ''));
});

test('cli: a bad config is one clear line on stderr and exit 1', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'quayside-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.yml');
  await writeFile(file, 'storage:\n  delete:\n    enabled: maybe\n');
  await assert.rejects(run(process.execPath, [cli, 'serve', file]), (err: { code?: number; stderr?: string }) => err.code === 1 && /storage\.delete\.enabled/.test(err.stderr ?? ''));
});

/** Starts the built CLI on a free port; resolves with its URL once it logs 'listening'. */
async function serve(t: { after: (fn: () => void) => void }, file: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [cli, 'serve', file], { env: { ...process.env, REGISTRY_HTTP_ADDR: '127.0.0.1:0' }, stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  // Keep reading stdout to the end: a closed pipe would make the child's logger fail.
  const addr = await new Promise<string>((resolve) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; addr?: string };
      if (entry.msg === 'listening') resolve(entry.addr ?? '');
    });
  });
  assert.match(addr, /^127\.0\.0\.1:\d+$/);
  return { url: `http://${addr}`, child };
}

async function exitCode(child: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
  const exited = once(child, 'exit');
  child.kill(signal);
  const [code] = (await exited) as [number | null];
  return code;
}

/** Whether a new TCP connection to the registry is accepted (false once its listener is closed). */
async function acceptsConnections(base: string): Promise<boolean> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

test('cli: SIGTERM lets an in-flight PATCH finish (202), then exits 0; a restart continues the upload', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'quayside-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.yml');
  await writeFile(file, `log:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n`);
  const first = await serve(t, file);
  const location = (await send(first.url, '/v2/shut/down/blobs/uploads/', { method: 'POST' })).headers.get('location') ?? '';
  const blob = randomBytes(6 * 1024 * 1024);
  const head = 5 * 1024 * 1024; // more than one 4 MiB worker batch, so some of it reaches the disk
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  async function* slowBody(): AsyncGenerator<Buffer> {
    yield blob.subarray(0, head);
    await gate; // SIGTERM arrives while the body is still coming
    yield blob.subarray(head);
  }
  const patch = send(first.url, location, { method: 'PATCH', headers: { 'transfer-encoding': 'chunked' }, body: slowBody() });
  // Signal only once the registry is visibly inside the PATCH (bytes on disk), however loaded the machine.
  for (let i = 0; i < 100; i++) {
    const status = await send(first.url, location);
    if (status.headers.get('range') !== '0-0') break;
    await sleep(50);
  }
  const code = exitCode(first.child, 'SIGTERM');
  // Release the body only once the signal has been handled: the listener is closed, so a new
  // connection is refused (polled, not slept: a busy machine may take long to get there).
  for (let i = 0; i < 200 && (await acceptsConnections(first.url)); i++) await sleep(25);
  assert.equal(await acceptsConnections(first.url), false, 'the registry still accepts connections after SIGTERM');
  release();
  const reply = await patch;
  expectStatus(reply, 202);
  assert.equal(reply.headers.get('range'), `0-${blob.length - 1}`);
  assert.equal(await code, 0);

  const second = await serve(t, file);
  const status = await send(second.url, location);
  assert.equal(status.headers.get('range'), `0-${blob.length - 1}`);
  expectStatus(await putUpload(second.url, location, sha256(blob)), 201);
  assert.equal(await exitCode(second.child, 'SIGINT'), 0);
});

test('cli: serve (built JS) takes a config and REGISTRY_* overrides, pushes through its workers, exits 0 on SIGTERM', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'quayside-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.yml');
  await writeFile(file, `version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n`);
  const { url, child } = await serve(t, file);
  expectStatus(await send(url, '/v2/'), 200);
  const digest = await pushBlob(url, 'cli/test', Buffer.alloc(100_000, 7));
  const blob = await send(url, `/v2/cli/test/blobs/${digest}`, { method: 'HEAD' });
  expectStatus(blob, 200);
  assert.equal(blob.headers.get('content-length'), '100000');

  assert.equal(await exitCode(child, 'SIGTERM'), 0);
});

test('cli: garbage-collect --dry-run reads the config, reports and deletes nothing; bad flags exit 2', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'quayside-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.yml');
  await writeFile(file, `storage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n`);
  const { url, child } = await serve(t, file);
  const orphan = await pushBlob(url, 'cli/gc', Buffer.alloc(2048, 1));
  const { stdout } = await run(process.execPath, [cli, 'garbage-collect', '--dry-run', '--grace', '0s', file]);
  assert.match(stdout, new RegExp(`would delete blob ${orphan}`));
  assert.match(stdout, /1 repositories, 0 manifests and 0 blobs marked; would delete 0 manifests and 1 blobs/);
  expectStatus(await send(url, `/v2/cli/gc/blobs/${orphan}`, { method: 'HEAD' }), 200);
  await assert.rejects(run(process.execPath, [cli, 'garbage-collect', '--bogus', file]), (err: { code?: number; stderr?: string }) => err.code === 2 && /bogus/.test(err.stderr ?? ''));
  assert.equal(await exitCode(child, 'SIGTERM'), 0);
});

test('cli: garbage-collect stops on a manifest it cannot parse: exit 1, the file named on stderr, no stack, nothing deleted (issue 9)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'quayside-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.yml');
  const root = join(dir, 'data');
  await writeFile(file, `storage:\n  filesystem:\n    rootdirectory: ${root}\n`);
  const { url, child } = await serve(t, file);
  const image = await pushImage(url, 'cli/gc', 'v1', ['a layer']);
  const orphan = await pushBlob(url, 'cli/gc', Buffer.alloc(2048, 2));
  const hex = image.digest.slice('sha256:'.length);
  const manifestFile = join(root, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
  await truncate(manifestFile, 10);
  await assert.rejects(run(process.execPath, [cli, 'garbage-collect', '--grace', '0s', file]), (err: { code?: number; stdout?: string; stderr?: string }) => {
    assert.equal(err.code, 1, err.stderr);
    assert.ok(err.stderr?.includes(`cannot read manifest cli/gc@${image.digest} at ${manifestFile}`), err.stderr);
    assert.match(err.stderr ?? '', /stopped before deleting anything/);
    assert.doesNotMatch(err.stderr ?? '', /\n\s+at /, 'no stack trace');
    assert.doesNotMatch(err.stdout ?? '', /deleted/);
    return true;
  });
  expectStatus(await send(url, `/v2/cli/gc/blobs/${orphan}`, { method: 'HEAD' }), 200);
  assert.equal(await exitCode(child, 'SIGTERM'), 0);
});
