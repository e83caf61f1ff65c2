import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { NativeAddon } from '../../native/addon.ts';

/**
 * Reads a byte range with O_DIRECT, for large blob pulls. Uploads are written with O_DIRECT, so
 * their bytes are not in the page cache; pulling them through it cost 2.9 CPU-s/GiB here (the
 * same kernel page-cache work that makes buffered writes expensive). Direct reads go from the
 * device into our buffer. O_DIRECT wants the file offset, the length and the memory aligned:
 * we read whole aligned blocks into an aligned view and hand on only the requested bytes.
 */
const ALIGN = 4096;

export class DirectReadStream extends Readable {
  private position: number;
  private readonly endExclusive: number;
  /** The next chunk, already being read: the device works while the socket drains the last one. */
  private ahead: Promise<Buffer | null> | undefined;

  constructor(
    private readonly handle: FileHandle,
    private readonly addon: NativeAddon,
    start: number,
    /** Inclusive, as fs.createReadStream's `end`. */
    end: number,
    private readonly chunkSize: number,
  ) {
    super({ highWaterMark: chunkSize });
    this.position = start;
    this.endExclusive = end + 1;
  }

  override _read(): void {
    const current = this.ahead ?? this.readChunk();
    this.ahead = undefined;
    current.then(
      (chunk) => {
        if (chunk !== null && this.position < this.endExclusive) this.ahead = this.readChunk();
        this.push(chunk);
      },
      (err: unknown) => this.destroy(err as Error),
    );
  }

  private async readChunk(): Promise<Buffer | null> {
    if (this.position >= this.endExclusive) return null;
    const alignedStart = this.position - (this.position % ALIGN);
    const skip = this.position - alignedStart;
    const wanted = Math.min(this.chunkSize, this.endExclusive - this.position);
    const length = Math.ceil((skip + wanted) / ALIGN) * ALIGN;
    const memory = Buffer.allocUnsafeSlow(length + ALIGN);
    const shift = (ALIGN - this.addon.addressMod(memory, ALIGN)) % ALIGN;
    const view = memory.subarray(shift, shift + length);
    const { bytesRead } = await this.handle.read(view, 0, length, alignedStart);
    const available = Math.min(bytesRead - skip, wanted);
    if (available <= 0) throw new Error(`blob shorter than expected at ${this.position}`);
    this.position += available;
    return view.subarray(skip, skip + available);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    // Let a read still in flight finish before its file handle goes.
    const pending = this.ahead ?? Promise.resolve(null);
    this.ahead = undefined;
    pending
      .catch(() => null)
      .then(() => this.handle.close())
      .then(
        () => callback(err),
        () => callback(err),
      );
  }
}
