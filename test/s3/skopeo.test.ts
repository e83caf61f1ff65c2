import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { buildImage, buildIndex, descriptor, layoutRoot, randomLayer, readLayoutBlob, writeLayout } from '../helpers/oci-image.ts';
import { OCI_INDEX } from '../helpers/oci-client.ts';
import { peersSkipReason, skopeo } from '../helpers/peers.ts';
import { startS3Registry } from '../helpers/s3-registry.ts';
import { s3Unavailable } from '../helpers/s3.ts';

/*
 * skopeo (containers/image) through Quayside on S3: push to replica A, pull from replica B, every
 * digest unchanged, with presigned redirects on (distribution's default on s3: skopeo fetches each
 * blob from RGW itself). containers/image streams each layer in one PATCH; a 12 MiB layer at 5 MiB
 * parts crosses parts and leaves a tail, so the commit composes parts and the tail.
 */
const skip = s3Unavailable || (await peersSkipReason());

async function tempDir(t: TestContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function copyArgs(from: string, to: string, all: boolean): string[] {
  return ['--insecure-policy', 'copy', '--quiet', '--retry-times', '0', '--preserve-digests', ...(all ? ['--all'] : []), '--src-tls-verify=false', '--dest-tls-verify=false', from, to];
}

test('skopeo on s3: push a two-platform index to replica A, pull it from replica B, byte for byte', { skip }, async (t) => {
  const a = await startS3Registry(t, { s3: { chunksize: 5 * 1024 * 1024 }, redirects: true });
  const b = await startS3Registry(t, { s3: { chunksize: 5 * 1024 * 1024, rootdirectory: a.s3.rootdirectory ?? '' }, redirects: true });
  const amd = buildImage([randomLayer(12 * 1024 * 1024 + 17), randomLayer(3000)]);
  const arm = buildImage([randomLayer(200_000)], { architecture: 'arm64', os: 'linux' });
  const index = buildIndex([{ image: amd, platform: { architecture: 'amd64', os: 'linux' } }, { image: arm, platform: { architecture: 'arm64', os: 'linux' } }]);
  const source = await tempDir(t, 'quayside-s3-skopeo-src-');
  const root = descriptor(OCI_INDEX, index.index);
  await writeLayout(source, index.blobs, root, 'v1');
  const host = (url: string): string => new URL(url).host;
  await skopeo(copyArgs(`oci:${source}:v1`, `docker://${host(a.url)}/s3/skopeo:v1`, true), 120_000);
  const target = await tempDir(t, 'quayside-s3-skopeo-dst-');
  await skopeo(copyArgs(`docker://${host(b.url)}/s3/skopeo:v1`, `oci:${target}:v1`, true), 120_000);
  assert.equal((await layoutRoot(target, 'v1')).digest, root.digest);
  for (const blob of index.blobs) assert.ok((await readLayoutBlob(target, blob.digest)).equals(blob.bytes), `${blob.digest} differs`);
});
