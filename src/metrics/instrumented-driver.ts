import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import type { FileInfo, StorageDriver } from '../storage/driver.ts';
import type { HistogramSeries, SeriesHistogram } from './series-histogram.ts';

/**
 * distribution's action names (registry/storage/driver/base/base.go: each method of its base
 * driver does `storageAction.WithValues(base.Name(), "GetContent").UpdateSince(start)`), so a
 * dashboard built on `registry_storage_action_seconds{action="GetContent"}` reads ours too.
 * Touch is ours (garbage collection's in-use mark; distribution has no such action).
 */
export const STORAGE_ACTIONS = ['GetContent', 'PutContent', 'Stat', 'List', 'Reader', 'Move', 'Delete', 'Touch', 'RedirectURL'] as const;
export type StorageAction = (typeof STORAGE_ACTIONS)[number];

export type StorageActionLabels = 'driver' | 'action';

/**
 * The driver the stores see when metrics are on: every call is timed into
 * `registry_storage_action_seconds{driver, action}`, failed calls included, as distribution's
 * deferred UpdateSince does. Reader is the time to open the stream, not to drain it (as there).
 * Built only when metrics are on (registry.ts), so metrics off leaves the driver unwrapped.
 * The upload path's own driver (uploads/, the chunk workers) is not wrapped: its time is in the
 * worker pool's task metrics and the request latency of PATCH/PUT.
 */
export class InstrumentedDriver implements StorageDriver {
  readonly name: string;
  readonly timestampSlackMs?: number;
  readonly redirectUrl?: (path: string, method: string) => string | undefined;
  readonly #inner: StorageDriver;
  readonly #series: Readonly<Record<StorageAction, HistogramSeries<StorageActionLabels>>>;

  constructor(inner: StorageDriver, histogram: SeriesHistogram<StorageActionLabels>) {
    this.#inner = inner;
    this.name = inner.name;
    if (inner.timestampSlackMs !== undefined) this.timestampSlackMs = inner.timestampSlackMs;
    const series = {} as Record<StorageAction, HistogramSeries<StorageActionLabels>>;
    for (const action of STORAGE_ACTIONS) series[action] = histogram.series({ driver: inner.name, action });
    this.#series = series;
    const redirect = inner.redirectUrl?.bind(inner);
    if (redirect) {
      this.redirectUrl = (path, method) => {
        const started = performance.now();
        try {
          return redirect(path, method);
        } finally {
          this.#series.RedirectURL.observe((performance.now() - started) / 1000);
        }
      };
    }
  }

  getContent(path: string): Promise<Buffer> {
    return this.#timed('GetContent', () => this.#inner.getContent(path));
  }

  putContent(path: string, content: Uint8Array | string, options?: { durable?: boolean }): Promise<void> {
    return this.#timed('PutContent', () => this.#inner.putContent(path, content, options));
  }

  stat(path: string): Promise<FileInfo | undefined> {
    return this.#timed('Stat', () => this.#inner.stat(path));
  }

  list(path: string): Promise<string[]> {
    return this.#timed('List', () => this.#inner.list(path));
  }

  reader(path: string, start?: number, end?: number): Promise<Readable> {
    return this.#timed('Reader', () => this.#inner.reader(path, start, end));
  }

  move(from: string, to: string): Promise<void> {
    return this.#timed('Move', () => this.#inner.move(from, to));
  }

  delete(path: string): Promise<void> {
    return this.#timed('Delete', () => this.#inner.delete(path));
  }

  touch(path: string): Promise<boolean> {
    return this.#timed('Touch', () => this.#inner.touch(path));
  }

  /** The call's promise, unchanged (same value, same error), with its time recorded when it settles. */
  async #timed<T>(action: StorageAction, call: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await call();
    } finally {
      this.#series[action].observe((performance.now() - started) / 1000);
    }
  }
}
