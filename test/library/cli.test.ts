import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { before, test } from 'node:test';
import { promisify } from 'node:util';
import { pushImage, send } from '../helpers/oci-client.ts';

/* `quayside serve` on the inmemory driver, and garbage-collect refusing a store it cannot see. Built as it ships. */
const run = promisify(execFile);
const repo = new URL('../../', import.meta.url).pathname;
const cli = join(repo, 'dist', 'cli.js');

before(async () => {
  await run(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(repo, 'tsconfig.json')], { cwd: repo });
});

test('cli: REGISTRY_STORAGE=inmemory serves from memory (logged as "inmemory"), and exits 0 on SIGTERM', async (t) => {
  const env = { ...process.env, REGISTRY_STORAGE: 'inmemory', REGISTRY_HTTP_ADDR: '127.0.0.1:0', REGISTRY_LOG_LEVEL: 'info' };
  const child = spawn(process.execPath, [cli, 'serve'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  const listening = await new Promise<{ addr: string; storage: string }>((resolve) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; addr?: string; storage?: string };
      if (entry.msg === 'listening') resolve({ addr: entry.addr ?? '', storage: entry.storage ?? '' });
    });
  });
  assert.equal(listening.storage, 'inmemory');
  const url = `http://${listening.addr}`;
  const { digest } = await pushImage(url, 'cli/mem', 'v1', ['in memory']);
  assert.equal((await send(url, '/v2/cli/mem/manifests/v1', { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).headers.get('docker-content-digest'), digest);
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  assert.deepEqual((await exited)[0], 0);
});

test('cli: garbage-collect on inmemory storage is refused (exit 1, one line): its content is only in the serving process', async () => {
  await assert.rejects(run(process.execPath, [cli, 'garbage-collect'], { env: { ...process.env, REGISTRY_STORAGE: 'inmemory' } }), (err: { code?: number; stderr?: string }) => {
    assert.equal(err.code, 1);
    assert.match(err.stderr ?? '', /inmemory storage is only in the process that serves it/);
    assert.doesNotMatch(err.stderr ?? '', /^\s+at /m);
    return true;
  });
});
