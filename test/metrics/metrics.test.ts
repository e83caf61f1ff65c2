import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { garbageCollect } from '../../src/gc/garbage-collect.ts';
import { FilesystemDriver } from '../../src/storage/filesystem/driver.ts';
import { describe, expectError, expectStatus } from '../helpers/assertions.ts';
import { pushBlob, pushImage, send, sha256 } from '../helpers/oci-client.ts';
import { scrape, startMetricsRegistry, waitFor } from './helpers.ts';

const REQUESTS = 'registry_http_requests_total';

test('metrics /metrics after a push and pulls: requests by handler, method and status class move', async (t) => {
  const { url, debugUrl } = await startMetricsRegistry(t);
  const before = await scrape(debugUrl);
  assert.equal(before.sum(REQUESTS), 0, 'no request yet');

  const { digest } = await pushImage(url, 'library/app', 'v1', ['layer one']);
  for (let i = 0; i < 3; i++) expectStatus(await send(url, '/v2/library/app/manifests/v1'), 200);
  expectStatus(await send(url, '/v2/library/app/manifests/v1', { method: 'HEAD' }), 200);
  expectError(await send(url, '/v2/library/app/manifests/v2'), 404, 'MANIFEST_UNKNOWN');
  expectError(await send(url, '/nowhere'), 404, 'UNSUPPORTED');

  const after = await scrape(debugUrl);
  assert.equal(after.value(REQUESTS, { handler: 'end-3', method: 'GET', code: '2xx' }), 3, after.text);
  assert.equal(after.value(REQUESTS, { handler: 'end-3', method: 'HEAD', code: '2xx' }), 1);
  assert.equal(after.value(REQUESTS, { handler: 'end-3', method: 'GET', code: '4xx' }), 1);
  assert.equal(after.value(REQUESTS, { handler: 'end-7', method: 'PUT', code: '2xx' }), 1);
  assert.equal(after.value(REQUESTS, { handler: '-', method: 'GET', code: '4xx' }), 1, 'a path no route matches');
  // Two blobs (config, layer), each POST then PUT.
  assert.equal(after.value(REQUESTS, { handler: 'end-4a, end-4b, end-11', method: 'POST', code: '2xx' }), 2);
  assert.equal(after.value(REQUESTS, { handler: 'end-6', method: 'PUT', code: '2xx' }), 2);

  // The latency histogram counts the same requests, cumulative buckets ending in +Inf.
  const duration = 'registry_http_request_duration_seconds';
  const labels = { handler: 'end-3', method: 'GET', code: '2xx' };
  assert.equal(after.value(`${duration}_count`, labels), 3);
  assert.equal(after.value(`${duration}_bucket`, { ...labels, le: '+Inf' }), 3);
  assert.ok((after.value(`${duration}_sum`, labels) ?? 0) > 0);
  assert.ok((after.value(`${duration}_bucket`, { ...labels, le: '0.0001' }) ?? -1) <= (after.value(`${duration}_bucket`, { ...labels, le: '60' }) ?? -1));

  // Bytes as they went over the wire: a manifest GET sends at least the manifest, a PUT receives at least its body.
  const manifest = await send(url, `/v2/library/app/manifests/${digest}`);
  const sent = await scrape(debugUrl);
  assert.ok((sent.value('registry_http_response_size_bytes_sum', { handler: 'end-3', method: 'GET', code: '2xx' }) ?? 0) >= 4 * manifest.body.length);
  assert.ok((sent.value('registry_http_request_size_bytes_sum', { handler: 'end-7', method: 'PUT', code: '2xx' }) ?? 0) >= manifest.body.length);
  assert.equal(sent.value(REQUESTS, { handler: 'end-3', method: 'GET', code: '2xx' }), 4, 'one more GET, by digest');
});

