import { Histogram, type LabelValues, type MetricObjectWithValues, type MetricType, type MetricValueWithName } from 'prom-client';

/**
 * prom-client's typings declare `type` as a numeric enum that its JavaScript never exports; at
 * runtime, and in the `# TYPE` line its Registry prints, it is the string. Metrics that build
 * their own values (below, metrics.ts) name it so.
 */
export function metricType(type: 'histogram' | 'summary'): MetricType {
  return type as unknown as MetricType;
}

/**
 * A prom-client Histogram whose observations go to series bound once, up front, instead of
 * through `observe(labels, value)`. prom-client's observe validates the labels object and builds
 * its hash string on every call, even on a child from `labels()`: several hundred nanoseconds,
 * which on a manifest GET served from memory (~20 µs) is a few percent by itself, per histogram.
 * A bound series is a Float64Array of bucket counts, a sum and a count: an observation is a short
 * bucket scan and three additions. The exposition is prom-client's own (the Registry renders what
 * `get()` returns), so the output is the standard histogram: `_bucket{le}` cumulative, `_sum`, `_count`.
 */
export class SeriesHistogram<T extends string> extends Histogram<T> {
  readonly #name: string;
  readonly #help: string;
  readonly #bounds: readonly number[];
  readonly #series: HistogramSeries<T>[] = [];
  readonly #byKey = new Map<string, HistogramSeries<T>>();

  constructor(name: string, help: string, labelNames: readonly T[], buckets: readonly number[]) {
    // registers: [] keeps it off prom-client's global registry; metrics.ts registers it on its own.
    super({ name, help, labelNames, buckets: [...buckets], registers: [] });
    this.#name = name;
    this.#help = help;
    this.#bounds = [...buckets].sort((a, b) => a - b);
  }

  /** The series for these label values, made on first use; callers keep it (the hot path never looks it up). */
  series(labels: Readonly<Record<T, string>>): HistogramSeries<T> {
    const key = JSON.stringify(labels);
    let series = this.#byKey.get(key);
    if (!series) {
      series = new HistogramSeries<T>(labels, this.#bounds);
      this.#byKey.set(key, series);
      this.#series.push(series);
    }
    return series;
  }

  /** Every series made so far (scrape-time readers: registry_http_requests_total). */
  allSeries(): readonly HistogramSeries<T>[] {
    return this.#series;
  }

  /** Never calls prom-client's own get(), which reads its (empty) label map through getForPromString. */
  override async get(): Promise<MetricObjectWithValues<MetricValueWithName<T>>> {
    return { name: this.#name, help: this.#help, type: metricType('histogram'), aggregator: 'sum', collect: () => undefined, values: this.#values() };
  }

  /** What prom-client's Registry renders (it prefers this to get(); same values here). */
  async getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<T>>> {
    return this.get();
  }

  override reset(): void {
    // prom-client's constructor calls reset() before this class's fields exist.
    if (!(#series in this)) return;
    for (const series of this.#series) series.clear();
  }

  #values(): MetricValueWithName<T>[] {
    const name = this.#name;
    const out: MetricValueWithName<T>[] = [];
    // Series never observed are left out, as prom-client leaves out label sets never used.
    for (const series of this.#series) {
      if (series.count === 0) continue;
      let cumulative = 0;
      this.#bounds.forEach((bound, i) => {
        cumulative += series.buckets[i] ?? 0;
        out.push({ metricName: `${name}_bucket`, labels: { ...series.labels, le: bound } as LabelValues<T>, value: cumulative });
      });
      out.push({ metricName: `${name}_bucket`, labels: { ...series.labels, le: '+Inf' } as LabelValues<T>, value: series.count });
      out.push({ metricName: `${name}_sum`, labels: { ...series.labels }, value: series.sum });
      out.push({ metricName: `${name}_count`, labels: { ...series.labels }, value: series.count });
    }
    return out;
  }
}

/** One label set of a SeriesHistogram. */
export class HistogramSeries<T extends string> {
  /** Observations per bucket (not cumulative); the last slot counts those above every bound. */
  readonly buckets: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<T, string>>,
    private readonly bounds: readonly number[],
  ) {
    this.buckets = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    this.buckets[i] = (this.buckets[i] ?? 0) + 1;
    this.sum += value;
    this.count++;
  }

  clear(): void {
    this.buckets.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}
