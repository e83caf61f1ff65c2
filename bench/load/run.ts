/**
 * Load: small reads and a small push against Quayside and docker-registry side by side, each a
 * child process on 127.0.0.1 with its own storage root on the same disk, seeded with the same
 * content over HTTP (seed.ts). Routes run one target at a time: warmup, then a fixed duration.
 *
 *   npm run bench:load -- [--duration 10] [--connections 32] [--warmup 1]
 *                         [--only manifest,blob-head,blob-get,tags,push] [--targets quayside,docker-registry]
 *
 * autocannon runs in this process, on the same 2 cores as the server it drives: the client's CPU
 * is reported next to the server's. Reported per route and target: requests/s, p50 and p99 latency
 * (ms, from every response), errors (connection errors, timeouts, body mismatches, a wrong status,
 * a chain step's wrong status) and non-2xx, both of which must be 0, and Quayside's ratio to
 * docker-registry.
 */
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { progress, report, type Row } from '../lib/report.ts';
import { dockerRegistryAvailable, startDockerRegistry, startQuayside, type Target } from '../lib/targets.ts';
import { blobGet } from './blob-get.ts';
import { blobHead } from './blob-head.ts';
import { addRatios, measure, type LoadOptions, type LoadScenario } from './harness.ts';
import { manifestGet } from './manifest-get.ts';
import { pushChain } from './push-chain.ts';
import { makeContent, seed } from './seed.ts';
import { tagsList } from './tags-list.ts';

const SCENARIOS: readonly LoadScenario[] = [manifestGet, blobHead, blobGet, tagsList, pushChain];
type TargetName = Target['name'];

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    warmup: { type: 'string', default: '1' },
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
  for (const scenario of scenarios) {
    for (const target of targets) {
      progress(`load: ${scenario.title} → ${target.name} (${options.warmup} s warmup + ${options.duration} s, ${options.connections} connections)`);
      const row = await measure(scenario, target, content, options);
      progress(`load: ${scenario.title} → ${target.name}: ${row['req/s']} req/s, p99 ${row['p99 ms']} ms, errors ${row['errors']}, non-2xx ${row['non-2xx']}`);
      rows.push(row);
    }
  }
} finally {
  await Promise.all(targets.map((t) => t.stop()));
  await rm(work, { recursive: true, force: true });
}
addRatios(rows);
await report('load', rows, { options });
const failed = rows.filter((r) => Number(r['errors']) > 0 || Number(r['non-2xx']) > 0);
if (failed.length > 0) {
  console.error(`load: errors or non-2xx in ${failed.map((r) => `${String(r['route'])} / ${String(r['target'])}`).join(', ')}`);
  process.exitCode = 1;
}
