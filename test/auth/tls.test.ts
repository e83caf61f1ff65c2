import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { bcrypt } from 'hash-wasm';
import { expectError, expectStatus } from '../helpers/assertions.ts';
import { send } from '../helpers/oci-client.ts';
import { buildImage, layoutRoot, randomLayer, readLayoutBlob, writeLayout } from '../helpers/oci-image.ts';
import { makePki } from '../helpers/pki.ts';
import { peersSkipReason, skopeo } from '../helpers/peers.ts';
import { startRegistry } from '../helpers/registry.ts';

/** http.tls with a generated CA: plain TLS, client certificates (clientcas), and skopeo over TLS with auth. */
const pki = await makePki({ after });
const tls = { certificate: pki.serverCertPath, key: pki.serverKeyPath };

test('http.tls: HTTPS with a certificate the client trusts through our CA; plain HTTP is refused', async (t) => {
  const { url } = await startRegistry(t, { config: { tls } });
  assert.match(url, /^https:\/\//);
  expectStatus(await send(url, '/v2/', { tls: { ca: pki.caCert } }), 200);
  await assert.rejects(send(url, '/v2/'), /self-signed|unable to verify|certificate/i);
  await assert.rejects(send(url.replace('https:', 'http:'), '/v2/'));
});

test('http.tls.clientcas: a client without a certificate from those CAs cannot connect', async (t) => {
  const { url } = await startRegistry(t, { config: { tls: { ...tls, clientcas: [pki.caCertPath] } } });
  expectStatus(await send(url, '/v2/', { tls: { ca: pki.caCert, cert: pki.clientCert, key: pki.clientKey } }), 200);
  await assert.rejects(send(url, '/v2/', { tls: { ca: pki.caCert } }));
});

test('skopeo pushes and pulls over TLS with htpasswd credentials, digests unchanged', async (t) => {
  const skip = await peersSkipReason();
  if (skip) {
    t.skip(skip);
    return;
  }
  const work = await mkdtemp(join(tmpdir(), 'quayside-tls-skopeo-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  const hash = await bcrypt({ password: 'tls-secret', salt: randomBytes(16), costFactor: 5 });
  await writeFile(join(work, 'htpasswd'), `pusher:${hash.replace(/^\$2[ab]\$/, '$2y$')}\n`);
  const { url } = await startRegistry(t, { config: { tls, auth: { htpasswd: { realm: 'tls', path: join(work, 'htpasswd') } } } });
  const host = new URL(url).host;
  // containers/image trusts a registry's CA from a directory holding ca.crt.
  const certs = join(work, 'certs');
  await mkdir(certs);
  await copyFile(pki.caCertPath, join(certs, 'ca.crt'));

  const image = buildImage([randomLayer(300_000), randomLayer(40_000)]);
  const source = join(work, 'source');
  await writeLayout(source, image.blobs, { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.manifest.digest, size: image.manifest.bytes.length }, 'v1');
  const common = ['--insecure-policy', 'copy', '--quiet', '--retry-times', '0', '--preserve-digests'];
  await skopeo([...common, '--dest-cert-dir', certs, '--dest-creds', 'pusher:tls-secret', `oci:${source}:v1`, `docker://${host}/secure/app:v1`]);
  const back = join(work, 'back');
  await skopeo([...common, '--src-cert-dir', certs, '--src-creds', 'pusher:tls-secret', `docker://${host}/secure/app:v1`, `oci:${back}:v1`]);
  assert.equal((await layoutRoot(back, 'v1')).digest, image.manifest.digest);
  for (const blob of image.blobs) assert.ok((await readLayoutBlob(back, blob.digest)).equals(blob.bytes));
  // And without credentials the same registry says 401.
  expectError(await send(url, '/v2/secure/app/tags/list', { tls: { ca: pki.caCert } }), 401, 'UNAUTHORIZED');
});
