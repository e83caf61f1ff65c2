import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

/*
 * The registry's API tests again, on the inmemory driver: test/helpers/registry.ts starts every
 * registry on it when QUAYSIDE_TEST_STORAGE=inmemory. These files run whole. The other test/api
 * files also run there by hand (`QUAYSIDE_TEST_STORAGE=inmemory node scripts/run-tests.mjs
 * test/api`): 209 of their 221 tests pass; the 12 others look at or change the storage root on
 * disk (concurrency's blob files, catalog's "another process made it", purging's folders,
 * manifests' vanished layer) or restart a registry on the same root, which memory cannot outlive.
 * test/library/api.test.ts covers the same flows (uploads, mount, GC, catalog) on inmemory instead.
 */
const FILES = ['test/api/bad-input', 'test/api/base', 'test/api/blobs', 'test/api/head', 'test/api/limits', 'test/api/referrers', 'test/api/tags'];
const repo = fileURLToPath(new URL('../..', import.meta.url));

test('inmemory matrix: test/api (bad input, base, blobs, HEAD, limits, referrers, tags) passes on the inmemory driver', () => {
  // NODE_TEST_CONTEXT would make the inner runner report to this one instead of printing its results.
  const { NODE_TEST_CONTEXT: _ours, ...env } = process.env;
  const run = spawnSync(process.execPath, ['scripts/run-tests.mjs', ...FILES], {
    cwd: repo,
    encoding: 'utf8',
    timeout: 900_000,
    env: { ...env, QUAYSIDE_TEST_STORAGE: 'inmemory', QUAYSIDE_TEST_LOG: 'silent' },
  });
  const summary = run.stdout.split('\n').filter((line) => /^ℹ (tests|pass|fail)|^✖/.test(line)).join('\n');
  assert.equal(run.status, 0, `${summary}\n${run.stderr.slice(-4000)}`);
  assert.match(run.stdout, /^ℹ fail 0$/m);
  assert.doesNotMatch(run.stdout, /^ℹ pass 0$/m);
});
