/**
 * Per-upload serial queue: the range check and the append of one upload happen under one lock,
 * so a retried or misbehaving client cannot interleave two PATCHes (STYLE §6.7). Different
 * uploads run in parallel. This is an in-process lock: stateless replicas over object storage
 * will need a storage-level condition instead (a conditional write on the checkpoint).
 */
export class UploadLocks {
  private readonly tails = new Map<string, Promise<unknown>>();
  private readonly draining = new Set<string>();

  run<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(id) ?? Promise.resolve();
    const result = previous.then(fn, fn);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(id, tail);
    void tail.then(() => {
      if (this.tails.get(id) === tail) this.tails.delete(id);
    });
    return result;
  }

  /** Marks an upload whose client went away while its bytes are still being made durable. */
  markDraining(id: string, draining: boolean): void {
    if (draining) this.draining.add(id);
    else this.draining.delete(id);
  }

  /**
   * Resolves when a draining upload has settled. A client that lost its connection mid-PATCH
   * asks for the status next (end-13); it must see every byte the registry kept.
   */
  async settled(id: string): Promise<void> {
    if (this.draining.has(id)) await this.tails.get(id);
  }

  /** Resolves when every queued operation has finished (graceful shutdown). */
  async idle(): Promise<void> {
    await Promise.all([...this.tails.values()]);
  }
}
