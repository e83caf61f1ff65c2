import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

/*
 * Issue 12: a harness that starts and stops registries must get their worker threads and pools
 * back at close(), not some time later. piscina 5.3's own close() leaves an unref'd 30 s timer
 * (closeTimeout) that keeps the closed pool reachable (src/workers/pool.ts says why and what
 * we do instead). In a child (test/library/fixtures/pool-release.ts), after close() of two
 * registries that ran chunked uploads, and while the caller still holds both registry objects:
 * - no piscina pool and no Worker object is left beyond the start's, after full collections;
 * - no active resource (socket, server, timer, worker port) is left beyond the start's;
 * - the child ends on its own (it never calls process.exit), well inside a generous deadline.
 */
const fixture = fileURLToPath(new URL('./fixtures/pool-release.ts', import.meta.url));

interface Sample {
  readonly pools: number;
  readonly workers: number;
  readonly resources: Readonly<Record<string, number>>;
}

test('library: close() of registries that ran uploads lets their worker threads and pools go at once, and the process ends on its own', (t) => {
  const child = spawnSync(process.execPath, ['--expose-gc', '--no-warnings', '--import', 'tsx', fixture], { encoding: 'utf8', timeout: 180_000, env: { ...process.env, QUAYSIDE_TEST_LOG: 'silent' } });
  assert.equal(child.signal, null, `the child did not end on its own within 180 s:\n${child.stdout}\n${child.stderr}`);
  assert.equal(child.status, 0, `fixture failed:\n${child.stdout}\n${child.stderr}`);
  const { baseline, serving, closed, held } = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '') as { baseline: Sample; serving: Sample; closed: Sample; held: number };
  const figures = `baseline ${JSON.stringify(baseline)}, serving ${JSON.stringify(serving)}, closed ${JSON.stringify(closed)}`;
  t.diagnostic(figures);
  assert.equal(held, 2);
  // The uploads really ran on the pools: two pools, two threads each.
  assert.equal(serving.pools - baseline.pools, 2, figures);
  assert.ok(serving.workers - baseline.workers >= 4, figures);
  assert.equal(closed.pools, baseline.pools, `a closed pool is still reachable: ${figures}`);
  assert.equal(closed.workers, baseline.workers, `a closed pool's Worker is still reachable or running: ${figures}`);
  assert.deepEqual(closed.resources, baseline.resources, `active resources after close(): ${figures}`);
});
