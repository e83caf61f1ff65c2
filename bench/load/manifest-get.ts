import assert from 'node:assert/strict';
import { simpleRun, type LoadScenario } from './harness.ts';
import { APP_REPO, OCI_MANIFEST, PULL_ACCEPT } from './seed.ts';

/** end-3: GET /v2/bench/app/manifests/latest with the Accept header a pulling client sends. */
export const manifestGet: LoadScenario = {
  name: 'manifest',
  title: 'GET manifest by tag',
  async prepare(target, content) {
    const path = `/v2/${APP_REPO}/manifests/latest`;
    const res = await fetch(`${target.url}${path}`, { headers: { accept: PULL_ACCEPT } });
    assert.equal(res.status, 200, `${target.name}: ${path}`);
    assert.equal(res.headers.get('content-type'), OCI_MANIFEST);
    assert.equal(res.headers.get('docker-content-digest'), content.manifest.digest);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), content.manifest.bytes, `${target.name}: manifest bytes as pushed`);
    return simpleRun({ method: 'GET', path, headers: { accept: PULL_ACCEPT } }, { status: 200, body: content.manifest.bytes.toString('utf8') });
  },
};
