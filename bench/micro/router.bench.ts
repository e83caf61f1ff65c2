import assert from 'node:assert/strict';
import { createRouter } from '../../src/routing/router.ts';
import { batched, newBench, rowsOf, runIfMain, type MicroSuite } from './harness.ts';
import { ROUTING_CASES } from './paths.ts';

/** src/routing/router.ts: createRouter().match, the pre-router plus find-my-way, per request. */
export const suite: MicroSuite = {
  name: 'router',
  source: 'src/routing/router.ts',
  async run(options) {
    const router = createRouter();
    for (const c of ROUTING_CASES) {
      const match = router.match(c.method, c.path);
      assert.equal(match.route.id, c.routeId, c.label);
      assert.equal(match.route.method, c.method, c.label);
      if (c.name !== undefined) assert.equal(match.params.name, c.name, c.label);
      const params: Readonly<Record<string, string | undefined>> = { ...match.params };
      for (const [key, value] of Object.entries(c.params)) assert.equal(params[key], value, `${c.label}: ${key}`);
    }
    const bench = newBench(options);
    for (const c of ROUTING_CASES) bench.add(`match: ${c.label}`, batched(200, () => router.match(c.method, c.path)));
    await bench.run();
    return rowsOf(suite, bench);
  },
};

await runIfMain(import.meta.url, suite);
