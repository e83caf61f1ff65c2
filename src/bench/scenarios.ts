import { BlobContent } from './content.ts';
import type { BenchClient } from './http-client.ts';
import { ModeUnsupported, pullBlob, pushBlob, type BlobToPush, type PushMode } from './push.ts';
import { ClientCpu, Outcomes } from './stats.ts';

/** One measured scenario on one registry, as `--json` writes it (issue 12's fields, then extras). */
export interface ScenarioResult {
  readonly name: string;
  readonly mode: string;
  readonly parallel: number;
  /** Bytes per blob; for small reads, the size of what is read. */
  readonly size: number;
  readonly mibPerSec?: number;
  readonly requestsPerSec?: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Failed operations by HTTP status ("network": no answer). */
  readonly errors: Readonly<Record<string, number>>;
  readonly seconds: number;
  /** The benchmark's own CPU over the run, in cores: at 0.9 or more the client may be the bottleneck. */
  readonly clientCores: number;
  readonly note?: string;
}

export interface Progress {
  (text: string): void;
}

/** Blobs of a push scenario: distinct content, digests computed before timing. */
export function blobsFor(content: BlobContent, repo: string, first: number, parallel: number, size: number): BlobToPush[] {
  return Array.from({ length: parallel }, (_, i) => ({ repo, blob: first + i, size, digest: content.digestOf(first + i, size) }));
}

/** `parallel` verified uploads at once; MiB/s over the wall time of all of them. */
export async function pushScenario(client: BenchClient, content: BlobContent, blobs: readonly BlobToPush[], mode: PushMode, chunk: number, progress: Progress): Promise<ScenarioResult> {
  const outcomes = new Outcomes();
  const cpu = new ClientCpu();
  const started = performance.now();
  let done = 0;
  const ticker = setInterval(() => progress(`push ${mode}: ${done}/${blobs.length} done, ${Math.round((performance.now() - started) / 1000)} s`), 5000);
  let unsupported: string | undefined;
  try {
    await Promise.all(
      blobs.map(async (blob) => {
        try {
          outcomes.ok((await pushBlob(() => client, content, blob, mode, chunk)) * 1000);
        } catch (err) {
          if (err instanceof ModeUnsupported) unsupported = err.message;
          else outcomes.failed(err);
        } finally {
          done++;
        }
      }),
    );
  } finally {
    clearInterval(ticker);
  }
  const seconds = (performance.now() - started) / 1000;
  const size = blobs[0]?.size ?? 0;
  const moved = outcomes.latenciesMs.length * size;
  return {
    name: 'push',
    mode,
    parallel: blobs.length,
    size,
    mibPerSec: round(moved / 2 ** 20 / seconds),
    p50Ms: round(outcomes.percentile(50)),
    p99Ms: round(outcomes.percentile(99)),
    errors: outcomes.errors,
    seconds: round(seconds),
    clientCores: round(cpu.fractionOfCore()),
    ...(unsupported !== undefined ? { note: unsupported } : outcomes.firstError !== undefined ? { note: outcomes.firstError } : {}),
  };
}

/** The pushed blobs pulled at once, whole and verified by size; `mode` cold (first pull) or warm (again). */
export async function pullScenario(client: BenchClient, blobs: readonly BlobToPush[], mode: 'cold' | 'warm'): Promise<ScenarioResult> {
  const outcomes = new Outcomes();
  const cpu = new ClientCpu();
  const started = performance.now();
  await Promise.all(
    blobs.map(async (blob) => {
      try {
        outcomes.ok((await pullBlob(client, blob)) * 1000);
      } catch (err) {
        outcomes.failed(err);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const size = blobs[0]?.size ?? 0;
  return {
    name: 'pull',
    mode,
    parallel: blobs.length,
    size,
    mibPerSec: round((outcomes.latenciesMs.length * size) / 2 ** 20 / seconds),
    p50Ms: round(outcomes.percentile(50)),
    p99Ms: round(outcomes.percentile(99)),
    errors: outcomes.errors,
    seconds: round(seconds),
    clientCores: round(cpu.fractionOfCore()),
    ...(outcomes.firstError !== undefined ? { note: outcomes.firstError } : {}),
  };
}

/**
 * A push chain, `concurrency` at once for `durationMs`: POST, one PATCH of a distinct 4 KiB blob,
 * PUT ?digest=, verified (202, 202, 201, the digest, then a HEAD of its size). requestsPerSec
 * counts all four requests of a chain; latency is POST to 201; the note says chains per second.
 */
export async function pushChainScenario(client: BenchClient, content: BlobContent, repo: string, firstBlob: number, concurrency: number, durationMs: number): Promise<ScenarioResult> {
  const SIZE = 4096;
  // Digests before timing: as many as this many loops could use, grown in batches if outrun.
  const digests: string[] = [];
  const digestOf = (i: number): string => {
    while (digests.length <= i) digests.push(content.digestOf(firstBlob + digests.length, SIZE));
    return digests[i] ?? '';
  };
  digestOf(concurrency * 200);
  const outcomes = new Outcomes();
  const cpu = new ClientCpu();
  const started = performance.now();
  const deadline = started + durationMs;
  let nextBlob = 0;
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const i = nextBlob++;
      const blob: BlobToPush = { repo, blob: firstBlob + i, size: SIZE, digest: digestOf(i) };
      try {
        outcomes.ok((await pushBlob(() => client, content, blob, 'chunked', SIZE)) * 1000);
      } catch (err) {
        outcomes.failed(err);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const seconds = (performance.now() - started) / 1000;
  const chains = outcomes.latenciesMs.length;
  return {
    name: 'push-chain',
    mode: 'chunked',
    parallel: concurrency,
    size: SIZE,
    requestsPerSec: round((chains * 4) / seconds, 1),
    p50Ms: round(outcomes.percentile(50), 3),
    p99Ms: round(outcomes.percentile(99), 3),
    errors: outcomes.errors,
    seconds: round(seconds),
    clientCores: round(cpu.fractionOfCore()),
    note: `${round(chains / seconds, 1)} chains/s${outcomes.firstError !== undefined ? `; ${outcomes.firstError}` : ''}`,
  };
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
