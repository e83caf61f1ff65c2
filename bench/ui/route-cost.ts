import assert from 'node:assert/strict';
import { createRouter, type Router } from '../../src/routing/router.ts';
import { routes } from '../../src/routing/routes.ts';
import { batched, newBench } from '../micro/harness.ts';
import { DIGEST, ROUTING_CASES } from '../micro/paths.ts';

/**
 * What the web UI's routes (`/`, `/ui`, `/ui/`, `/ui/:asset`, src/ui/) cost the API's requests:
 * router.match over the same /v2 paths with the route table as it is and without the UI's rows,
 * interleaved in one process. Two cases: the match cache hit (what a busy registry mostly
 * serves) and a miss on every call (distinct paths, more than the cache holds), which goes
 * through the pre-router and find-my-way.
 *
 *   node --import tsx bench/ui/route-cost.ts
 */

const withUi = createRouter(routes);
const withoutUi = createRouter(routes.filter((r) => !r.id.startsWith('ui')));
assert.ok(routes.length > routes.filter((r) => !r.id.startsWith('ui')).length, 'the table has UI rows');

// More distinct paths than the match cache keeps (4096 per method): every call is a miss.
const MISS_PATHS = Array.from({ length: 10_000 }, (_, i) => `/v2/library/app-${i}/blobs/${DIGEST}`);

function missesOf(router: Router): () => unknown {
  let i = 0;
  return () => router.match('GET', MISS_PATHS[i++ % MISS_PATHS.length] as string);
}

for (const c of ROUTING_CASES) {
  assert.equal(withUi.match(c.method, c.path).route.id, withoutUi.match(c.method, c.path).route.id, c.label);
}

const bench = newBench({ time: 1000, warmupTime: 200 });
const hit = (router: Router) => (): unknown => ROUTING_CASES.map((c) => router.match(c.method, c.path));
const ROUNDS = 5;
for (let round = 0; round < ROUNDS; round++) {
  bench.add(`cache hit, ${ROUTING_CASES.length} paths: with UI routes #${round}`, batched(100, hit(withUi)));
  bench.add(`cache hit, ${ROUTING_CASES.length} paths: without UI routes #${round}`, batched(100, hit(withoutUi)));
  bench.add(`cache miss: with UI routes #${round}`, batched(200, missesOf(withUi)));
  bench.add(`cache miss: without UI routes #${round}`, batched(200, missesOf(withoutUi)));
}
await bench.run();
const meanNs = new Map(bench.tasks.map((t) => [t.name, t.result.state === 'completed' ? t.result.latency.mean * 1e6 : Number.NaN]));
const median = (values: number[]): number => values.sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const rows = ['cache hit, 8 paths', 'cache miss'].map((kind) => {
  const of = (variant: string): number => median(Array.from({ length: ROUNDS }, (_, r) => meanNs.get(`${kind}: ${variant} #${r}`) ?? Number.NaN));
  const withNs = of('with UI routes');
  const withoutNs = of('without UI routes');
  return { case: kind, 'with UI, median ns': Math.round(withNs), 'without UI, median ns': Math.round(withoutNs), 'with / without': Math.round((withNs / withoutNs) * 1000) / 1000 };
});
console.table(rows);