test('metrics bytes of an upload body and of a streamed blob are counted in the size histograms', async (t) => {
  const { url, debugUrl } = await startMetricsRegistry(t);
  const big = Buffer.alloc(300_000, 7); // over the small-blob cache: streamed from storage
  const digest = await pushBlob(url, 'big', big);
  const got = await send(url, `/v2/big/blobs/${digest}`);
  expectStatus(got, 200);
  assert.equal(sha256(got.body), digest);
  // A streamed answer is counted when the server's side of it is done ('close' on the response),
  // which on a busy machine can come after the client has read the last byte: wait for it.
  const getSent = { handler: 'end-2', method: 'GET', code: '2xx' };
  const s = await waitFor('the streamed GET counted', () => scrape(debugUrl), (m) => m.value('registry_http_response_size_bytes_count', getSent) === 1, 10_000);
  // pushBlob sends the bytes in one PATCH, then an empty PUT.
  assert.ok((s.value('registry_http_request_size_bytes_sum', { handler: 'end-5', method: 'PATCH', code: '2xx' }) ?? 0) >= big.length, s.text);
  assert.ok((s.value('registry_http_response_size_bytes_sum', getSent) ?? 0) >= big.length, s.text);
  assert.equal(s.value('registry_http_response_size_bytes_bucket', { handler: 'end-2', method: 'GET', code: '2xx', le: '262144' }), 0);
  assert.equal(s.value('registry_http_response_size_bytes_bucket', { handler: 'end-2', method: 'GET', code: '2xx', le: '524288' }), 1);
});

test('metrics storage actions, worker pool, hash engine, caches and uploads in flight are exposed', async (t) => {
  const { url, debugUrl } = await startMetricsRegistry(t);
  await pushImage(url, 'app', 'v1', ['a layer']);
  for (let i = 0; i < 3; i++) expectStatus(await send(url, '/v2/app/manifests/v1'), 200);
  expectError(await send(url, '/v2/app/manifests/nosuchtag'), 404, 'MANIFEST_UNKNOWN');
  const s = await scrape(debugUrl);
  const action = 'registry_storage_action_seconds_count';
  for (const name of ['PutContent', 'Stat', 'GetContent']) assert.ok((s.value(action, { driver: 'filesystem', action: name }) ?? 0) > 0, `${name}\n${s.text}`);
  assert.ok((s.value('registry_worker_task_seconds_count') ?? 0) > 0, 'chunk tasks ran');
  assert.ok((s.value('registry_worker_task_seconds_sum') ?? 0) > 0);
  assert.ok(s.value('registry_worker_task_seconds', { quantile: '0.5' }) !== undefined);
  assert.equal(s.value('registry_worker_queue_depth'), 0);
  assert.equal(s.value('registry_worker_threads'), 1);
  assert.equal(s.value('registry_uploads_in_flight'), 0);
  assert.equal(s.sum('registry_hash_engine_info'), 1);
  assert.match(s.text, /registry_hash_engine_info\{engine="(native|hash-wasm)"\} 1/);
  // The push wrote the tag through its cache: every GET by tag found it in memory; the unknown
  // tag was a miss. The manifest's bytes were read once, then found in memory.
  assert.ok((s.value('registry_storage_cache_hits_total', { cache: 'tags' }) ?? 0) >= 3, s.text);
  assert.ok((s.value('registry_storage_cache_hits_total', { cache: 'manifests' }) ?? 0) >= 2);
  assert.ok((s.value('registry_storage_cache_misses_total', { cache: 'manifests' }) ?? 0) >= 1);
  assert.ok((s.value('registry_storage_cache_misses_total', { cache: 'tags' }) ?? 0) >= 1);
  for (const cache of ['blob_links', 'small_blobs', 'revisions', 'tag_lists']) assert.ok(s.value('registry_storage_cache_hits_total', { cache }) !== undefined, cache);
  // process_* and nodejs_* from prom-client, as distribution serves go_* and process_*.
  assert.ok(s.value('process_cpu_user_seconds_total') !== undefined);
});

