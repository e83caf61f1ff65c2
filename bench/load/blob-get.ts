import assert from 'node:assert/strict';
import { simpleRun, type LoadScenario } from './harness.ts';
import { APP_REPO } from './seed.ts';

/** end-2: GET /v2/bench/app/blobs/<4 KiB layer>, body checked on every reply. */
export const blobGet: LoadScenario = {
  name: 'blob-get',
  title: 'GET 4 KiB blob',
  async prepare(target, content) {
    const path = `/v2/${APP_REPO}/blobs/${content.layer.digest}`;
    const res = await fetch(`${target.url}${path}`);
    assert.equal(res.status, 200, `${target.name}: GET ${path}`);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), content.layer.bytes, `${target.name}: blob bytes`);
    return simpleRun({ method: 'GET', path }, { status: 200, body: content.layer.bytes.toString('utf8') });
  },
};
