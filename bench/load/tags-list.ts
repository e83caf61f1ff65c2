import assert from 'node:assert/strict';
import { simpleRun, type LoadScenario } from './harness.ts';
import { TAGS_REPO } from './seed.ts';

/** end-8a: GET /v2/bench/many-tags/tags/list, 50 tags, no pagination asked for. */
export const tagsList: LoadScenario = {
  name: 'tags',
  title: 'GET tags list (50 tags)',
  async prepare(target, content) {
    const path = `/v2/${TAGS_REPO}/tags/list`;
    const res = await fetch(`${target.url}${path}`);
    assert.equal(res.status, 200, `${target.name}: GET ${path}`);
    const text = await res.text();
    const body = JSON.parse(text) as { name?: unknown; tags?: unknown };
    assert.equal(body.name, TAGS_REPO);
    assert.ok(Array.isArray(body.tags));
    assert.deepEqual([...(body.tags as string[])].sort(), content.tags, `${target.name}: tags`);
    // Every reply must equal this first one byte for byte (each target serialises its own way).
    return simpleRun({ method: 'GET', path }, { status: 200, body: text });
  },
};
