/**
 * Reusable batch buffers on SharedArrayBuffers. A batch is filled on the main thread and read by
 * a chunk worker in place: shared, so neither copied nor transferred (a transfer would detach it
 * and force a fresh allocation per batch: about a second of GC per 2 GiB in a profile). A buffer
 * goes back to the free list once its worker task has settled, so steady-state uploads allocate
 * nothing and memory is bounded by two batches per active upload.
 */
export class BatchBuffers {
  private readonly free: Uint8Array[] = [];

  constructor(
    readonly batchSize: number,
    /** Free buffers kept for reuse; more are released to the GC. */
    private readonly keep: number,
  ) {}

  acquire(): Uint8Array {
    return this.free.pop() ?? new Uint8Array(new SharedArrayBuffer(this.batchSize));
  }

  release(buffer: Uint8Array): void {
    if (buffer.buffer.byteLength === this.batchSize && this.free.length < this.keep) {
      this.free.push(new Uint8Array(buffer.buffer, 0, this.batchSize));
    }
  }
}
