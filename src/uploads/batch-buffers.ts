import { nativeAddon } from '../native/addon.ts';

/**
 * Reusable batch buffers on SharedArrayBuffers. A batch is filled on the main thread and read by
 * a chunk worker in place: shared, so neither copied nor transferred (a transfer detaches it and
 * forces a fresh allocation per batch: about a second of GC per 2 GiB in a profile). A buffer
 * goes back to the free list once its worker task has settled, so steady-state uploads allocate
 * nothing and memory is bounded by two batches per active upload.
 *
 * Each view is placed so that its memory address and the file offset it will be written at are
 * congruent modulo the block size: then the block-aligned middle of every batch can be written
 * with O_DIRECT (storage/filesystem/driver.ts), whatever odd offset a client's chunks left.
 */
export const IO_ALIGNMENT = 4096;

export class BatchBuffers {
  private readonly free: SharedArrayBuffer[] = [];

  constructor(
    readonly batchSize: number,
    /** Free buffers kept for reuse; more are released to the GC. */
    private readonly keep: number,
  ) {}

  /** A batchSize view for bytes that will be written at file offset `fileOffset`. */
  acquire(fileOffset: number): Uint8Array {
    const buffer = this.free.pop() ?? new SharedArrayBuffer(this.batchSize + IO_ALIGNMENT);
    const whole = new Uint8Array(buffer);
    const base = nativeAddon instanceof Error ? 0 : nativeAddon.addressMod(whole, IO_ALIGNMENT);
    const start = (((fileOffset - base) % IO_ALIGNMENT) + IO_ALIGNMENT) % IO_ALIGNMENT;
    return new Uint8Array(buffer, start, this.batchSize);
  }

  release(view: Uint8Array): void {
    const buffer = view.buffer;
    if (buffer instanceof SharedArrayBuffer && buffer.byteLength === this.batchSize + IO_ALIGNMENT && this.free.length < this.keep) this.free.push(buffer);
  }
}
