import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { blobHead } from '../load/blob-head.ts';
import { measure, type LoadOptions, type LoadScenario } from '../load/harness.ts';
import { manifestGet } from '../load/manifest-get.ts';
import { pushChain } from '../load/push-chain.ts';
import { makeContent, seed } from '../load/seed.ts';
import { report, round, type Row } from '../lib/report.ts';
import { startQuayside, type Target } from '../lib/targets.ts';

/**
 * What metrics cost (issue 11: "at most 3 % apart"). Two Quayside processes on the same disk, as
 * the command runs them: one without `http.debug` (metrics off: nothing instrumented), one with
 * the debug server and `prometheus.enabled` (every request counted, every storage action timed).
 * One client drives both with the small reads of bench/load (GET manifest by tag, HEAD blob) and
 * the push chain (POST → PATCH → PUT), in interleaved rounds whose order alternates, so a
 * machine that gets busier or quieter during the run weighs on both alike. Reported per route:
 * the median over rounds of req/s and of server CPU µs per request, and on/off ratios. The CPU
 * per request is the steadier figure on a shared machine: req/s also moves with the client.
 *
 *   npm run bench:metrics -- --rounds 5 --duration 10
 */
const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '16' },
    warmup: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    only: { type: 'string' },
  },
});

const SCENARIOS: readonly LoadScenario[] = [manifestGet, blobHead, pushChain];
const scenarios = SCENARIOS.filter((s) => !values.only || values.only.split(',').includes(s.name));
const options: LoadOptions = { duration: Number(values.duration), connections: Number(values.connections), warmup: Number(values.warmup) };
const rounds = Number(values.rounds);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(address && typeof address === 'object');
  return address.port;
}

const work = join(tmpdir(), `quayside-metrics-bench-${process.pid}`);
await mkdir(work, { recursive: true });
const content = makeContent();
const debugPort = await freePort();
const variants: { readonly name: 'off' | 'on'; target: Target | undefined }[] = [
  { name: 'off', target: undefined },
  { name: 'on', target: undefined },
];
const samples = new Map<string, { reqs: number[]; cpuUs: number[] }>();
try {
  variants[0]!.target = await startQuayside({ root: join(work, 'off') });
  variants[1]!.target = await startQuayside({
    root: join(work, 'on'),
    env: { REGISTRY_HTTP_DEBUG_ADDR: `127.0.0.1:${debugPort}`, REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED: 'true' },
  });
  for (const variant of variants) await seed((variant.target as Target).url, content);

  for (let round = 0; round < rounds; round++) {
    // off, on in even rounds; on, off in odd ones.
    const order = round % 2 === 0 ? variants : [...variants].reverse();
    for (const scenario of scenarios) {
      for (const variant of order) {
        const target = variant.target as Target;
        const row = await measure(scenario, target, content, options);
        assert.equal(row['errors'], 0, `${variant.name} ${scenario.name}: errors ${JSON.stringify(row)}`);
        const reqs = Number(row['req/s']);
        const cpuUs = (Number(row['server cpu %']) / 100 / reqs) * 1e6;
        const key = `${scenario.title}\t${variant.name}`;
        const sample = samples.get(key) ?? { reqs: [], cpuUs: [] };
        sample.reqs.push(reqs);
        sample.cpuUs.push(cpuUs);
        samples.set(key, sample);
        console.log(`round ${round + 1}/${rounds} ${scenario.name} metrics ${variant.name}: ${reqs} req/s, ${round2(cpuUs)} server CPU µs/req`);
      }
    }
  }

  // The "on" registry really counted: its scrape names the routes just driven.
  const scrape = await (await fetch(`http://127.0.0.1:${debugPort}/metrics`)).text();
  assert.match(scrape, /registry_http_requests_total\{handler="end-3",method="GET",code="2xx"\} [1-9]/);
  assert.match(scrape, /registry_storage_action_seconds_count\{driver="filesystem",action="PutContent"\} [1-9]/);

  const rows: Row[] = scenarios.map((scenario) => {
    const off = samples.get(`${scenario.title}\toff`) as { reqs: number[]; cpuUs: number[] };
    const on = samples.get(`${scenario.title}\ton`) as { reqs: number[]; cpuUs: number[] };
    const offReqs = median(off.reqs);
    const onReqs = median(on.reqs);
    const offCpu = median(off.cpuUs);
    const onCpu = median(on.cpuUs);
    return {
      route: scenario.title,
      'off req/s': round(offReqs, 0),
      'on req/s': round(onReqs, 0),
      'on/off req/s': round(onReqs / offReqs, 3),
      'off cpu µs/req': round2(offCpu),
      'on cpu µs/req': round2(onCpu),
      'on/off cpu': round(onCpu / offCpu, 3),
    };
  });
  await report('metrics-on-off', rows, { options, rounds });
} finally {
  for (const variant of variants) await variant.target?.stop();
  await rm(work, { recursive: true, force: true });
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function round2(value: number): number {
  return round(value, 2);
}
