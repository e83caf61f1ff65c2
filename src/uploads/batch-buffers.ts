import { nativeAddon } from '../native/addon.ts';

/**
 * Reusable batch buffers on SharedArrayBuffers. A batch is filled on the main thread and read by
 * a chunk worker in place: shared, so neither copied nor transferred (a transfer detaches it and
 * forces a fresh allocation per batch: about a second of GC per 2 GiB in a profile). A buffer
 * goes back to the free list the moment its worker task ends, so steady-state uploads allocate
 * nothing. Memory: `limit` buffers shared by all uploads, and never less than one per upload.
 *
 * Each view is placed so that its memory address and the file offset it will be written at are
 * congruent modulo the block size: then the block-aligned middle of every batch can be written
 * with O_DIRECT (storage/filesystem/driver.ts), whatever odd offset a client's chunks left.
 */
export const IO_ALIGNMENT = 4096;
/** Past the limit, an upload with nothing in flight fills batches this many times smaller. */
const OVER_LIMIT_FRACTION = 16;

export class BatchBuffers {
  private readonly free: SharedArrayBuffer[] = [];
  /** Buffers handed out and not yet released. */
  private outstanding = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly batchSize: number,
    /**
     * Buffers out at once before an upload that already has a batch in flight waits to fill its
     * next one. The hashing cores are the bottleneck: a few batches queued per worker keep them
     * busy, more only hold memory (8 × 2 GiB uploads with two 4 MiB batches each held 64 MiB, a
     * third of the peak). While an upload waits, its socket is not read: the bytes wait in the
     * kernel. An upload with nothing in flight never waits, so a client that stalls mid-batch
     * cannot hold up the others, and every waiter is woken at the latest when its own batch
     * comes back.
     */
    private readonly limit: number,
  ) {}

  /** A batchSize view for bytes that will be written at file offset `fileOffset`, at once. */
  acquire(fileOffset: number): Uint8Array {
    return this.view(this.free.pop() ?? new SharedArrayBuffer(this.batchSize + IO_ALIGNMENT), fileOffset, this.batchSize);
  }

  /**
   * The next batch of an upload: waits while `limit` buffers are out if it has one in flight.
   * One with nothing in flight gets a buffer at once, a small one past twice the limit: a crowd
   * of clients that each send a few bytes and stall (up to limits.concurrentuploads, 256) then
   * holds 16 × 4 MiB + 240 × 256 KiB, not 256 × 4 MiB. (Small ones are not kept for reuse, so
   * they are not handed out at the usual peaks: fresh SharedArrayBuffers are freed late by the GC.)
   */
  async acquireNext(fileOffset: number, hasInflight: () => boolean): Promise<Uint8Array> {
    while (this.outstanding >= this.limit && hasInflight()) await new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.outstanding < 2 * this.limit) return this.acquire(fileOffset);
    const small = Math.max(IO_ALIGNMENT, Math.floor(this.batchSize / OVER_LIMIT_FRACTION));
    return this.view(new SharedArrayBuffer(small + IO_ALIGNMENT), fileOffset, small);
  }

  private view(buffer: SharedArrayBuffer, fileOffset: number, size: number): Uint8Array {
    this.outstanding++;
    const whole = new Uint8Array(buffer);
    const base = nativeAddon instanceof Error ? 0 : nativeAddon.addressMod(whole, IO_ALIGNMENT);
    const start = (((fileOffset - base) % IO_ALIGNMENT) + IO_ALIGNMENT) % IO_ALIGNMENT;
    return new Uint8Array(buffer, start, size);
  }

  release(view: Uint8Array): void {
    this.outstanding = Math.max(0, this.outstanding - 1);
    const buffer = view.buffer;
    if (buffer instanceof SharedArrayBuffer && buffer.byteLength === this.batchSize + IO_ALIGNMENT && this.free.length < this.limit) this.free.push(buffer);
    // Every waiter looks again: the one whose own batch just came back no longer has to wait.
    for (const wake of this.waiting.splice(0)) wake();
  }
}
