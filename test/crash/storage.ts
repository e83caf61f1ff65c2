import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { StorageDriver } from '../../src/storage/driver.ts';
import { createDriver } from '../../src/storage/factory.ts';
import { paths } from '../../src/storage/paths.ts';
import { S3Driver } from '../../src/storage/s3/driver.ts';
import type { S3Params } from '../../src/storage/s3/params.ts';
import { loadUploadState, UploadUnknownError } from '../../src/storage/s3/upload-state.ts';
import type { UploadState } from './model.ts';

/**
 * The storage a crash run serves and looks at behind the registry's back (issue 10): the config
 * section the child gets, a driver for the checks that read the root directly (verify.ts), and the
 * few checks that are about one storage's upload layout, which differ by storage:
 *
 *  - filesystem: `_uploads/<id>/data` against `hashstates/sha256/<offset>` checkpoints, and the
 *    `~tmp-` files a kill leaves (the driver hides them by contract, so node:fs lists them);
 *  - s3: the JSON object `_uploads/<id>/state` (src/storage/s3/upload-state.ts), whose `offset`
 *    must be what GET status reports and whose `committing` marks a commit cut short.
 */
export interface CrashStorage {
  readonly name: 'filesystem' | 's3';
  /** The `storage:` section of the child's config (deletes on), one YAML line each. */
  readonly yaml: readonly string[];
  /** Reads and lists the root as the registry stores it. */
  readonly driver: StorageDriver;
  /** Names in a folder, including any temp files the driver would hide. */
  listRaw(path: string): Promise<string[]>;
  /** Changes whenever the object at `path` may have changed (a cache key for its hash). */
  identity(path: string): Promise<string>;
  /** Where, in the upload pipeline, a kill left this upload (read before the restart's GET). */
  uploadFound(repo: string, upload: UploadState): Promise<UploadFound>;
  /**
   * What the storage still holds for uploads that no longer exist, once every upload the client
   * knows of has ended: on S3, multipart uploads whose upload (state and startedat) is gone, which
   * nothing will ever abort, so S3 keeps (and bills) their parts for good. `kept` counts those of
   * uploads that do exist but no client knows of (a POST or POST ?digest= cut short): the purge of
   * stale uploads discards them with their multipart upload (uploads/purge.ts), as on the filesystem.
   */
  leftovers(): Promise<{ readonly leaked: readonly string[]; readonly kept: number }>;
  /** Removes what the run stored and closes what it opened; says what it found left over, if anything. */
  cleanUp(): Promise<string | undefined>;
}

export interface UploadFound {
  /** A short label, counted in the run's stats. */
  readonly label: string;
  /**
   * The commit was cut short past the point where the upload's bytes are still in the upload:
   * a GET may report less than the 202s acknowledged, and a retried PUT must finish it.
   */
  readonly midCommit: boolean;
  /** The offset the storage itself records (S3's state), to compare with GET's Range. */
  readonly offset?: number;
}

const MID_COMMIT = 'data moved, upload left (mid-commit)';
const NO_DATA = 'no data';

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** A filesystem root at `root` (created by the child). */
export function filesystemStorage(root: string): CrashStorage {
  const driver = createDriver({ filesystem: { rootdirectory: root } });
  const local = (path: string): string => join(root, path);
  return {
    name: 'filesystem',
    yaml: ['  filesystem:', `    rootdirectory: ${JSON.stringify(root)}`, '  delete:', '    enabled: true'],
    driver,
    listRaw: (path) => listDir(local(path)),
    async identity(path) {
      const s = await stat(local(path));
      return `${s.ino}:${s.size}:${s.mtimeMs}`;
    },
    async uploadFound(repo, upload) {
      const dir = local(paths.uploadDir(repo, upload.id));
      const names = await listDir(dir);
      const found = (label: string): UploadFound => ({ label, midCommit: label === MID_COMMIT || label === NO_DATA });
      if (names.length === 0) return found('gone');
      if (!names.includes('startedat')) return found('half-removed');
      const size = (await stat(join(dir, 'data')).catch(() => undefined))?.size;
      const checkpoints = (await listDir(local(paths.uploadHashStates(repo, upload.id)))).filter((n) => /^\d+$/.test(n)).map(Number);
      const newest = Math.max(0, ...checkpoints);
      if (size === undefined) return found(checkpoints.length > 0 ? MID_COMMIT : NO_DATA);
      if (size > newest) return found('data ahead of checkpoint');
      if (size < newest) return found('checkpoint ahead of data');
      return found('data at checkpoint');
    },
    // A filesystem upload is its directory, which the upload checks already look at.
    leftovers: async () => ({ leaked: [], kept: 0 }),
    // The caller removes the temp directory that holds the root.
    cleanUp: async () => undefined,
  };
}

