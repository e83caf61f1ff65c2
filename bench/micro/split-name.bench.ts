import assert from 'node:assert/strict';
import { splitName } from '../../src/routing/split-name.ts';
import { batched, newBench, rowsOf, runIfMain, type MicroSuite } from './harness.ts';
import { ROUTING_CASES } from './paths.ts';

/** src/routing/split-name.ts: the pre-router that finds the action tail and checks the name. */
export const suite: MicroSuite = {
  name: 'split-name',
  source: 'src/routing/split-name.ts',
  async run(options) {
    for (const c of ROUTING_CASES) {
      const split = splitName(c.path);
      assert.equal(split.name, c.name, c.label);
      if (c.name !== undefined) assert.ok(split.routable.startsWith(`/v2/${encodeURIComponent(c.name)}/`), c.label);
    }
    const bench = newBench(options);
    for (const c of ROUTING_CASES) bench.add(`splitName: ${c.label}`, batched(200, () => splitName(c.path)));
    await bench.run();
    return rowsOf(suite, bench);
  },
};

await runIfMain(import.meta.url, suite);
