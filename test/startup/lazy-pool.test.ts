import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expectStatus } from '../helpers/assertions.ts';
import { patchChunk, putUpload, send, sha256, startUpload } from '../helpers/oci-client.ts';
import { scrape, startMetricsRegistry, waitFor } from '../metrics/helpers.ts';

/**
 * The chunk worker pool starts with the first upload, not with the registry (issue 12: an idle
 * worker isolate costs RSS and start-up time; workers/pool.ts). Observed through the pool's own
 * gauge, registry_worker_threads, on the debug server.
 */
const threads = async (debugUrl: string): Promise<number> => (await scrape(debugUrl)).value('registry_worker_threads') ?? -1;

test('worker pool: a started registry has no worker threads, and pulls and reads do not start any', async (t) => {
  const { url, debugUrl } = await startMetricsRegistry(t);
  expectStatus(await send(url, '/v2/'), 200);
  expectStatus(await send(url, '/v2/lazy/pool/manifests/latest'), 404);
  expectStatus(await send(url, `/v2/lazy/pool/blobs/${sha256('nothing')}`), 404);
  expectStatus(await send(url, '/v2/lazy/pool/tags/list'), 404);
  assert.equal(await threads(debugUrl), 0);
});

test('worker pool: POST end-4a starts the threads before any chunk arrives; the push then completes', async (t) => {
  const { url, debugUrl } = await startMetricsRegistry(t);
  assert.equal(await threads(debugUrl), 0);
  const location = await startUpload(url, 'lazy/pool');
  await waitFor('a worker thread after POST', () => threads(debugUrl), (n) => n >= 1);
  const bytes = Buffer.from('the first push of a lazily started pool');
  expectStatus(await patchChunk(url, location, bytes, 0), 202);
  const digest = sha256(bytes);
  expectStatus(await putUpload(url, location, digest), 201);
  const blob = await send(url, `/v2/lazy/pool/blobs/${digest}`);
  expectStatus(blob, 200);
  assert.deepEqual(blob.body, bytes);
});

test('worker pool: a monolithic upload (POST with digest, end-4b) starts the pool from its first task and commits', async (t) => {
  const { url, debugUrl } = await startMetricsRegistry(t);
  const bytes = Buffer.from('monolithic, first thing this registry sees');
  const digest = sha256(bytes);
  const reply = await send(url, `/v2/lazy/mono/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bytes, headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) } });
  expectStatus(reply, 201);
  assert.ok((await threads(debugUrl)) >= 1);
  expectStatus(await send(url, `/v2/lazy/mono/blobs/${digest}`, { method: 'HEAD' }), 200);
});
