import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repo = new URL('../../', import.meta.url).pathname;
// The CLI from source under tsx (its workers load through dev-entry.mjs): no build into dist/,
// which test/cli/cli.test.ts owns and may be writing at the same time.
const cli = ['--import', 'tsx', join(repo, 'src', 'cli.ts')];

/** config.yml in a fresh temp dir (removed after the test), from lines that may use that dir. */
async function configFile(t: { after: (fn: () => Promise<void>) => void }, lines: (dir: string) => readonly string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'quayside-cli-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.yml');
  await writeFile(file, lines(dir).join('\n'));
  return file;
}

test('cli serve: a distribution-only key is logged as a warning at start, and the registry serves', async (t) => {
  const file = await configFile(t, (dir) => ['version: 0.1', 'http:', '  addr: 127.0.0.1:0', '  secret: asecret', 'redis:', '  addrs: [localhost:6379]', 'storage:', '  filesystem:', `    rootdirectory: ${join(dir, 'data')}`]);
  const child = spawn(process.execPath, [...cli, 'serve', file], { cwd: repo, env: { ...process.env, REGISTRY_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit');
  // Every line up to 'listening' (the registry is up); reading goes on so the logger never hits a closed pipe.
  const lines: { level?: number; msg?: string }[] = [];
  const listening = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as { level?: number; msg?: string };
      lines.push(entry);
      if (entry.msg === 'listening') resolve();
    });
    exited.then(() => reject(new Error(`serve exited before listening: ${stderr}`)), reject);
  });
  await listening;
  const warnings = lines.filter((entry) => entry.level === 40).map((entry) => entry.msg);
  assert.deepEqual(warnings.filter((msg) => msg?.includes('distribution setting')), [
    'http.secret is a distribution setting Quayside does not implement; ignored',
    'redis is a distribution setting Quayside does not implement; ignored',
  ]);
  child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  assert.equal(code, 0);
});

test('cli serve: a typo under an implemented section exits 1 with the full key path, one line, no stack', async (t) => {
  const file = await configFile(t, () => ['storage:', '  filesytem:', '    rootdirectory: /tmp/never']);
  await assert.rejects(run(process.execPath, [...cli, 'serve', file], { cwd: repo, timeout: 60_000, env: { ...process.env, REGISTRY_HTTP_ADDR: '127.0.0.1:0' } }), (err: { code?: number; stderr?: string }) => {
    assert.equal(err.code, 1);
    assert.equal(err.stderr, 'quayside: storage.filesytem is not a Quayside setting (did you mean storage.filesystem?)\n');
    return true;
  });
  await assert.rejects(run(process.execPath, [...cli, 'serve'], { cwd: repo, timeout: 60_000, env: { ...process.env, REGISTRY_STORAGE: 's3', REGISTRY_HTTP_ADDR: '127.0.0.1:0' } }), (err: { code?: number; stderr?: string }) => {
    assert.equal(err.code, 1);
    assert.equal(err.stderr, 'quayside: REGISTRY_STORAGE (storage.s3.region) is required; REGISTRY_STORAGE (storage.s3.bucket) is required\n');
    return true;
  });
});

test('cli garbage-collect on s3: storage that refuses the bucket is one line naming the storage, never the secret, and the process exits', async (t) => {
  // A stand-in S3 that answers HeadBucket 404 on a keep-alive connection.
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.writeHead(404, { 'Content-Length': '0', Connection: 'keep-alive' }).end();
  });
  t.after(() => server.close());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const secret = 'wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY';
  const file = await configFile(t, () => ['storage:', '  s3:', '    region: us-east-1', `    regionendpoint: ${endpoint}`, '    bucket: missing', '    forcepathstyle: true', '    accesskey: AKIAEXAMPLE', `    secretkey: ${secret}`, '    v4auth: true']);
  await assert.rejects(run(process.execPath, [...cli, 'garbage-collect', file], { cwd: repo, timeout: 60_000 }), (err: { code?: number; stdout?: string; stderr?: string }) => {
    assert.equal(err.code, 1, err.stderr);
    assert.equal(err.stderr, [
      'quayside: warning: storage.s3.v4auth is a distribution setting Quayside does not implement; ignored (Quayside always signs with AWS Signature Version 4)',
      `quayside: cannot open storage (s3 bucket=missing region=us-east-1 endpoint=${endpoint} root=/): S3 HeadBucket: NoSuchBucket (HTTP 404): bucket missing does not exist at ${endpoint}`,
      '',
    ].join('\n'));
    assert.ok(!`${err.stdout}${err.stderr}`.includes(secret));
    return true;
  });
  assert.deepEqual(requests, ['HEAD /missing/']);
});
