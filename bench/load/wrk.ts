import { execFile } from 'node:child_process';

/**
 * One wrk run (https://github.com/wg/wrk, Debian package `wrk`, installed by
 * scripts/ensure-tools.sh) and its summary, parsed. wrk is C with an event loop per thread, so
 * unlike autocannon in this process it can drive a server near node:http's own ceiling from the
 * same 2 cores. wrk counts statuses (non-2xx/3xx) but does not read bodies: each scenario checks
 * the body once before the run (prepare).
 */
export interface WrkRequest {
  readonly method: 'GET';
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface WrkOptions {
  readonly threads: number;
  readonly connections: number;
  /** seconds */
  readonly duration: number;
}

export interface WrkResult {
  readonly requests: number;
  readonly seconds: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Responses with a status outside 200–399. */
  readonly non2xx: number;
  /** connect + read + write errors and timeouts. */
  readonly socketErrors: number;
}

export const WRK_BIN = '/usr/bin/wrk';

export function runWrk(url: string, request: WrkRequest, options: WrkOptions): Promise<WrkResult> {
  const args = ['-t', String(options.threads), '-c', String(options.connections), '-d', `${options.duration}s`, '--latency', '--timeout', '10s'];
  for (const [name, value] of Object.entries(request.headers)) args.push('-H', `${name}: ${value}`);
  args.push(`${url}${request.path}`);
  return new Promise((resolve, reject) => {
    execFile(WRK_BIN, args, (err, stdout, stderr) => {
      if (err) reject(new Error(`wrk ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve(parseWrk(stdout));
    });
  });
}

const UNIT_MS: Readonly<Record<string, number>> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function latencyMs(text: string, percentile: string): number {
  const match = new RegExp(`^\\s*${percentile}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text);
  if (!match) throw new Error(`wrk output without a ${percentile}% latency:\n${text}`);
  return Number(match[1]) * (UNIT_MS[match[2] as string] ?? Number.NaN);
}

export function parseWrk(text: string): WrkResult {
  const total = /^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),/m.exec(text);
  if (!total) throw new Error(`wrk output without a request count:\n${text}`);
  const seconds = (Number(total[2]) * (UNIT_MS[total[3] as string] ?? Number.NaN)) / 1000;
  const requests = Number(total[1]);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const socketErrors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return {
    requests,
    seconds,
    requestsPerSecond: requests / seconds,
    p50Ms: latencyMs(text, '50'),
    p99Ms: latencyMs(text, '99'),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0),
    socketErrors,
  };
}
