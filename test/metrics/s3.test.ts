import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expectStatus } from '../helpers/assertions.ts';
import { pushImage, send } from '../helpers/oci-client.ts';
import { s3ParamsForTest, s3Unavailable } from '../helpers/s3.ts';
import { scrape, startMetricsRegistry, waitFor } from './helpers.ts';

test('metrics on s3: storage actions are timed with driver="s3", and the health check writes to the bucket', { skip: s3Unavailable }, async (t) => {
  const s3 = s3ParamsForTest(t);
  const { url, debugUrl } = await startMetricsRegistry(t, { driverParams: { s3 }, health: { storagedriver: { enabled: true, interval: '200ms', threshold: 1 } } });
  await pushImage(url, 'app', 'v1', ['s3 layer']);
  expectStatus(await send(url, '/v2/app/manifests/v1'), 200);
  const s = await scrape(debugUrl);
  for (const action of ['PutContent', 'Stat', 'GetContent']) {
    assert.ok((s.value('registry_storage_action_seconds_count', { driver: 's3', action }) ?? 0) > 0, `${action}\n${s.text}`);
  }
  assert.equal(s.sum('registry_storage_action_seconds_count', { driver: 'filesystem' }), 0);
  const health = await waitFor('the s3 check', async () => JSON.parse((await send(debugUrl, '/debug/health')).body.toString()) as Record<string, string>, (h) => h['storagedriver_s3'] === 'ok');
  assert.deepEqual(health, { storagedriver_s3: 'ok' });
});
