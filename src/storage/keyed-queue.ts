/**
 * Runs operations one after another per key, and different keys in parallel: a promise chain per
 * key, dropped when it drains. Used where two requests may change the same links (a tag pushed
 * while it is deleted, the same upload patched twice): each change, with its cache update, runs
 * alone, so the order the cache sees is the order storage saw.
 */
export class KeyedQueue {
  protected readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(fn, fn);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Resolves when every queued operation has finished (graceful shutdown). */
  async idle(): Promise<void> {
    await Promise.all([...this.tails.values()]);
  }
}