/** A fresh `rootdirectory` in the test bucket, as `storage.s3` (redirects off: the checks GET blobs through the registry). */
export function s3Storage(params: S3Params): CrashStorage {
  const driver = new S3Driver(params);
  const yaml = ['  s3:'];
  for (const [key, value] of Object.entries(params)) if (value !== undefined) yaml.push(`    ${key}: ${JSON.stringify(value)}`);
  yaml.push('  redirect:', '    disable: true', '  delete:', '    enabled: true');
  return {
    name: 's3',
    yaml,
    driver,
    listRaw: (path) => driver.list(path),
    async identity(path) {
      // The ETag is the content's (MD5, or the parts' for a multipart object): a new body, a new key.
      const head = await driver.client.headObject(driver.layout.key(path));
      return head === undefined ? 'absent' : `${head.etag}:${head.size}:${head.lastModified.getTime()}`;
    },
    async uploadFound(repo, upload) {
      const names = await driver.list(paths.uploadDir(repo, upload.id));
      if (names.length === 0) return { label: 'gone', midCommit: false };
      const state = await loadUploadState(driver, repo, upload.id).then(
        (loaded) => loaded.state,
        (err: unknown) => {
          if (err instanceof UploadUnknownError) return undefined;
          throw err;
        },
      );
      if (state === undefined) return { label: 'state removed, upload left (half-removed)', midCommit: true };
      const label = !names.includes('startedat')
        ? 'startedat removed, state left (half-removed)'
        : state.committing
          ? 'state committing (mid-commit)'
          : state.offset > upload.durable
            ? 'state ahead of acknowledgements'
            : state.offset < upload.durable
              ? 'state behind acknowledgements'
              : 'state at acknowledged offset';
      const parts = state.multipart === null ? 0 : state.multipart.parts.length;
      return { label: parts > 0 ? `${label}, ${parts === 1 ? '1 part' : `${parts} parts`}` : label, midCommit: state.committing, offset: state.offset };
    },
    async leftovers() {
      const root = driver.layout.folder('/');
      const leaked: string[] = [];
      let kept = 0;
      for (const { key, uploadId } of await driver.client.listMultipartUploads(root)) {
        const uploadDir = key.replace(/\/data$/, '');
        const names = (await driver.client.listObjectsV2({ prefix: `${uploadDir}/`, delimiter: '/' })).objects.map((o) => o.key.slice(uploadDir.length + 1));
        if (names.includes('state') || names.includes('startedat')) {
          kept++;
          continue;
        }
        const parts = await driver.client.listAllParts(key, uploadId);
        leaked.push(`multipart upload ${uploadId} at ${key.slice(root.length)}: ${parts.length} part(s) (${parts.map((p) => `#${p.partNumber} ${p.size} bytes`).join(', ')}) of an upload that is gone`);
      }
      return { leaked, kept };
    },
    async cleanUp() {
      try {
        // Multipart uploads of killed PATCHes are not objects: a delete of the root would leave them.
        const open = await driver.client.listMultipartUploads(driver.layout.folder('/'));
        for (const { key, uploadId } of open) await driver.client.abortMultipartUpload(key, uploadId);
        await driver.delete('/');
        return `${open.length} multipart upload(s) left open (aborted), root ${driver.layout.folder('/')} deleted`;
      } finally {
        driver.close();
      }
    },
  };
}
