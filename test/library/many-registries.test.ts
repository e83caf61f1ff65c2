import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

/*
 * Issue 12: "a harness starts and stops 50 registries in one process with no leaked handles and
 * memory back to baseline". In a child with --expose-gc (test/library/fixtures/many-registries.ts):
 * 10 rounds of 5 registries at once, inmemory and tempdir alternately, metrics on (a debug server and
 * prom-client registries each, scraped once), each pushed a 1 MiB layer
 * under the same name as its neighbours (each must serve only its own). Then:
 * - no active resource (socket, server, timer, worker port, file handle) beyond the baseline's;
 * - while the caller still holds all 50 closed registries, the Buffers' memory is back to the
 *   baseline: close() freed the inmemory content (25 × 1.4 MiB would be 35 MiB);
 * - once it drops them, the heap is back to the baseline: within 3 MiB, at once (no pool is kept
 *   for a timer: src/workers/pool.ts close()).
 * Margins are generous (a few MiB for V8's own growth); a leak of the content is ten times that.
 */
const fixture = fileURLToPath(new URL('./fixtures/many-registries.ts', import.meta.url));
const MiB = 1024 * 1024;

interface Sample {
  readonly heapUsed: number;
  readonly external: number;
  readonly resources: Readonly<Record<string, number>>;
}

test('library: 50 registries started and stopped in one process leave no handles, and memory goes back to the baseline', async (t) => {
  const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', fixture, '10', '5'], { encoding: 'utf8', timeout: 900_000, env: { ...process.env, QUAYSIDE_TEST_LOG: 'silent' } });
  assert.equal(child.status, 0, `fixture failed:\n${child.stdout}\n${child.stderr}`);
  const { registries, baseline, held, dropped } = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '') as { registries: number; baseline: Sample; held: Sample; dropped: Sample };
  const figures = `baseline ${JSON.stringify(baseline)}, held ${JSON.stringify(held)}, dropped ${JSON.stringify(dropped)}`;
  t.diagnostic(figures);
  assert.equal(registries, 50);
  assert.deepEqual(held.resources, baseline.resources, `active resources after close(): ${figures}`);
  assert.deepEqual(dropped.resources, baseline.resources, figures);
  assert.ok(held.external - baseline.external < 4 * MiB, `Buffers still held after close(): ${figures}`);
  assert.ok(dropped.heapUsed - baseline.heapUsed < 3 * MiB, `heap not back to baseline once they are dropped: ${figures}`);
});
