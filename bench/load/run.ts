/**
 * Load: small reads and a small push against Quayside and docker-registry side by side, each a
 * child process on 127.0.0.1 with its own storage root on the same disk, seeded with the same
 * content over HTTP (seed.ts).
 *
 *   npm run bench:load -- [--duration 10] [--connections 32] [--threads 2] [--rounds 3] [--warmup 1]
 *                         [--only manifest,blob-head,blob-get,tags,push] [--targets quayside,docker-registry]
 *                         [--client wrk|autocannon]
 *
 * The plain GETs (manifest by tag, 4 KiB blob, tags list) are driven by wrk (--threads ×
 * --connections) against three targets: a bare node:http server replaying Quayside's own
 * answers byte for byte (the ceiling: what node:http costs per request here), Quayside and
 * docker-registry; interleaved over --rounds rounds, medians, per-round ratios (wrk-rounds.ts).
 * Each route's answer is checked once per target before its runs; wrk then counts non-2xx.
 *
 * HEAD and the push chain need a client that knows HEAD replies have no body and that follows
 * a chain: autocannon, in this process, one target at a time (harness.ts); `--client autocannon`
 * runs every route that way. Reported there: requests/s, p50/p99 latency from every response,
 * errors and non-2xx (both must be 0), client CPU next to the server's, ratio to docker-registry.
 */
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { progress, report, type Row } from '../lib/report.ts';
import { dockerRegistryAvailable, recordAnswer, startCeiling, startDockerRegistry, startQuayside, wrkAvailable, type Target } from '../lib/targets.ts';
import { blobGet } from './blob-get.ts';
import { blobHead } from './blob-head.ts';
import { addRatios, measure, type LoadOptions, type LoadScenario } from './harness.ts';
import { manifestGet } from './manifest-get.ts';
import { pushChain } from './push-chain.ts';
import { makeContent, seed } from './seed.ts';
import { tagsList } from './tags-list.ts';
import { measureRounds, type WrkRoute } from './wrk-rounds.ts';
import type { WrkRequest } from './wrk.ts';

const SCENARIOS: readonly LoadScenario[] = [manifestGet, blobHead, blobGet, tagsList, pushChain];
type TargetName = Target['name'];

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    warmup: { type: 'string', default: '1' },
    threads: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    client: { type: 'string', default: 'wrk' },
    only: { type: 'string' },
    targets: { type: 'string' },
    dir: { type: 'string' },
  },
});

const only = values.only?.split(',');
const unknown = only?.filter((name) => !SCENARIOS.some((s) => s.name === name)) ?? [];
if (unknown.length > 0) throw new Error(`unknown route(s) ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
const scenarios = SCENARIOS.filter((s) => !only || only.includes(s.name));
const targetNames = (values.targets?.split(',') ?? ((await dockerRegistryAvailable()) ? ['quayside', 'docker-registry'] : ['quayside'])) as TargetName[];
const options: LoadOptions = { duration: Number(values.duration), connections: Number(values.connections), warmup: Number(values.warmup) };
if (values.client !== 'wrk' && values.client !== 'autocannon') throw new Error(`--client wrk or autocannon, not ${values.client}`);
const useWrk = values.client === 'wrk' && (await wrkAvailable());
if (values.client === 'wrk' && !useWrk) console.log('wrk is not available: every route runs with autocannon');
const rounds = { ...options, threads: Number(values.threads), rounds: Number(values.rounds) };

const work = values.dir ?? join(tmpdir(), `quayside-load-${process.pid}`);
await mkdir(work, { recursive: true });
const content = makeContent();
const targets: Target[] = [];
const rows: Row[] = [];
try {
  for (const name of targetNames) {
    const root = join(work, name);
    const target = name === 'docker-registry' ? await startDockerRegistry({ root }) : await startQuayside({ root });
    targets.push(target);
    await seed(target.url, content);
    progress(`load: ${name} at ${target.url}, seeded`);
  }
  const byAutocannon: LoadScenario[] = [];
  const wrkRoutes: WrkRoute[] = [];
  for (const scenario of scenarios) {
    const requests = new Map<Target['name'], WrkRequest>();
    for (const target of targets) {
      const request = useWrk ? (await scenario.prepare(target, content)).wrk : undefined;
      if (request) requests.set(target.name, request);
    }
    if (requests.size === targets.length && requests.size > 0) wrkRoutes.push({ title: scenario.title, requests });
    else byAutocannon.push(scenario);
  }
  const quayside = targets.find((t) => t.name === 'quayside');
  if (wrkRoutes.length > 0 && quayside) {
    // The ceiling answers each route with Quayside's own bytes and headers.
    const answers = [];
    for (const route of wrkRoutes) {
      const request = route.requests.get('quayside') as WrkRequest;
      answers.push(await recordAnswer(quayside, request.path, request.headers));
      (route.requests as Map<Target['name'], WrkRequest>).set('node:http ceiling', request);
    }
    const ceiling = await startCeiling({ root: join(work, 'ceiling'), answers });
    targets.unshift(ceiling);
    progress(`load: node:http ceiling at ${ceiling.url}`);
  }
  if (wrkRoutes.length > 0) {
    progress(`load: wrk, ${rounds.threads} threads × ${rounds.connections} connections, ${rounds.rounds} rounds of ${rounds.warmup} s warmup + ${rounds.duration} s per route and target`);
    rows.push(...(await measureRounds(wrkRoutes, targets, rounds, progress)));
  }
  const autocannonRows: Row[] = [];
  for (const scenario of byAutocannon) {
    for (const target of targets) {
      if (target.name === 'node:http ceiling') continue;
      progress(`load: ${scenario.title} → ${target.name} (autocannon, ${options.warmup} s warmup + ${options.duration} s, ${options.connections} connections)`);
      const row = await measure(scenario, target, content, options);
      progress(`load: ${scenario.title} → ${target.name}: ${row['req/s']} req/s, p99 ${row['p99 ms']} ms, errors ${row['errors']}, non-2xx ${row['non-2xx']}`);
      autocannonRows.push(row);
    }
  }
  addRatios(autocannonRows);
  rows.push(...autocannonRows);
} finally {
  await Promise.all(targets.map((t) => t.stop()));
  await rm(work, { recursive: true, force: true });
}
await report('load', rows, { options: { ...rounds, client: useWrk ? 'wrk (plain GETs), autocannon (the rest)' : 'autocannon' } });
const failed = rows.filter((r) => Number(r['errors']) > 0 || Number(r['non-2xx']) > 0);
if (failed.length > 0) {
  console.error(`load: errors or non-2xx in ${failed.map((r) => `${String(r['route'])} / ${String(r['target'])}`).join(', ')}`);
  process.exitCode = 1;
}
