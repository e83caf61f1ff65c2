/**
 * Micro-benchmarks: every bench/micro/*.bench.ts suite, one table, one results file.
 *
 *   npm run bench:micro -- [--only router,sha256] [--time 500] [--warmup 100]
 *
 * Each suite asserts its answers before timing (STYLE habit 10) and mirrors one source file.
 */
import { parseArgs } from 'node:util';
import { report, type Row } from '../lib/report.ts';
import { suite as engine } from './engine.bench.ts';
import { defaultMicroOptions, type MicroSuite } from './harness.ts';
import { suite as headers } from './headers.bench.ts';
import { suite as router } from './router.bench.ts';
import { suite as splitName } from './split-name.bench.ts';
import { suite as validate } from './validate.bench.ts';

const SUITES: readonly MicroSuite[] = [splitName, router, headers, engine, validate];

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    time: { type: 'string', default: String(defaultMicroOptions.time) },
    warmup: { type: 'string', default: String(defaultMicroOptions.warmupTime) },
  },
});
const only = values.only?.split(',');
const unknown = only?.filter((name) => !SUITES.some((s) => s.name === name)) ?? [];
if (unknown.length > 0) throw new Error(`unknown suite(s) ${unknown.join(', ')}; known: ${SUITES.map((s) => s.name).join(', ')}`);

const options = { time: Number(values.time), warmupTime: Number(values.warmup) };
const rows: Row[] = [];
for (const suite of SUITES.filter((s) => !only || only.includes(s.name))) {
  process.stderr.write(`micro: ${suite.name} (${suite.source})\n`);
  rows.push(...(await suite.run(options)));
}
await report('micro', rows, { options });
