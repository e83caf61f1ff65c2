import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildConfig } from '../../src/config/load.ts';
import { createRegistry } from '../../src/registry.ts';
import { pushImage } from '../helpers/oci-client.ts';
import { scrape, waitFor } from '../metrics/helpers.ts';
import { Receiver } from './receiver.ts';
import { endpoint } from './registry.ts';

test('notifications + metrics: an endpoint answering 500 shows as pending events and failures on /metrics, and drains once it accepts', async (t) => {
  const receiver = await Receiver.start(t);
  receiver.status = 500;
  const root = await mkdtemp(join(tmpdir(), 'quayside-notify-metrics-'));
  const config = buildConfig({
    log: { level: process.env['QUAYSIDE_TEST_LOG'] ?? 'silent' },
    http: { addr: '127.0.0.1:0', debug: { addr: '127.0.0.1:0', prometheus: { enabled: true } } },
    storage: { filesystem: { rootdirectory: root } },
    notifications: { endpoints: [endpoint('ci', receiver.url)] },
    quayside: { notifications: { instanceid: 'metrics-test' } },
  });
  const registry = await createRegistry(config, { workers: 1 });
  t.after(async () => {
    await registry.close(1000);
    await rm(root, { recursive: true, force: true });
  });
  const debugUrl = registry.debugUrl ?? assert.fail('no debug server');
  await pushImage(registry.url, 'team/app', 'v1');
  const failing = await waitFor('failures and pending for ci', () => scrape(debugUrl), (s) => (s.value('registry_notifications_events_total', { type: 'Failures', endpoint: 'ci' }) ?? 0) >= 1 && (s.value('registry_notifications_pending_total', { endpoint: 'ci' }) ?? 0) >= 1);
  assert.ok((failing.value('registry_notifications_pending_total', { endpoint: 'ci' }) ?? 0) >= 1);
  receiver.status = 200;
  await waitFor('ci drained', () => scrape(debugUrl), (s) => s.value('registry_notifications_pending_total', { endpoint: 'ci' }) === 0);
  assert.ok(receiver.events.length >= 1);
});
