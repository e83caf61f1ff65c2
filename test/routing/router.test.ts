import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RegistryError } from '../../src/errors/registry-error.ts';
import { createRouter } from '../../src/routing/router.ts';

const DIGEST = `sha256:${'a'.repeat(64)}`;

function errorName(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof RegistryError) return err.errorName;
    throw err;
  }
  return 'matched';
}

test('router: a path matched again (from the match cache) gives the same route and params', () => {
  const router = createRouter();
  const first = router.match('GET', '/v2/a/b/manifests/latest');
  const again = router.match('GET', '/v2/a/b/manifests/latest');
  assert.equal(again.route.id, first.route.id);
  assert.deepEqual(again.params, { name: 'a/b', reference: 'latest' });
  // The same path under another method is its own entry.
  assert.notEqual(router.match('PUT', '/v2/a/b/manifests/latest').route.id, first.route.id);
  assert.deepEqual(router.match('HEAD', `/v2/a/b/blobs/${DIGEST}`).params, { name: 'a/b', digest: DIGEST });
});

test('router: errors are answered every time, never cached as matches', () => {
  const router = createRouter();
  for (let i = 0; i < 3; i++) {
    assert.equal(errorName(() => router.match('GET', '/v2/UPPER/manifests/latest')), 'NAME_INVALID');
    assert.equal(errorName(() => router.match('POST', '/v2/a/manifests/latest')), 'UNSUPPORTED');
    assert.equal(errorName(() => router.match('GET', '/v2/a/nothing')), 'ROUTE_UNKNOWN');
  }
});

test('router: past the cache bound (4096 paths a method) every path still matches right', () => {
  const router = createRouter();
  for (let i = 0; i < 5000; i++) {
    const match = router.match('GET', `/v2/repo${i}/tags/list`);
    assert.equal(match.params.name, `repo${i}`);
  }
  assert.equal(router.match('GET', '/v2/repo1/tags/list').params.name, 'repo1');
  assert.equal(router.match('GET', '/v2/repo4999/tags/list').params.name, 'repo4999');
});
