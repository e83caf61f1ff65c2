import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RegistryError } from '../../src/errors/registry-error.ts';
import { splitName } from '../../src/routing/split-name.ts';
import { createRouter } from '../../src/routing/router.ts';

const D = `sha256:${'a'.repeat(64)}`;

test('splitName: the action tail is found from the right, even when the name contains action words', () => {
  const cases: [string, string | undefined, string][] = [
    ['/v2/', undefined, '/v2/'],
    ['/v2/_catalog', undefined, '/v2/_catalog'],
    ['/v2/library/ubuntu/manifests/latest', 'library/ubuntu', '/v2/library%2Fubuntu/manifests/latest'],
    ['/v2/a/blobs/uploads/', 'a', '/v2/a/blobs/uploads/'],
    ['/v2/a/blobs/uploads', 'a', '/v2/a/blobs/uploads/'],
    ['/v2/a/blobs/uploads/u-1', 'a', '/v2/a/blobs/uploads/u-1'],
    [`/v2/a/blobs/${D}`, 'a', `/v2/a/blobs/${D}`],
    ['/v2/blobs/blobs/uploads/x', 'blobs', '/v2/blobs/blobs/uploads/x'],
    [`/v2/x/blobs/uploads/blobs/${D}`, 'x/blobs/uploads', `/v2/x%2Fblobs%2Fuploads/blobs/${D}`],
    ['/v2/manifests/manifests/manifests', 'manifests', '/v2/manifests/manifests/manifests'],
    ['/v2/a/manifests/b/manifests/latest', 'a/manifests/b', '/v2/a%2Fmanifests%2Fb/manifests/latest'],
    ['/v2/tags/list/tags/list', 'tags/list', '/v2/tags%2Flist/tags/list'],
    [`/v2/a/b/c/referrers/${D}`, 'a/b/c', `/v2/a%2Fb%2Fc/referrers/${D}`],
    ['/v2/nothing', undefined, '/v2/nothing'],
  ];
  for (const [path, name, routable] of cases) assert.deepEqual(splitName(path), { name, routable }, path);
});

test('splitName: names outside the spec grammar → NAME_INVALID', () => {
  for (const name of ['UPPER', 'a//b', '-a', 'a-', 'a/../b', '..', 'a..b', 'a%2fb', 'x'.repeat(256), 'a/']) {
    assert.throws(() => splitName(`/v2/${name}/tags/list`), (err: unknown) => err instanceof RegistryError && err.errorName === 'NAME_INVALID', name);
  }
});

test('router: the longest legal name (255 chars, %2F-encoded past maxParamLength 100) and a sha512 digest route', () => {
  const router = createRouter();
  const name = Array.from({ length: 64 }, () => 'abc').join('/').slice(0, 255).replace(/\/$/, 'x');
  assert.equal(name.length, 255);
  const digest = `sha512:${'b'.repeat(128)}`;
  const match = router.match('GET', `/v2/${name}/blobs/${digest}`);
  assert.equal(match.route.id, 'end-2');
  assert.equal(match.params.name, name);
  assert.equal(match.params.digest, digest);
});
