import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, sha256 } from './oci-client.ts';

/**
 * Images built in memory (real gzip'd tar layers with random content, a config whose diff_ids
 * are right, an OCI manifest or index), and OCI image layouts on disk
 * (image-spec image-layout.md: oci-layout, index.json, blobs/sha256/<hex>).
 */

export interface Blob {
  readonly digest: string;
  readonly bytes: Buffer;
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly platform?: { readonly architecture: string; readonly os: string };
  readonly annotations?: Record<string, string>;
}

export interface Image {
  readonly config: Blob;
  readonly layers: readonly Blob[];
  readonly manifest: Blob;
  /** config, layers, manifest: every blob of the image. */
  readonly blobs: readonly Blob[];
}

export interface ImageIndex {
  readonly index: Blob;
  readonly images: readonly Image[];
  readonly blobs: readonly Blob[];
}

export function blob(bytes: Buffer): Blob {
  return { digest: sha256(bytes), bytes };
}

export function descriptor(mediaType: string, b: Blob, extra: Partial<Descriptor> = {}): Descriptor {
  return { mediaType, digest: b.digest, size: b.bytes.length, ...extra };
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

/** A ustar archive holding regular files (enough for an image layer). */
export function tar(files: readonly { name: string; content: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  for (const { name, content } of files) {
    const header = Buffer.alloc(512);
    header.write(name, 0, 100, 'utf8');
    header.write(octal(0o644, 8), 100, 'ascii');
    header.write(octal(0, 8), 108, 'ascii');
    header.write(octal(0, 8), 116, 'ascii');
    header.write(octal(content.length, 12), 124, 'ascii');
    header.write(octal(1_700_000_000, 12), 136, 'ascii');
    header.write('        ', 148, 'ascii');
    header.write('0', 156, 'ascii');
    header.write('ustar\0', 257, 'ascii');
    header.write('00', 263, 'ascii');
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    parts.push(header, content, Buffer.alloc((512 - (content.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export interface Layer extends Blob {
  /** sha256 of the uncompressed tar: the config's rootfs.diff_ids entry. */
  readonly diffId: string;
}

/** A gzip'd tar holding one file of `size` random bytes (random: gzip cannot shrink it). */
export function randomLayer(size: number, name = 'data.bin'): Layer {
  const archive = tar([{ name, content: randomBytes(size) }]);
  return { ...blob(gzipSync(archive, { level: 1 })), diffId: sha256(archive) };
}

export function buildImage(layers: readonly Layer[], platform = { architecture: 'amd64', os: 'linux' }): Image {
  const config = blob(
    Buffer.from(
      JSON.stringify({
        ...platform,
        created: '2024-01-01T00:00:00Z',
        config: { Cmd: ['/bin/true'] },
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
        history: layers.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: 'quayside test' })),
      }),
    ),
  );
  const manifest = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: descriptor(OCI_CONFIG, config),
        layers: layers.map((l) => descriptor(OCI_LAYER, l)),
      }),
    ),
  );
  return { config, layers, manifest, blobs: [config, ...layers, manifest] };
}

export function buildIndex(images: readonly { image: Image; platform: { architecture: string; os: string } }[]): ImageIndex {
  const index = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: images.map(({ image, platform }) => descriptor(OCI_MANIFEST, image.manifest, { platform })),
      }),
    ),
  );
  const all = new Map<string, Blob>();
  for (const { image } of images) for (const b of image.blobs) all.set(b.digest, b);
  all.set(index.digest, index);
  return { index, images: images.map((i) => i.image), blobs: [...all.values()] };
}

const REF_NAME = 'org.opencontainers.image.ref.name';

function hexOf(digest: string): string {
  return digest.slice('sha256:'.length);
}

/** Writes an OCI image layout: every blob, and index.json naming `root` as `tag`. */
export async function writeLayout(dir: string, blobs: readonly Blob[], root: Descriptor, tag: string): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  for (const b of blobs) await writeFile(join(dir, 'blobs', 'sha256', hexOf(b.digest)), b.bytes);
  const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ ...root, annotations: { [REF_NAME]: tag } }] };
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
}

/** The descriptor index.json holds for `tag`. */
export async function layoutRoot(dir: string, tag: string): Promise<Descriptor> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const found = index.manifests.find((d) => d.annotations?.[REF_NAME] === tag);
  if (!found) throw new Error(`no ${tag} in ${dir}/index.json: ${JSON.stringify(index)}`);
  return found;
}

export function readLayoutBlob(dir: string, digest: string): Promise<Buffer> {
  return readFile(join(dir, 'blobs', 'sha256', hexOf(digest)));
}
