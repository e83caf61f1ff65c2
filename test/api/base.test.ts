import { test } from 'node:test';
import { expectError, expectHeader, expectStatus } from '../helpers/assertions.ts';
import { send } from '../helpers/oci-client.ts';
import { startRegistry } from '../helpers/registry.ts';

test('GET end-1: /v2/ answers 200 {} with the API version header', async (t) => {
  const { url } = await startRegistry(t);
  const reply = await send(url, '/v2/');
  expectStatus(reply, 200);
  expectHeader(reply, 'docker-distribution-api-version', 'registry/2.0');
  expectHeader(reply, 'content-type', 'application/json');
  if (reply.body.toString() !== '{}') throw new Error(`body ${reply.body.toString()}`);
});

test('HEAD end-1: /v2/ answers 200 with no body', async (t) => {
  const { url } = await startRegistry(t);
  const reply = await send(url, '/v2/', { method: 'HEAD' });
  expectStatus(reply, 200);
  if (reply.body.length !== 0) throw new Error('HEAD sent a body');
});

test('routing: unknown path → 404 with an OCI error body and the version header', async (t) => {
  const { url } = await startRegistry(t);
  const reply = await send(url, '/v2/foo/bar');
  expectError(reply, 404, 'UNSUPPORTED');
  expectHeader(reply, 'docker-distribution-api-version', 'registry/2.0');
});

test('routing: known path with an unknown method → 405 UNSUPPORTED', async (t) => {
  const { url } = await startRegistry(t);
  expectError(await send(url, '/v2/', { method: 'DELETE' }), 405, 'UNSUPPORTED');
  expectError(await send(url, '/v2/foo/tags/list', { method: 'POST' }), 405, 'UNSUPPORTED');
});
