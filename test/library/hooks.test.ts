import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { buildConfig } from '../../src/config/load.ts';
import { attachEvents, type RegistryEventMap } from '../../src/library/hooks.ts';
import { createRegistry } from '../../src/registry.ts';
import type { Services } from '../../src/services.ts';
import { pushBlob } from '../helpers/oci-client.ts';

/*
 * "Zero cost when nobody listens" (issue 12's hooks): with no listener the server sees exactly the
 * seams it had without the library (no request observer, no event sink, so server.ts does not even
 * read the clock); with one, the emitter's; with metrics or webhooks on, theirs keep working beside it.
 */
test('library hooks: the request observer and event sink are there only while someone listens', async (t) => {
  let services: Services | undefined;
  const emitter = new EventEmitter<RegistryEventMap>();
  const registry = await createRegistry(buildConfig({ log: { level: 'silent' }, http: { addr: '127.0.0.1:0' }, storage: { inmemory: {} } }), {
    workers: 1,
    hooks: (built) => {
      attachEvents(built, emitter);
      services = built;
    },
  });
  t.after(() => registry.close());
  assert.ok(services);
  assert.equal(services.requestMetrics, undefined);
  assert.equal(services.notifications, undefined);

  const blobs: string[] = [];
  const onBlob = (event: { digest: string }): void => void blobs.push(event.digest);
  emitter.on('blob', onBlob);
  assert.equal(services.requestMetrics, undefined, 'a blob listener does not time requests');
  assert.notEqual(services.notifications, undefined);
  const digest = await pushBlob(registry.url, 'hooks/app', 'heard');
  assert.deepEqual(blobs, [digest]);

  emitter.off('blob', onBlob);
  assert.equal(services.notifications, undefined);
  emitter.on('request', () => undefined);
  assert.notEqual(services.requestMetrics, undefined);
});

test('library hooks: with metrics on, the metrics observer still counts while the emitter listens', async (t) => {
  let services: Services | undefined;
  const emitter = new EventEmitter<RegistryEventMap>();
  const config = buildConfig({ log: { level: 'silent' }, http: { addr: '127.0.0.1:0', debug: { addr: '127.0.0.1:0', prometheus: { enabled: true } } }, storage: { inmemory: {} } });
  const registry = await createRegistry(config, { workers: 1, hooks: (built) => { attachEvents(built, emitter); services = built; } });
  t.after(() => registry.close());
  const metricsObserver = services?.requestMetrics;
  assert.ok(metricsObserver, 'metrics observe without any listener');
  let heard = 0;
  emitter.on('request', () => void heard++);
  assert.notEqual(services?.requestMetrics, metricsObserver, 'the emitter wraps it while listened to');
  await pushBlob(registry.url, 'hooks/metrics', 'counted');
  const scrape = await (await fetch(`${registry.debugUrl}/metrics`)).text();
  assert.match(scrape, /registry_http_requests_total\{[^}]*\} [1-9]/);
  assert.ok(heard >= 3, `heard ${heard} requests`);
});
