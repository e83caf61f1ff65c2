import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';
import type { Readable } from 'node:stream';
import { isNotFound } from '../../errors/to-registry-error.ts';
import { PathNotFoundError, type FileInfo, type StorageDriver } from '../driver.ts';

/** Temp files carry '~', which no repository name, tag, digest or upload id may contain. */
const TEMP_MARK = '~tmp-';

/** Pulls stream in large reads: 64 KiB reads cost Node a third of its pull throughput. */
const READ_CHUNK = 1024 * 1024;

/** The local filesystem driver: the embedded default (distribution's `filesystem` driver). */
export class FilesystemDriver implements StorageDriver {
  readonly name = 'filesystem';
  private readonly root: string;

  constructor(rootdirectory: string) {
    this.root = nodePath.resolve(rootdirectory);
  }

  private full(path: string): string {
    // paths.ts builds every path from validated parts; this is a last guard, not the check.
    const full = nodePath.join(this.root, path);
    if (full !== this.root && !full.startsWith(this.root + nodePath.sep)) throw new Error(`path escapes root: ${path}`);
    return full;
  }

  async getContent(path: string): Promise<Buffer> {
    try {
      return await fs.readFile(this.full(path));
    } catch (err) {
      if (isNotFound(err) || (err as NodeJS.ErrnoException).code === 'EISDIR') throw new PathNotFoundError(path);
      throw err;
    }
  }

  async putContent(path: string, content: Uint8Array | string, options: { durable?: boolean } = {}): Promise<void> {
    const durable = options.durable ?? true;
    const target = this.full(path);
    const dir = nodePath.dirname(target);
    await fs.mkdir(dir, { recursive: true });
    const tmp = `${target}${TEMP_MARK}${randomBytes(6).toString('hex')}`;
    const handle = await fs.open(tmp, 'w');
    try {
      await handle.writeFile(content);
      if (durable) await handle.datasync();
    } finally {
      await handle.close();
    }
    try {
      await fs.rename(tmp, target);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
    if (durable) await syncDirectory(dir);
  }

  async stat(path: string): Promise<FileInfo | undefined> {
    try {
      const s = await fs.stat(this.full(path));
      return { size: s.size, isDirectory: s.isDirectory(), modifiedAt: s.mtime };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async list(path: string): Promise<string[]> {
    try {
      const names = await fs.readdir(this.full(path));
      return names.filter((n) => !n.includes(TEMP_MARK)).sort();
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
  }

  async reader(path: string, start = 0, end?: number): Promise<Readable> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.full(path), constants.O_RDONLY);
    } catch (err) {
      if (isNotFound(err)) throw new PathNotFoundError(path);
      throw err;
    }
    const options = end === undefined ? { start, highWaterMark: READ_CHUNK } : { start, end, highWaterMark: READ_CHUNK };
    return handle.createReadStream(options);
  }

  async writeAt(path: string, offset: number, bytes: Uint8Array): Promise<void> {
    const target = this.full(path);
    if (offset === 0) await fs.mkdir(nodePath.dirname(target), { recursive: true });
    const handle = await fs.open(target, offset === 0 ? 'w' : 'r+');
    try {
      const { size } = await handle.stat();
      if (size < offset) throw new Error(`data file shorter (${size}) than offset ${offset}: ${path}`);
      if (size > offset) await handle.truncate(offset);
      let written = 0;
      while (written < bytes.length) {
        const { bytesWritten } = await handle.write(bytes, written, bytes.length - written, offset + written);
        written += bytesWritten;
      }
    } finally {
      await handle.close();
    }
  }

  async sync(path: string): Promise<void> {
    const handle = await fs.open(this.full(path), 'r+');
    try {
      await handle.datasync();
    } finally {
      await handle.close();
    }
  }

  async move(from: string, to: string): Promise<void> {
    const target = this.full(to);
    await fs.mkdir(nodePath.dirname(target), { recursive: true });
    try {
      await fs.rename(this.full(from), target);
    } catch (err) {
      if (isNotFound(err)) throw new PathNotFoundError(from);
      throw err;
    }
    await syncDirectory(nodePath.dirname(target));
  }

  async delete(path: string): Promise<void> {
    await fs.rm(this.full(path), { recursive: true, force: true });
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
