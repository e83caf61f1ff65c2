import { S3Driver } from '../../src/storage/s3/driver.ts';
import type { S3Params } from '../../src/storage/s3/params.ts';
import { startRegistry, type StartOptions, type TestRegistry } from './registry.ts';
import { freshRoot, s3TestParams } from './s3.ts';

export interface S3Registry extends TestRegistry {
  /** The S3 parameters it serves (bucket, rootdirectory...): a second replica takes the same. */
  readonly s3: S3Params;
}

/**
 * A real Quayside in this process whose storage is the test RGW under a fresh rootdirectory (or
 * `s3.rootdirectory`, to start a second replica on the same one). The rootdirectory is deleted
 * when the test ends, by whoever created it.
 */
export async function startS3Registry(t: { after: (fn: () => Promise<void>) => void }, options: StartOptions & { s3?: Partial<S3Params> } = {}): Promise<S3Registry> {
  const { s3: overrides, ...rest } = options;
  const own = overrides?.rootdirectory === undefined;
  const s3 = s3TestParams(overrides?.rootdirectory ?? freshRoot(), overrides);
  if (own) {
    t.after(async () => {
      const driver = new S3Driver(s3);
      await driver.delete('/');
      driver.close();
    });
  }
  const registry = await startRegistry(t, { ...rest, driverParams: { s3 } });
  return { ...registry, s3 };
}

/** A driver on the same storage as `registry`, to look at what it stored. */
export function s3DriverOf(t: { after: (fn: () => Promise<void>) => void }, registry: S3Registry): S3Driver {
  const driver = new S3Driver(registry.s3);
  t.after(async () => driver.close());
  return driver;
}
