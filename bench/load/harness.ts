import autocannon from 'autocannon';
import type { IncomingHttpHeaders } from 'node:http';
import { round, type Row } from '../lib/report.ts';
import type { Target } from '../lib/targets.ts';
import type { Content } from './seed.ts';
import type { WrkRequest } from './wrk.ts';

/**
 * What the load scenarios share: one autocannon run against one target, with a warmup, CPU of
 * the server and of this client, and latency percentiles from every response's own time.
 *
 * The client runs in this process (one thread) on the same 2 cores as the server, so each row
 * also says how busy the client was: a client near 100 % is the limit, not the server.
 */
export interface LoadOptions {
  /** Measured seconds per target. */
  readonly duration: number;
  readonly connections: number;
  /** Warmup seconds per target, not measured. */
  readonly warmup: number;
}

/** One prepared run of a scenario against one target. */
export interface Prepared {
  /** autocannon options for this target; url, connections, duration are the harness's. */
  readonly options: Omit<autocannon.Options, 'url' | 'connections' | 'duration'>;
  /** Requests per operation (3 for the push chain: POST → PATCH → PUT). */
  readonly requestsPerOp: number;
  /** Errors the scenario itself counted (a wrong status in a chain) since the last reset. */
  errors(): number;
  /** Completed operations since the last reset. */
  operations(): number;
  reset(): void;
  /** The same request for wrk, when it is one plain GET (wrk does not drive chains or HEAD). */
  readonly wrk?: WrkRequest;
  /** Checks after the measured run (e.g. that pushed blobs exist); throws on a wrong answer. */
  after?(): Promise<void>;
}

export interface LoadScenario {
  /** The --only name. */
  readonly name: string;
  /** The row label. */
  readonly title: string;
  /**
   * Asserts the target answers this request correctly (STYLE habit 10) and returns the run.
   * Called once per target, before the warmup.
   */
  prepare(target: Target, content: Content): Promise<Prepared>;
}

/** What each reply of a simple scenario must be. */
export interface Expected {
  readonly status: number;
  /** The exact body (as autocannon hands it over: a UTF-8 string); unchecked when undefined. */
  readonly body?: string;
}

/** A scenario of independent, identical requests; each reply's status (and body) is checked. */
export function simpleRun(request: autocannon.Request, expected: Expected, options: Prepared['options'] = {}): Prepared {
  let wrong = 0;
  let ok = 0;
  const checked: autocannon.Request = {
    ...request,
    onResponse: (status, body) => {
      if (status === expected.status && (expected.body === undefined || body === expected.body)) ok++;
      else wrong++;
    },
  };
  const wrk: WrkRequest | undefined =
    request.method === 'GET' && request.path !== undefined ? { method: 'GET', path: request.path, headers: plainHeaders(request.headers) } : undefined;
  return {
    options: { ...options, requests: [checked] },
    ...(wrk ? { wrk } : {}),
    requestsPerOp: 1,
    errors: () => wrong,
    operations: () => ok,
    reset: () => {
      wrong = 0;
      ok = 0;
    },
  };
}

function plainHeaders(headers: autocannon.Request['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) if (typeof value === 'string') out[name] = value;
  return out;
}

/** A response header, whatever case the server sent it in (autocannon passes raw names). */
export function header(headers: IncomingHttpHeaders | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value[0] : value;
  }
  return undefined;
}

/**
 * autocannon parses responses with http-parser-js and never tells it a request was HEAD, so a
 * HEAD reply carrying Content-Length (as the spec requires) leaves it waiting for a body until
 * the timeout. The parser skips the body when its headers-complete callback returns true; that
 * callback (slot 2, HTTPParser.kOnHeadersComplete) is assigned right after setupClient runs, so
 * we wrap whatever gets assigned there.
 */
export function headResponsesHaveNoBody(client: autocannon.Client): void {
  const K_ON_HEADERS_COMPLETE = 2;
  const parser = (client as unknown as { parser: Record<number, unknown> }).parser;
  let inner: ((info: unknown) => unknown) | undefined;
  const wrapped = (info: unknown): boolean => {
    inner?.(info);
    return true;
  };
  Object.defineProperty(parser, K_ON_HEADERS_COMPLETE, {
    configurable: true,
    get: () => wrapped,
    set: (fn: (info: unknown) => unknown) => {
      inner = fn;
    },
  });
}

interface Measured {
  readonly result: autocannon.Result;
  /** Response times in ms, every response. */
  readonly latencies: Float64Array;
  readonly seconds: number;
}

function cannon(url: string, connections: number, duration: number, prepared: Prepared, record: boolean): Promise<Measured> {
  return new Promise((resolve, reject) => {
    let latencies = new Float64Array(1 << 16);
    let count = 0;
    const started = performance.now();
    const instance = autocannon({ ...prepared.options, url, connections, duration, timeout: 10 }, (err: unknown, result) => {
      if (err) reject(err instanceof Error ? err : new Error(String(err)));
      else resolve({ result, latencies: latencies.subarray(0, count), seconds: (performance.now() - started) / 1000 });
    });
    if (record) {
      instance.on('response', (_client, _status, _bytes, responseTime) => {
        if (count === latencies.length) {
          const bigger = new Float64Array(latencies.length * 2);
          bigger.set(latencies);
          latencies = bigger;
        }
        latencies[count++] = responseTime;
      });
    }
  });
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** Warmup, then one measured run; returns the row (errors included, never thrown away). */
export async function measure(scenario: LoadScenario, target: Target, content: Content, options: LoadOptions): Promise<Row> {
  const prepared = await scenario.prepare(target, content);
  if (options.warmup > 0) await cannon(target.url, options.connections, options.warmup, prepared, false);
  prepared.reset();
  const cpu0 = await target.cpuSeconds();
  const client0 = process.cpuUsage();
  const { result, latencies, seconds } = await cannon(target.url, options.connections, options.duration, prepared, true);
  const client = process.cpuUsage(client0);
  const serverCpu = (await target.cpuSeconds()) - cpu0;
  await prepared.after?.();
  latencies.sort();
  const responses = latencies.length;
  const errors = result.errors + result.mismatches + result.resets + prepared.errors();
  return {
    route: scenario.title,
    target: target.name,
    'req/s': round(responses / seconds, 0),
    'chains/s': prepared.requestsPerOp > 1 ? round(prepared.operations() / seconds, 0) : '',
    'p50 ms': round(percentile(latencies, 50), 2),
    'p99 ms': round(percentile(latencies, 99), 2),
    errors,
    'non-2xx': result.non2xx,
    'server cpu %': round((serverCpu / seconds) * 100, 0),
    'client cpu %': round(((client.user + client.system) / 1e6 / seconds) * 100, 0),
  };
}

/** Each Quayside row gets its ratios to docker-registry's row for the same route. */
export function addRatios(rows: Row[]): void {
  for (const row of rows) {
    if (row['target'] !== 'quayside') continue;
    const reference = rows.find((r) => r['target'] === 'docker-registry' && r['route'] === row['route']);
    if (!reference) continue;
    row['× ref req/s'] = round(Number(row['req/s']) / Number(reference['req/s']), 2);
    row['× ref p99'] = round(Number(row['p99 ms']) / Number(reference['p99 ms']), 2);
  }
}
