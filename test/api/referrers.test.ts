import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { expectError, expectHeader, expectStatus, type Reply } from '../helpers/assertions.ts';
import {
  OCI_EMPTY,
  pushBlobMonolithic,
  pushImageManifest,
  pushIndex,
  readJson,
  unknownDigest,
  type Descriptor,
  type PushedManifest,
} from '../helpers/manifest-fixtures.ts';
import { OCI_INDEX, OCI_MANIFEST, send } from '../helpers/oci-client.ts';
import { startRegistry } from '../helpers/registry.ts';

interface ReferrersIndex {
  schemaVersion: number;
  mediaType: string;
  manifests: Descriptor[];
}

// One registry for the file; every test uses its own repository.
const { url } = await startRegistry({ after });

const SIGNATURE = 'application/vnd.example.signature.v1';
const SBOM_CONFIG = 'application/vnd.example.sbom.config.v1+json';
const BUNDLE = 'application/vnd.example.bundle.v1';
const SIGNATURE_ANNOTATIONS = { 'org.opencontainers.image.created': '2024-01-02T03:04:05Z', 'org.example.signer': 'ci' };

/** The three referrer shapes of OCI 1.1, all pointing at one image in `repo`. */
async function pushReferrers(repo: string): Promise<{ subject: PushedManifest; signature: PushedManifest; sbom: PushedManifest; bundle: PushedManifest }> {
  const subject = await pushImageManifest(url, repo, 'v1');
  await pushBlobMonolithic(url, repo, '{}');
  // Image manifest with artifactType (and the empty config the spec recommends for artifacts).
  const signature = await pushImageManifest(url, repo, 'sig', {
    artifactType: SIGNATURE,
    config: '{}',
    configMediaType: OCI_EMPTY,
    layers: ['signature bytes'],
    subject: subject.descriptor,
    annotations: SIGNATURE_ANNOTATIONS,
  });
  // Image manifest without artifactType: the referrers entry takes config.mediaType.
  const sbom = await pushImageManifest(url, repo, 'sbom', { config: '{"sbom":true}', configMediaType: SBOM_CONFIG, layers: ['sbom bytes'], subject: subject.descriptor });
  // Index with subject.
  const bundle = await pushIndex(url, repo, 'bundle', [signature.descriptor, sbom.descriptor], {
    artifactType: BUNDLE,
    subject: subject.descriptor,
    annotations: { 'org.example.kind': 'bundle' },
  });
  return { subject, signature, sbom, bundle };
}

function byDigest(a: Descriptor, b: Descriptor): number {
  return a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0;
}

function expectReferrers(reply: Reply, expected: readonly Descriptor[]): void {
  expectStatus(reply, 200);
  expectHeader(reply, 'content-type', OCI_INDEX);
  const body = readJson<ReferrersIndex>(reply);
  assert.equal(body.schemaVersion, 2);
  assert.equal(body.mediaType, OCI_INDEX);
  assert.deepEqual([...body.manifests].sort(byDigest), [...expected].sort(byDigest));
}

test('GET end-12a: referrers of an image → OCI index with mediaType, digest, size, artifactType and annotations of each', async () => {
  const { subject, signature, sbom, bundle } = await pushReferrers('all/app');
  const reply = await send(url, `/v2/all/app/referrers/${subject.digest}`);
  expectReferrers(reply, [
    { mediaType: OCI_MANIFEST, digest: signature.digest, size: signature.bytes.length, artifactType: SIGNATURE, annotations: SIGNATURE_ANNOTATIONS },
    { mediaType: OCI_MANIFEST, digest: sbom.digest, size: sbom.bytes.length, artifactType: SBOM_CONFIG },
    { mediaType: OCI_INDEX, digest: bundle.digest, size: bundle.bytes.length, artifactType: BUNDLE, annotations: { 'org.example.kind': 'bundle' } },
  ]);
  assert.equal(reply.headers.get('oci-filters-applied'), null);
});

test('GET end-12a: only manifests whose subject is that digest are listed', async () => {
  const { signature, bundle } = await pushReferrers('only/app');
  // The signature has no referrers; the bundle index lists it as a child, which is not a referrer.
  expectReferrers(await send(url, `/v2/only/app/referrers/${signature.digest}`), []);
  expectReferrers(await send(url, `/v2/only/app/referrers/${bundle.digest}`), []);
});

