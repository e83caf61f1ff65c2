import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createRegistry, type ManifestEvent, type Registry } from '../../src/index.ts';
import { pushImage, send } from '../helpers/oci-client.ts';

/*
 * What a harness test looks like: one registry for the file (in memory, port 0, silent), pushes
 * over plain HTTP, assertions on what it answers and on what it says happened, close() at the end.
 * From the published package the import is `import { createRegistry } from 'quayside'`.
 */
let registry: Registry;
const manifests: ManifestEvent[] = [];

before(async () => {
  registry = await createRegistry();
  registry.on('manifest', (event) => manifests.push(event));
});
after(() => registry.close());

test('example harness: push an image, pull it by tag, see the push as an event', async () => {
  const pushed = await pushImage(registry.url, 'harness/app', 'v1', ['a layer']);

  const pulled = await send(registry.url, '/v2/harness/app/manifests/v1', { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(pulled.status, 200);
  assert.equal(pulled.headers.get('docker-content-digest'), pushed.digest);

  const tags = await fetch(`${registry.url}/v2/harness/app/tags/list`);
  assert.deepEqual(await tags.json(), { name: 'harness/app', tags: ['v1'] });

  // Content events are emitted before the 201 goes out: no waiting needed.
  assert.deepEqual(manifests.map(({ repository, digest, tags: named }) => ({ repository, digest, tags: named })), [{ repository: 'harness/app', digest: pushed.digest, tags: ['v1'] }]);
});
