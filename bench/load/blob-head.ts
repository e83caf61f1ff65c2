import assert from 'node:assert/strict';
import { headResponsesHaveNoBody, simpleRun, type LoadScenario } from './harness.ts';
import { APP_REPO, LAYER_SIZE } from './seed.ts';

/** end-2: HEAD /v2/bench/app/blobs/<4 KiB layer>, the existence check before every layer push. */
export const blobHead: LoadScenario = {
  name: 'blob-head',
  title: 'HEAD small blob',
  async prepare(target, content) {
    const path = `/v2/${APP_REPO}/blobs/${content.layer.digest}`;
    const res = await fetch(`${target.url}${path}`, { method: 'HEAD' });
    assert.equal(res.status, 200, `${target.name}: HEAD ${path}`);
    assert.equal(res.headers.get('content-length'), String(LAYER_SIZE));
    assert.equal(res.headers.get('docker-content-digest'), content.layer.digest);
    return simpleRun({ method: 'HEAD', path }, { status: 200, body: '' }, { setupClient: headResponsesHaveNoBody });
  },
};