test('GET end-12b: ?artifactType= filters and says so in OCI-Filters-Applied', async () => {
  const { subject, signature, sbom } = await pushReferrers('filter/app');
  const signatures = await send(url, `/v2/filter/app/referrers/${subject.digest}?artifactType=${encodeURIComponent(SIGNATURE)}`);
  expectReferrers(signatures, [{ ...signature.descriptor, artifactType: SIGNATURE, annotations: SIGNATURE_ANNOTATIONS }]);
  expectHeader(signatures, 'oci-filters-applied', 'artifactType');

  const sboms = await send(url, `/v2/filter/app/referrers/${subject.digest}?artifactType=${encodeURIComponent(SBOM_CONFIG)}`);
  expectReferrers(sboms, [{ ...sbom.descriptor, artifactType: SBOM_CONFIG }]);
  expectHeader(sboms, 'oci-filters-applied', 'artifactType');

  const none = await send(url, `/v2/filter/app/referrers/${subject.digest}?artifactType=application/vnd.example.none`);
  expectReferrers(none, []);
  expectHeader(none, 'oci-filters-applied', 'artifactType');
});

test('GET end-12a: unknown subject → 200 with an empty index (never 404), sha512 included', async () => {
  await pushImageManifest(url, 'unknown/app', 'v1');
  for (const digest of [unknownDigest('subject'), `sha512:${'cd'.repeat(64)}`]) {
    expectReferrers(await send(url, `/v2/unknown/app/referrers/${digest}`), []);
  }
  expectReferrers(await send(url, `/v2/never/pushed/referrers/${unknownDigest('subject')}`), []);
});

test('GET end-12a: invalid digest → 400 DIGEST_INVALID', async () => {
  for (const digest of ['latest', 'sha256:abc', `sha256:${'F'.repeat(64)}`, `sha384:${'a'.repeat(96)}`]) {
    expectError(await send(url, `/v2/bad/app/referrers/${digest}`), 400, 'DIGEST_INVALID');
  }
});

test('GET end-12a: a referrer pushed before its subject is listed; the subject arriving later changes nothing', async () => {
  const subject = await pushImageManifest(url, 'early/source', 'v1');
  // Push the referrer to a repository where the subject does not exist yet.
  const referrer = await pushImageManifest(url, 'early/app', 'sig', { artifactType: SIGNATURE, subject: subject.descriptor });
  const expected = [{ mediaType: OCI_MANIFEST, digest: referrer.digest, size: referrer.bytes.length, artifactType: SIGNATURE }];
  expectReferrers(await send(url, `/v2/early/app/referrers/${subject.digest}`), expected);
  await pushImageManifest(url, 'early/app', 'v1');
  expectReferrers(await send(url, `/v2/early/app/referrers/${subject.digest}`), expected);
});

test('GET end-12a: referrers are per repository', async () => {
  const { subject } = await pushReferrers('per-repo/a');
  expectReferrers(await send(url, `/v2/per-repo/b/referrers/${subject.digest}`), []);
});

test('DELETE end-9 + GET end-12a: a referrer deleted by digest disappears; one untagged stays listed', async () => {
  const { subject, signature, sbom, bundle } = await pushReferrers('del/app');
  expectStatus(await send(url, `/v2/del/app/manifests/${signature.digest}`, { method: 'DELETE' }), 202);
  // Removing a tag leaves the manifest in the repository, so it is still a referrer.
  expectStatus(await send(url, '/v2/del/app/manifests/sbom', { method: 'DELETE' }), 202);
  expectReferrers(await send(url, `/v2/del/app/referrers/${subject.digest}`), [
    { mediaType: OCI_MANIFEST, digest: sbom.digest, size: sbom.bytes.length, artifactType: SBOM_CONFIG },
    { mediaType: OCI_INDEX, digest: bundle.digest, size: bundle.bytes.length, artifactType: BUNDLE, annotations: { 'org.example.kind': 'bundle' } },
  ]);
  expectStatus(await send(url, `/v2/del/app/manifests/${bundle.digest}`, { method: 'DELETE' }), 202);
  expectStatus(await send(url, `/v2/del/app/manifests/${sbom.digest}`, { method: 'DELETE' }), 202);
  expectReferrers(await send(url, `/v2/del/app/referrers/${subject.digest}`), []);
});
