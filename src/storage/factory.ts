import type { DriverParams, FilesystemParams, PosixDriver } from './driver.ts';
import { FilesystemDriver } from './filesystem/driver.ts';
import type { S3Driver } from './s3/driver.ts';
import { InMemoryDriver } from './inmemory/driver.ts';

/** An opened driver, tagged with its kind: the upload path differs by kind (uploads/backend.ts). */
export type OpenedDriver =
  | { readonly kind: 'filesystem'; readonly driver: PosixDriver }
  | { readonly kind: 's3'; readonly driver: S3Driver }
  | { readonly kind: 'inmemory'; readonly driver: InMemoryDriver };

/** The filesystem driver from plain parameters: the same call on the main thread and in each worker. */
export function createDriver(params: FilesystemParams): PosixDriver {
  return new FilesystemDriver(params.filesystem.rootdirectory, { directIo: params.filesystem.directio ?? true });
}

/**
 * Any driver from plain parameters. S3's client is imported only when asked for (s3/open.ts),
 * and checked once (bucket and credentials), so a wrong setup fails at start-up with S3's reason.
 */
export async function openDriver(params: DriverParams): Promise<OpenedDriver> {
  if (params.s3 !== undefined) {
    const { openS3Driver } = await import('./s3/open.ts');
    const driver = await openS3Driver(params.s3);
    await driver.verify();
    const { probeConditionalWrites } = await import('./s3/probe.ts');
    const support = await probeConditionalWrites(driver);
    if (!support.ifNoneMatch || !support.ifMatch) {
      driver.close();
      throw new UnsafeStorageError(
        `storage.s3: ${params.s3.regionendpoint ?? 'the S3 endpoint'} ignores conditional writes (${support.ifNoneMatch ? '' : 'If-None-Match: * '}${support.ifMatch ? '' : 'If-Match'} had no effect). ` +
          'Quayside acknowledges upload bytes by a compare-and-swap of the upload state, so that replicas never overwrite each other; without it, it refuses to start rather than risk acknowledged data.',
      );
    }
    return { kind: 's3', driver };
  }
  // A new, empty store each time: one registry's memory is nobody else's (storage/inmemory/driver.ts).
  if (params.inmemory !== undefined) return { kind: 'inmemory', driver: new InMemoryDriver() };
  return { kind: 'filesystem', driver: createDriver(params) };
}

/** The storage works, but not safely for a registry (no conditional writes): start-up stops with the reason. */
export class UnsafeStorageError extends Error {
  override readonly name = 'UnsafeStorageError';
}

/** Storage could not be opened at start-up (S3's reason, or UnsafeStorageError's): one line for the operator, no stack. */
export class StorageOpenError extends Error {
  override readonly name = 'StorageOpenError';
}
