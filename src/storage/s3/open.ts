import type { S3Driver, S3DriverOptions } from './driver.ts';
import type { S3Params } from './params.ts';

/**
 * The S3 driver, loaded on first use: the client and its XML parser are imported only when a
 * configuration asks for S3, so the filesystem default does not load them at start-up. The
 * factory calls this; nothing else should import ./driver.ts statically.
 */
export async function openS3Driver(params: S3Params, options?: S3DriverOptions): Promise<S3Driver> {
  const { S3Driver } = await import('./driver.ts');
  return new S3Driver(params, options);
}
