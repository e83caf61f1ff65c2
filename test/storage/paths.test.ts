import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDigest } from '../../src/digest/digest.ts';
import { paths } from '../../src/storage/paths.ts';

const d = parseDigest(`sha256:${'ab'.repeat(32)}`);
const s = parseDigest(`sha256:${'cd'.repeat(32)}`);

test('paths: the reference registry layout, golden table', () => {
  const R = '/docker/registry/v2';
  const table: [string, string][] = [
    [paths.blobData(d), `${R}/blobs/sha256/ab/${d.hex}/data`],
    [paths.layerLink('lib/app', d), `${R}/repositories/lib/app/_layers/sha256/${d.hex}/link`],
    [paths.revisionLink('lib/app', d), `${R}/repositories/lib/app/_manifests/revisions/sha256/${d.hex}/link`],
    [paths.tagCurrentLink('lib/app', 'v1'), `${R}/repositories/lib/app/_manifests/tags/v1/current/link`],
    [paths.tagIndexLink('lib/app', 'v1', d), `${R}/repositories/lib/app/_manifests/tags/v1/index/sha256/${d.hex}/link`],
    [paths.uploadData('lib/app', 'u1'), `${R}/repositories/lib/app/_uploads/u1/data`],
    [paths.uploadStartedAt('lib/app', 'u1'), `${R}/repositories/lib/app/_uploads/u1/startedat`],
    [paths.uploadHashState('lib/app', 'u1', 1024), `${R}/repositories/lib/app/_uploads/u1/hashstates/sha256/1024`],
    [paths.referrerLink('lib/app', s, d), `${R}/repositories/lib/app/_manifests/referrers/sha256/${s.hex}/sha256/${d.hex}/link`],
  ];
  for (const [actual, expected] of table) assert.equal(actual, expected);
});
