import { join } from 'node:path';
import type { DriverParams } from '../storage/driver.ts';
import { KeyLayout } from '../storage/s3/layout.ts';
import type { S3Params } from '../storage/s3/params.ts';
import type { Config } from './schema.ts';

/**
 * The one place a Config becomes driver parameters (storage/factory.ts openDriver, and the
 * workers' workerData): the storage section names exactly one driver (schema.ts StorageSection),
 * and its keys are distribution's, which S3Params keeps.
 */
export function driverParamsOf(config: Config): DriverParams {
  const { s3, filesystem } = config.storage;
  if (filesystem !== undefined) return { filesystem: { rootdirectory: filesystem.rootdirectory } };
  if (s3 === undefined) return { inmemory: {} };
  const params: S3Params = {
    region: s3.region,
    bucket: s3.bucket,
    forcepathstyle: s3.forcepathstyle,
    rootdirectory: s3.rootdirectory,
    chunksize: s3.chunksize,
    secure: s3.secure,
    skipverify: s3.skipverify,
    // Empty is "not given", as in distribution: no endpoint is AWS, and no keys are the AWS_*
    // environment (distribution's docs: "provide empty strings ... to use the instance's credentials").
    ...(nonEmpty(s3.regionendpoint) ? { regionendpoint: s3.regionendpoint } : {}),
    ...(nonEmpty(s3.accesskey) ? { accesskey: s3.accesskey } : {}),
    ...(nonEmpty(s3.secretkey) ? { secretkey: s3.secretkey } : {}),
  };
  return { s3: params };
}

function nonEmpty(value: string | undefined): value is string {
  return value !== undefined && value !== '';
}

/** A Config, or the DriverParams actually opened (createRegistry's options.driverParams may override the config's). */
export type StorageSource = Config | DriverParams;

function paramsOf(source: StorageSource): DriverParams {
  return 'storage' in source ? driverParamsOf(source) : source;
}

/**
 * The storage in a few words, for log lines and messages: "filesystem /var/lib/registry",
 * "s3 bucket=registry region=us-east-1 endpoint=http://127.0.0.1:7480 root=/reg". Never a
 * credential.
 */
export function describeStorage(source: StorageSource): string {
  const { s3, filesystem } = paramsOf(source);
  if (filesystem !== undefined) return `filesystem ${filesystem.rootdirectory}`;
  if (s3 === undefined) return 'inmemory';
  const endpoint = nonEmpty(s3.regionendpoint) ? ` endpoint=${s3.regionendpoint}` : '';
  const root = s3.rootdirectory ?? '';
  return `s3 bucket=${s3.bucket} region=${s3.region}${endpoint} root=${root === '' ? '/' : root}`;
}

/**
 * Where a driver path ("/docker/registry/v2/...") is, for a person to go and look: the file under
 * the filesystem root, or s3://bucket/key with the key the s3 driver uses (storage/s3/layout.ts).
 */
export function storageLocation(source: StorageSource, path: string): string {
  const { s3, filesystem } = paramsOf(source);
  if (filesystem !== undefined) return join(filesystem.rootdirectory, path);
  if (s3 === undefined) return `inmemory:${path}`;
  return `s3://${s3.bucket}/${new KeyLayout(s3.rootdirectory).key(path)}`;
}
