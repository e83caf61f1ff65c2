import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Driver, type S3DriverOptions } from '../../src/storage/s3/driver.ts';
import type { S3Params } from '../../src/storage/s3/params.ts';

/**
 * The S3 service the tests use: the S3_* variables `scripts/s3-ceph.sh start` prints, which
 * scripts/run-tests.mjs exports when a test file imports this helper. Unset → S3 tests skip.
 */
export const s3Unavailable: string | false =
  process.env['S3_ENDPOINT'] === undefined || process.env['S3_ENDPOINT'] === ''
    ? 'no S3 endpoint: S3_ENDPOINT is unset (scripts/run-tests.mjs starts Ceph RGW with scripts/s3-ceph.sh when root or when Ceph is installed; see its output)'
    : false;

function env(name: string, fallback: string): string {
  const value = process.env[name];
  return value === undefined || value === '' ? fallback : value;
}

/** distribution-style parameters for the test RGW under `rootdirectory`. */
export function s3TestParams(rootdirectory: string, overrides: Partial<S3Params> = {}): S3Params {
  return {
    region: env('S3_REGION', 'us-east-1'),
    regionendpoint: env('S3_ENDPOINT', 'http://127.0.0.1:7480'),
    bucket: env('S3_BUCKET', 'test-bucket'),
    accesskey: env('S3_ACCESS_KEY', ''),
    secretkey: env('S3_SECRET_KEY', ''),
    forcepathstyle: env('S3_FORCE_PATH_STYLE', 'true') === 'true',
    rootdirectory,
    ...overrides,
  };
}

/** A fresh rootdirectory per test, so tests sharing one bucket never see each other's keys. */
export function freshRoot(): string {
  return `/quayside-test-${randomBytes(6).toString('hex')}/`;
}

/**
 * An S3Driver over a fresh rootdirectory; teardown (delete the whole root, close the sockets) is
 * registered at once (STYLE habit 9).
 */
export async function makeS3Driver(t: { after: (fn: () => Promise<void>) => void }, options: S3DriverOptions = {}): Promise<S3Driver> {
  const driver = new S3Driver(s3TestParams(freshRoot()), options);
  t.after(async () => {
    await driver.delete('/');
    driver.close();
  });
  return driver;
}

/**
 * Debian's docker-registry (distribution 2.8) with its s3-aws driver on the test RGW under
 * `rootdirectory`: the other side of the layout-compatibility tests. Redirects are off, so blob
 * GETs stream through it. Killed on `t.after`. 2.8 has no `forcepathstyle` key: it always uses
 * path style when `regionendpoint` is set.
 */
export async function startDockerRegistryOnS3(t: { after: (fn: () => Promise<void>) => void }, rootdirectory: string): Promise<{ url: string; output: () => string }> {
  const params = s3TestParams(rootdirectory);
  const dir = await mkdtemp(join(tmpdir(), 'quayside-docker-registry-s3-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (let attempt = 1; ; attempt++) {
    // docker-registry cannot listen on :0 and report the port: pick one, retry when it is lost.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const config = [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  s3:',
      `    region: ${JSON.stringify(params.region)}`,
      `    regionendpoint: ${JSON.stringify(params.regionendpoint)}`,
      `    bucket: ${JSON.stringify(params.bucket)}`,
      `    accesskey: ${JSON.stringify(params.accesskey)}`,
      `    secretkey: ${JSON.stringify(params.secretkey)}`,
      `    rootdirectory: ${JSON.stringify(rootdirectory)}`,
      '    secure: false',
      '    v4auth: true',
      '  redirect:',
      '    disable: true',
      '  delete:',
      '    enabled: true',
      '  maintenance:',
      '    uploadpurging:',
      '      enabled: false',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '  secret: quayside-s3-test',
      '',
    ].join('\n');
    await writeFile(join(dir, 'config.yml'), config);
    // aws-sdk-go v1 panics at start-up on AWS_CA_BUNDLE ("unsupported transport") with
    // distribution's own transport; the endpoint is plain http, so it has no use for one.
    const { AWS_CA_BUNDLE: _unused, ...childEnv } = process.env;
    const child = spawn('/usr/bin/docker-registry', ['serve', join(dir, 'config.yml')], { cwd: dir, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const stop = async (): Promise<void> => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    };
    t.after(stop);
    let log = '';
    const collect = (chunk: Buffer): void => {
      if (log.length < 64 * 1024) log += chunk.toString();
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && child.exitCode === null) {
      const ready = await fetch(`${url}/v2/`).then((r) => r.status === 200, () => false);
      if (ready) return { url, output: () => log };
      await new Promise((r) => setTimeout(r, 25));
    }
    await stop();
    if (!/address already in use/i.test(log) || attempt >= 5) throw new Error(`docker-registry on S3 did not start:\n${log}`);
  }
}
