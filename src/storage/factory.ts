import type { DriverParams, StorageDriver } from './driver.ts';
import { FilesystemDriver } from './filesystem/driver.ts';

/** Builds a driver from plain parameters: the same call on the main thread and in each worker. */
export function createDriver(params: DriverParams): StorageDriver {
  return new FilesystemDriver(params.filesystem.rootdirectory, { directIo: params.filesystem.directio ?? true });
}
