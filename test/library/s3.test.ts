import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRegistry } from '../../src/index.ts';
import { S3Driver } from '../../src/storage/s3/driver.ts';
import { pushImage, send } from '../helpers/oci-client.ts';
import { s3ParamsForTest, s3Unavailable } from '../helpers/s3.ts';

test('library storage { s3 }: the registry stores in the bucket, under the rootdirectory given; close() leaves the content', { skip: s3Unavailable }, async (t) => {
  const s3 = s3ParamsForTest(t);
  const registry = await createRegistry({ storage: { s3 }, config: { storage: { redirect: { disable: true } } } });
  t.after(() => registry.close());
  assert.match(registry.storage, /^s3 bucket=/);
  assert.equal(registry.rootdirectory, undefined);
  const { digest } = await pushImage(registry.url, 'lib/s3', 'v1', ['on s3']);
  await registry.close();

  const driver = new S3Driver(s3);
  t.after(async () => driver.close());
  assert.equal((await driver.getContent('/docker/registry/v2/repositories/lib/s3/_manifests/tags/v1/current/link')).toString(), digest);
  const again = await createRegistry({ storage: { s3 } });
  t.after(() => again.close());
  assert.equal((await send(again.url, '/v2/lib/s3/manifests/v1', { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).headers.get('docker-content-digest'), digest);
});
