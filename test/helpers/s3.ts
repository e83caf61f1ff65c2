import { randomBytes } from 'node:crypto';
import { spawnDockerRegistry } from '../../scripts/lib/docker-registry.ts';
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

/** Parameters on a fresh rootdirectory, for a registry of the test's own; the root is emptied on `t.after`. */
export function s3ParamsForTest(t: { after: (fn: () => Promise<void>) => void }): S3Params {
  const params = s3TestParams(freshRoot());
  t.after(async () => {
    const driver = new S3Driver(params);
    await driver.delete('/');
    driver.close();
  });
  return params;
}

/**
 * Debian's docker-registry (distribution 2.8) with its s3-aws driver on the test RGW under
 * `rootdirectory`: the other side of the layout-compatibility tests. Redirects are off, so blob
 * GETs stream through it. Killed on `t.after`. The config (no `forcepathstyle` for 2.8, no
 * AWS_CA_BUNDLE in its environment) is scripts/lib/docker-registry.ts's.
 */
export async function startDockerRegistryOnS3(t: { after: (fn: () => Promise<void>) => void }, rootdirectory: string): Promise<{ url: string; output: () => string }> {
  const { forcepathstyle: _pathStyleAlways, ...s3 } = s3TestParams(rootdirectory);
  const registry = await spawnDockerRegistry({ storage: { s3 }, secret: 'quayside-s3-test', redirectDisabled: true });
  t.after(() => registry.stop());
  return { url: registry.url, output: () => registry.output() };
}
