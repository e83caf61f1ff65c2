import { Readable } from 'node:stream';
import { PathNotFoundError, type FileInfo, type StorageDriver } from '../driver.ts';

/**
 * distribution's `inmemory` driver (registry/storage/driver/inmemory: "an in-memory storage
 * driver, for testing"): a tree of folders and files held by this object and nothing else, so
 * nothing touches disk and everything is freed with it (clear(), or dropping the last
 * reference). One per registry: two registries never see each other's content.
 *
 *   /                         Folder { children: Map }
 *   └── docker/registry/v2/   a folder exists while something is below it, as on S3
 *       └── blobs/.../data    File { bytes, modifiedAt }
 *
 * Every write replaces a file whole, as the other drivers' putContent and move do (readers see
 * old or new, never half): a file's bytes are never changed in place, so a reader may stream a
 * view of them. Uploads are not written here byte by byte: uploads/inmemory-uploads.ts holds their
 * chunks and stores the blob once, at commit.
 */
interface File {
  readonly kind: 'file';
  bytes: Buffer;
  modifiedAt: Date;
}

interface Folder {
  readonly kind: 'folder';
  readonly children: Map<string, File | Folder>;
  modifiedAt: Date;
}

export class InMemoryDriver implements StorageDriver {
  readonly name = 'inmemory';
  private root: Folder = newFolder();
  private readonly clearing: Array<() => void> = [];

  async getContent(path: string): Promise<Buffer> {
    return Buffer.from(this.file(path).bytes);
  }

  async putContent(path: string, content: Uint8Array | string): Promise<void> {
    // A copy: the caller may reuse its buffer (a batch buffer, say) once this resolves.
    this.putOwned(path, typeof content === 'string' ? Buffer.from(content) : Buffer.from(content));
  }

  /** Stores `bytes` without copying them: the caller hands them over and never changes them again. */
  putOwned(path: string, bytes: Buffer): void {
    const { folder, name } = this.parentOf(path, true);
    if (folder.children.get(name)?.kind === 'folder') throw new Error(`inmemory: ${path} is a folder`);
    const now = new Date();
    folder.children.set(name, { kind: 'file', bytes, modifiedAt: now });
    folder.modifiedAt = now;
  }

  async stat(path: string): Promise<FileInfo | undefined> {
    const node = this.find(path);
    if (node === undefined) return undefined;
    return { size: node.kind === 'file' ? node.bytes.length : 0, isDirectory: node.kind === 'folder', modifiedAt: node.modifiedAt };
  }

  async list(path: string): Promise<string[]> {
    const node = this.find(path);
    return node?.kind === 'folder' ? [...node.children.keys()].sort() : [];
  }

  async reader(path: string, start = 0, end?: number): Promise<Readable> {
    const { bytes } = this.file(path);
    // end is inclusive (driver.ts); past the end is empty.
    const view = bytes.subarray(Math.min(start, bytes.length), end === undefined ? bytes.length : Math.min(end + 1, bytes.length));
    return Readable.from(view.length === 0 ? [] : [view], { objectMode: false });
  }

  async move(from: string, to: string): Promise<void> {
    const file = this.file(from);
    this.putOwned(to, file.bytes);
    this.remove(from);
  }

  async delete(path: string): Promise<void> {
    this.remove(path);
  }

  async touch(path: string): Promise<boolean> {
    const node = this.find(path);
    if (node?.kind !== 'file') return false;
    node.modifiedAt = new Date();
    return true;
  }

  /** Drops everything: the registry's close() calls it, so the memory is freed even while something still holds the driver. */
  clear(): void {
    this.root = newFolder();
    for (const also of this.clearing) also();
  }

  /** Runs `also` on clear(): what lives beside the files (uploads/inmemory-uploads.ts's sessions) goes with them. */
  onClear(also: () => void): void {
    this.clearing.push(also);
  }

  /** Bytes held in files (tests and the library's figures). */
  bytesStored(): number {
    let total = 0;
    const walk = (folder: Folder): void => {
      for (const child of folder.children.values()) {
        if (child.kind === 'file') total += child.bytes.length;
        else walk(child);
      }
    };
    walk(this.root);
    return total;
  }

  private file(path: string): File {
    const node = this.find(path);
    if (node?.kind !== 'file') throw new PathNotFoundError(path);
    return node;
  }

  private find(path: string): File | Folder | undefined {
    let node: File | Folder = this.root;
    for (const part of segments(path)) {
      if (node.kind !== 'folder') return undefined;
      const child: File | Folder | undefined = node.children.get(part);
      if (child === undefined) return undefined;
      node = child;
    }
    return node;
  }

  /** The folder `path` is in (created on the way when `create`), and its last name. */
  private parentOf(path: string, create: boolean): { folder: Folder; name: string } {
    const parts = segments(path);
    const name = parts.pop();
    if (name === undefined) throw new Error('inmemory: the root is a folder, not a file');
    let folder = this.root;
    for (const part of parts) {
      let child = folder.children.get(part);
      if (child === undefined && create) folder.children.set(part, (child = newFolder()));
      if (child?.kind !== 'folder') throw new PathNotFoundError(path);
      folder = child;
    }
    return { folder, name };
  }

  /** Removes a file or a tree, then every folder left empty above it (a folder is only there while something is below it). */
  private remove(path: string): void {
    const parts = segments(path);
    if (parts.length === 0) {
      this.clear();
      return;
    }
    const trail: Folder[] = [this.root];
    for (const part of parts.slice(0, -1)) {
      const child = trail.at(-1)?.children.get(part);
      if (child?.kind !== 'folder') return;
      trail.push(child);
    }
    let name = parts.at(-1) as string;
    for (let i = trail.length - 1; i >= 0; i--) {
      const folder = trail[i] as Folder;
      folder.children.delete(name);
      folder.modifiedAt = new Date();
      if (folder.children.size > 0 || i === 0) break;
      name = parts[i - 1] as string;
    }
  }
}

function newFolder(): Folder {
  return { kind: 'folder', children: new Map(), modifiedAt: new Date() };
}

/** "/a/b//c/" → ["a", "b", "c"]. Paths come from storage/paths.ts; ".." has no meaning here and names nothing. */
function segments(path: string): string[] {
  return path.split('/').filter((part) => part !== '' && part !== '.');
}
