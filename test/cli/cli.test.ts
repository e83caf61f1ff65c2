import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { before, test } from 'node:test';
import { promisify } from 'node:util';
import { pushBlob, send } from '../helpers/oci-client.ts';
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

test('cli: serve (built JS) takes a config and REGISTRY_* overrides, pushes through its workers, exits 0 on SIGTERM', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'quayside-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.yml');
  await writeFile(file, `version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n`);
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
  const url = `http://${addr}`;
  expectStatus(await send(url, '/v2/'), 200);
  const digest = await pushBlob(url, 'cli/test', Buffer.alloc(100_000, 7));
  const blob = await send(url, `/v2/cli/test/blobs/${digest}`, { method: 'HEAD' });
  expectStatus(blob, 200);
  assert.equal(blob.headers.get('content-length'), '100000');

  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  assert.equal(code, 0);
});