test('metrics registry_uploads_in_flight counts a PATCH while its body is still arriving', async (t) => {
  const { url, debugUrl } = await startMetricsRegistry(t);
  const post = await send(url, '/v2/slow/blobs/uploads/', { method: 'POST' });
  expectStatus(post, 202);
  const location = post.headers.get('location') ?? '';
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  async function* body(): AsyncGenerator<Uint8Array> {
    yield Buffer.alloc(1000, 1);
    await held;
    yield Buffer.alloc(1000, 2);
  }
  const patch = send(url, location, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream' }, body: body() });
  await waitFor('an upload in flight', async () => (await scrape(debugUrl)).value('registry_uploads_in_flight'), (n) => n === 1);
  release();
  expectStatus(await patch, 202);
  assert.equal((await scrape(debugUrl)).value('registry_uploads_in_flight'), 0);
});

test('metrics garbage collection and upload purge runs are counted', async (t) => {
  const { url, debugUrl, root, registry } = await startMetricsRegistry(t);
  await pushBlob(url, 'app', 'unreferenced');
  // The purge first runs a second after start (uploads/purge.ts schedulePurging).
  await waitFor('a purge run', async () => (await scrape(debugUrl)).value('registry_purge_runs_total', { result: 'ok' }) ?? 0, (n) => n >= 1);
  // Counts are this registry's own (metrics/runs.ts): a run from outside it, on the same root, is not one.
  await garbageCollect(new FilesystemDriver(root), { dryRun: true, deleteUntagged: false, graceMs: 0, settleMs: 0 });
  const before = await scrape(debugUrl);
  assert.equal(before.value('registry_gc_runs_total', { result: 'ok' }), 0);
  const dry = await registry.garbageCollect({ dryRun: true, deleteUntagged: false, graceMs: 0, settleMs: 0 });
  const report = await registry.garbageCollect({ dryRun: false, deleteUntagged: false, graceMs: 0, settleMs: 0 });
  assert.deepEqual([dry.blobsDeleted.length, report.blobsDeleted.length], [1, 1]);
  const after = await scrape(debugUrl);
  assert.equal(after.value('registry_gc_runs_total', { result: 'ok' }), 2);
  assert.equal(after.value('registry_gc_runs_total', { result: 'failed' }), 0);
  // The dry run's "deleted" is what it would delete: only the real run's blob is counted.
  assert.equal(after.value('registry_gc_deleted_blobs_total'), 1);
  assert.equal(after.value('registry_gc_deleted_manifests_total'), 0);
});

test('metrics notification queue depth and failures come from the source wired in, per endpoint', async (t) => {
  const { registry, debugUrl } = await startMetricsRegistry(t);
  const none = await scrape(debugUrl);
  assert.equal(none.sum('registry_notifications_pending_total'), 0);
  let pending = 3;
  registry.metrics?.watchNotifications(() => new Map([['ci', { pending: () => pending, failures: () => 2 }]]));
  const s = await scrape(debugUrl);
  assert.equal(s.value('registry_notifications_pending_total', { endpoint: 'ci' }), 3);
  assert.equal(s.value('registry_notifications_events_total', { type: 'Failures', endpoint: 'ci' }), 2);
  pending = 0;
  assert.equal((await scrape(debugUrl)).value('registry_notifications_pending_total', { endpoint: 'ci' }), 0);
});

test('metrics http.debug.prometheus.path moves /metrics; the debug server answers OCI errors for anything else', async (t) => {
  const { debugUrl } = await startMetricsRegistry(t, { debug: { prometheus: { path: '/internal/prom' } } });
  await scrape(debugUrl, '/internal/prom');
  expectError(await send(debugUrl, '/metrics'), 404, 'UNSUPPORTED');
  expectError(await send(debugUrl, '/internal/prom', { method: 'POST' }), 405, 'UNSUPPORTED');
  expectError(await send(debugUrl, '/debug/health', { method: 'DELETE' }), 405, 'UNSUPPORTED');
  const head = await send(debugUrl, '/internal/prom', { method: 'HEAD' });
  expectStatus(head, 200);
  assert.equal(head.body.length, 0);
});

test('metrics off: prometheus.enabled false serves /debug/health but no /metrics, and nothing is instrumented', async (t) => {
  const { url, debugUrl, registry } = await startMetricsRegistry(t, { prometheus: false });
  assert.equal(registry.metrics, undefined);
  expectError(await send(debugUrl, '/metrics'), 404, 'UNSUPPORTED');
  const health = await send(debugUrl, '/debug/health');
  expectStatus(health, 200);
  assert.deepEqual(JSON.parse(health.body.toString()), {}, describe(health));
  expectStatus(await send(url, '/v2/'), 200);
});

test('metrics a debug addr that is taken stops start-up with the error, leaving nothing running', async (t) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => taken.close(() => resolve())));
  const { port } = taken.address() as AddressInfo;
  await assert.rejects(startMetricsRegistry(t, { debug: { addr: `127.0.0.1:${port}` } }), /EADDRINUSE/);
});
