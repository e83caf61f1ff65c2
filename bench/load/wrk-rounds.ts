import { round, type Row } from '../lib/report.ts';
import type { Target } from '../lib/targets.ts';
import { runWrk, type WrkOptions, type WrkRequest } from './wrk.ts';

/**
 * The small-read comparison of issue 9: each route against the bare node:http ceiling, Quayside
 * and docker-registry, interleaved (every round runs every target once per route, the order
 * rotating each round), several rounds, medians. On a shared 2-core machine absolute req/s
 * drift by tens of percent between minutes; a ratio of two runs seconds apart drifts much less,
 * so the ratios are taken per round and their median and range reported.
 */
export interface RoundsOptions extends WrkOptions {
  readonly rounds: number;
  /** Warmup seconds before each measured run, not measured. */
  readonly warmup: number;
}

export interface WrkRoute {
  readonly title: string;
  /** The request per target (paths differ: docker-registry's tags or digests are the same, but ask each). */
  readonly requests: ReadonlyMap<Target['name'], WrkRequest>;
}

interface Sample {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  /** Server CPU (all its threads) per request, µs. */
  readonly cpuUs: number;
  readonly non2xx: number;
  readonly errors: number;
}

export type Progress = (line: string) => void;

export async function measureRounds(routes: readonly WrkRoute[], targets: readonly Target[], options: RoundsOptions, progress: Progress): Promise<Row[]> {
  const samples = new Map<string, Sample[]>();
  const key = (route: WrkRoute, target: Target): string => `${route.title}\u0000${target.name}`;
  for (let r = 0; r < options.rounds; r++) {
    const order = targets.map((_, i) => targets[(i + r) % targets.length] as Target);
    for (const route of routes) {
      for (const target of order) {
        const request = route.requests.get(target.name);
        if (!request) continue;
        if (options.warmup > 0) await runWrk(target.url, request, { ...options, duration: options.warmup });
        const cpu0 = await target.cpuSeconds();
        const result = await runWrk(target.url, request, options);
        const cpu = (await target.cpuSeconds()) - cpu0;
        const sample: Sample = {
          rps: result.requestsPerSecond,
          p50: result.p50Ms,
          p99: result.p99Ms,
          cpuUs: (cpu * 1e6) / Math.max(1, result.requests),
          non2xx: result.non2xx,
          errors: result.socketErrors,
        };
        progress(`load (wrk, round ${r + 1}/${options.rounds}): ${route.title} → ${target.name}: ${Math.round(sample.rps)} req/s, ${round(sample.cpuUs, 1)} µs CPU/req, non-2xx ${sample.non2xx}, errors ${sample.errors}`);
        const list = samples.get(key(route, target)) ?? [];
        list.push(sample);
        samples.set(key(route, target), list);
      }
    }
  }
  const rows: Row[] = [];
  for (const route of routes) {
    const ceiling = samples.get(`${route.title}\u0000node:http ceiling`);
    const reference = samples.get(`${route.title}\u0000docker-registry`);
    for (const target of targets) {
      const own = samples.get(key(route, target));
      if (!own) continue;
      const row: Row = {
        route: route.title,
        target: target.name,
        'req/s': round(median(own.map((s) => s.rps)), 0),
        'req/s range': range(own.map((s) => s.rps), 0),
        'p50 ms': round(median(own.map((s) => s.p50)), 2),
        'p99 ms': round(median(own.map((s) => s.p99)), 2),
        'server µs CPU/req': round(median(own.map((s) => s.cpuUs)), 1),
        'non-2xx': own.reduce((sum, s) => sum + s.non2xx, 0),
        errors: own.reduce((sum, s) => sum + s.errors, 0),
      };
      if (target.name === 'quayside') {
        if (ceiling) Object.assign(row, ratioColumns('× ceiling', own, ceiling));
        if (reference) Object.assign(row, ratioColumns('× docker-registry', own, reference));
      }
      rows.push(row);
    }
  }
  return rows;
}

/** Per-round req/s ratios (same round, seconds apart): median and min–max. */
function ratioColumns(label: string, own: readonly Sample[], other: readonly Sample[]): Row {
  const ratios = own.map((s, i) => s.rps / (other[i]?.rps ?? Number.NaN));
  return { [label]: round(median(ratios), 2), [`${label} range`]: range(ratios, 2) };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function range(values: readonly number[], digits: number): string {
  return `${round(Math.min(...values), digits)}–${round(Math.max(...values), digits)}`;
}
