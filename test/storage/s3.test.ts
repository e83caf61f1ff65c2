import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { sha256Digest, type Digest } from '../../src/digest/digest.ts';
import { PathNotFoundError } from '../../src/storage/driver.ts';
import { S3Error } from '../../src/storage/s3/client.ts';
import { S3Driver, endpointOf } from '../../src/storage/s3/driver.ts';
import { paths } from '../../src/storage/paths.ts';
import { KeyLayout } from '../../src/storage/s3/layout.ts';
import { openS3Driver } from '../../src/storage/s3/open.ts';
import { peersSkipReason } from '../helpers/peers.ts';
import { freshRoot, makeS3Driver, s3TestParams, s3Unavailable, startDockerRegistryOnS3 } from '../helpers/s3.ts';
import { driverSuite } from './driver-suite.ts';

// No network: the layout and endpoint rules.

test('s3 layout: keys are distribution s3Path(): trimRight(root, "/") + path, trimmed left of "/"', () => {
  // [rootdirectory, path, key, folder prefix]: every row checked against s3-aws s3.go's s3Path.
  const table: ReadonlyArray<readonly [string, string, string, string]> = [
    ['', '/docker/registry/v2/blobs/sha256/ab/abcd/data', 'docker/registry/v2/blobs/sha256/ab/abcd/data', 'docker/registry/v2/blobs/sha256/ab/abcd/data/'],
    ['/', '/docker/registry/v2', 'docker/registry/v2', 'docker/registry/v2/'],
    ['/reg/', '/docker/registry/v2', 'reg/docker/registry/v2', 'reg/docker/registry/v2/'],
    ['reg', '/docker', 'reg/docker', 'reg/docker/'],
    ['/a/b//', '/x', 'a/b/x', 'a/b/x/'],
    ['', '/', '', ''],
    ['/reg', '/', 'reg/', 'reg/'],
  ];
  for (const [root, path, key, folder] of table) {
    const layout = new KeyLayout(root);
    assert.equal(layout.key(path), key, `key of ${path} under ${JSON.stringify(root)}`);
    assert.equal(layout.folder(path), folder, `folder of ${path} under ${JSON.stringify(root)}`);
  }
});

test('s3 params: the endpoint takes its scheme from regionendpoint, else from secure (default https)', () => {
  assert.equal(endpointOf({ region: 'us-east-1', bucket: 'b' }).href, 'https://s3.us-east-1.amazonaws.com/');
  assert.equal(endpointOf({ region: 'eu-west-1', bucket: 'b', secure: false }).href, 'http://s3.eu-west-1.amazonaws.com/');
  assert.equal(endpointOf({ region: 'r', bucket: 'b', regionendpoint: 'http://127.0.0.1:7480' }).href, 'http://127.0.0.1:7480/');
  assert.equal(endpointOf({ region: 'r', bucket: 'b', regionendpoint: 'http://127.0.0.1:7480', secure: true }).href, 'http://127.0.0.1:7480/');
  assert.equal(endpointOf({ region: 'r', bucket: 'b', regionendpoint: 'minio.local:9000' }).href, 'https://minio.local:9000/');
  assert.equal(endpointOf({ region: 'r', bucket: 'b', regionendpoint: 'minio.local:9000', secure: false }).href, 'http://minio.local:9000/');
});

test('s3 params: credentials fall back to AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; none at all is a clear error', (t) => {
  const saved = { id: process.env['AWS_ACCESS_KEY_ID'], secret: process.env['AWS_SECRET_ACCESS_KEY'] };
  t.after(() => {
    for (const [name, value] of [['AWS_ACCESS_KEY_ID', saved.id], ['AWS_SECRET_ACCESS_KEY', saved.secret]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });
  delete process.env['AWS_ACCESS_KEY_ID'];
  delete process.env['AWS_SECRET_ACCESS_KEY'];
  assert.throws(() => new S3Driver({ region: 'r', bucket: 'b' }), /no credentials/);
  process.env['AWS_ACCESS_KEY_ID'] = 'id';
  process.env['AWS_SECRET_ACCESS_KEY'] = 'secret';
  new S3Driver({ region: 'r', bucket: 'b' }).close();
});

test('s3 client: a service that accepts the connection and never answers fails after the timeout, no hang', async (t) => {
  const sockets: Socket[] = [];
  const server = createServer((socket) => sockets.push(socket));
  t.after(() => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  const driver = new S3Driver({ region: 'us-east-1', regionendpoint: `http://127.0.0.1:${address.port}`, bucket: 'b', accesskey: 'a', secretkey: 's', forcepathstyle: true }, { timeoutMs: 300 });
  t.after(async () => driver.close());
  const started = Date.now();
  await assert.rejects(driver.getContent('/x'), (err: unknown) => err instanceof S3Error && err.code === 'Timeout' && /no answer from http:\/\/127\.0\.0\.1:\d+ in 0\.3 s/.test(err.message));
  assert.ok(Date.now() - started < 5000);
});

test('s3 client: nothing listening on the endpoint is a clear network error', async (t) => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const driver = new S3Driver({ region: 'us-east-1', regionendpoint: `http://127.0.0.1:${address.port}`, bucket: 'b', accesskey: 'a', secretkey: 's', forcepathstyle: true });
  t.after(async () => driver.close());
  await assert.rejects(driver.stat('/x'), (err: unknown) => err instanceof S3Error && err.code === 'ECONNREFUSED' && err.message.includes(`127.0.0.1:${address.port}`));
});

test('s3 client: kept-alive sockets the service closed are retried until a fresh socket answers', async (t) => {
  // The service drops every second request that arrives on a reused connection without an answer,
  // as a server does when its keep-alive timer fires while the request is on the way.
  let requests = 0;
  const server = createHttpServer((req, res) => {
    requests++;
    const seen = (requestsOn.get(req.socket) ?? 0) + 1;
    requestsOn.set(req.socket, seen);
    if (seen > 1) return req.socket.destroy();
    res.writeHead(200, { 'content-length': '0', etag: '"e"', 'last-modified': new Date(0).toUTCString() }).end();
  });
  const requestsOn = new Map<unknown, number>();
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  const driver = new S3Driver({ region: 'us-east-1', regionendpoint: `http://127.0.0.1:${address.port}`, bucket: 'b', accesskey: 'a', secretkey: 's', forcepathstyle: true });
  t.after(async () => driver.close());
  for (let i = 0; i < 4; i++) assert.equal((await driver.stat('/x'))?.size, 0);
  // Later stats meet one or more stale pooled sockets before a fresh one answers.
  assert.ok(requests > 4, `${requests} requests reached the service`);
});

// Against the real Ceph RGW.

describe('s3 driver on Ceph RGW', { skip: s3Unavailable }, () => {
  driverSuite('s3', (t) => makeS3Driver(t));

  test('s3 driver: list and delete page past 1000 keys; delete of "a" leaves "a-b"', async (t) => {
    const driver = await makeS3Driver(t);
    const names = Array.from({ length: 1105 }, (_, i) => `f${String(i).padStart(4, '0')}`);
    const paths = [...names.map((n) => `/many/${n}`), '/many/sub/x', '/many/sub/deeper/y', '/many-b/keep'];
    // 16 at a time: enough to be quick on RGW, few enough for a 2-core machine.
    for (let i = 0; i < paths.length; i += 16) await Promise.all(paths.slice(i, i + 16).map((p) => driver.putContent(p, p)));

    assert.deepEqual(await driver.list('/many'), [...names, 'sub']);
    await driver.delete('/many');
    assert.deepEqual(await driver.list('/many'), []);
    assert.equal(await driver.stat('/many'), undefined);
    // Raw keys: nothing left below the folder, and the sibling that shares its prefix survives.
    const raw = await driver.client.listObjectsV2({ prefix: driver.layout.key('/') });
    assert.deepEqual(raw.objects.map((o) => o.key), [driver.layout.key('/many-b/keep')]);
  });

  test('s3 driver: raw keys in the bucket are distribution\'s layout under rootdirectory', async (t) => {
    const root = freshRoot();
    const driver = new S3Driver(s3TestParams(root));
    t.after(async () => {
      await driver.delete('/');
      driver.close();
    });
    const hex = 'a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4';
    const written = [
      `/docker/registry/v2/blobs/sha256/a3/${hex}/data`,
      `/docker/registry/v2/repositories/library/ubuntu/_layers/sha256/${hex}/link`,
      '/docker/registry/v2/repositories/library/ubuntu/_manifests/tags/latest/current/link',
    ];
    for (const path of written) await driver.putContent(path, 'x');
    const prefix = root.replace(/^\/+|\/+$/g, '');
    const raw = await driver.client.listObjectsV2({ prefix: `${prefix}/` });
    assert.deepEqual(raw.objects.map((o) => o.key).sort(), written.map((p) => `${prefix}${p}`).sort());
    assert.ok(raw.objects.every((o) => !o.key.startsWith('/')), 'no key starts with a slash');

    // An empty rootdirectory puts the path at the bucket's top, slash dropped (one key, removed at once).
    const top = new S3Driver(s3TestParams(''));
    t.after(async () => top.close());
    const path = `/quayside-top-${prefix}`;
    await top.putContent(path, 'top');
    t.after(() => top.delete(path));
    assert.equal((await top.client.headObject(path.slice(1)))?.size, 3);
  });

  test('s3 driver: keys with spaces, +, &, %, unicode round-trip through put, list, move and delete', async (t) => {
    const driver = await makeS3Driver(t);
    const odd = ['a b', 'c+d', 'e&f', 'g%20h', 'ünï', "q'(x)*!"];
    for (const name of odd) await driver.putContent(`/odd/${name}`, name);
    assert.deepEqual(await driver.list('/odd'), [...odd].sort());
    for (const name of odd) assert.equal((await driver.getContent(`/odd/${name}`)).toString(), name);
    await driver.move('/odd/a b', '/odd/moved ü+');
    assert.equal((await driver.getContent('/odd/moved ü+')).toString(), 'a b');
    await driver.delete('/odd');
    assert.deepEqual(await driver.list('/odd'), []);
  });

  test('s3 driver: move onto itself keeps the object (S3 refuses self-copies; the delete must not follow)', async (t) => {
    const driver = await makeS3Driver(t);
    await driver.putContent('/self/f', 'kept');
    await driver.move('/self/f', '/self/f');
    assert.equal((await driver.getContent('/self/f')).toString(), 'kept');
  });

  test('s3 driver: move above the multipart threshold copies in parts (UploadPartCopy), bytes intact', async (t) => {
    const mib = 1024 * 1024;
    const driver = await makeS3Driver(t, { multipartCopyThreshold: 5 * mib, multipartCopyPartSize: 5 * mib });
    const data = Buffer.alloc(11 * mib + 7);
    for (let i = 0; i < data.length; i += 4096) data.writeUInt32BE(i, i);
    await driver.putContent('/big/src', data);
    await driver.move('/big/src', '/big/dst');
    assert.equal(await driver.stat('/big/src'), undefined);
    assert.ok((await driver.getContent('/big/dst')).equals(data), 'copied bytes equal the source');
    const head = await driver.client.headObject(driver.layout.key('/big/dst'));
    // A multipart object's ETag is "<md5 of part md5s>-<part count>".
    assert.match(head?.etag ?? '', /-3"$/);
  });

  test('s3 driver: a missing bucket is a clear NoSuchBucket error, not "not found"', async (t) => {
    const driver = new S3Driver(s3TestParams(freshRoot(), { bucket: 'quayside-no-such-bucket' }));
    t.after(async () => driver.close());
    await assert.rejects(driver.verify(), (err: unknown) => err instanceof S3Error && err.code === 'NoSuchBucket' && err.message.includes('quayside-no-such-bucket'));
    for (const attempt of [() => driver.getContent('/x'), () => driver.stat('/x'), () => driver.list('/'), () => driver.putContent('/x', 'x'), () => driver.delete('/x'), () => driver.move('/x', '/y'), () => driver.reader('/x', 3)]) {
      await assert.rejects(attempt, (err: unknown) => err instanceof S3Error && err.code === 'NoSuchBucket' && !(err instanceof PathNotFoundError));
    }
  });

  test('s3 driver: wrong credentials are a clear 403 with S3\'s code', async (t) => {
    const driver = new S3Driver(s3TestParams(freshRoot(), { secretkey: 'not-the-secret' }));
    t.after(async () => driver.close());
    await assert.rejects(driver.verify(), (err: unknown) => err instanceof S3Error && err.status === 403 && /credentials/.test(err.message));
    await assert.rejects(driver.getContent('/x'), (err: unknown) => err instanceof S3Error && err.code === 'SignatureDoesNotMatch' && err.status === 403);
    await assert.rejects(driver.list('/'), /S3 ListObjectsV2: SignatureDoesNotMatch \(HTTP 403\)/);
    const unknownKey = new S3Driver(s3TestParams(freshRoot(), { accesskey: 'no-such-access-key' }));
    t.after(async () => unknownKey.close());
    await assert.rejects(unknownKey.putContent('/x', 'x'), (err: unknown) => err instanceof S3Error && err.code === 'InvalidAccessKeyId');
  });

  test('s3 driver: openS3Driver loads the driver on demand and it verifies', async (t) => {
    const driver = await openS3Driver(s3TestParams(freshRoot()));
    assert.equal(driver.name, 's3');
    assert.ok(driver instanceof S3Driver);
    await driver.verify();
    t.after(async () => driver.close());
  });
});

// Both ways with distribution itself: Debian's docker-registry 2.8 (s3-aws driver) on the same RGW
// and rootdirectory. Peers come from scripts/ensure-tools.sh (installed when root).

const compatSkip = s3Unavailable || (await peersSkipReason());

function sha256(bytes: Buffer | string): Digest {
  return sha256Digest(createHash('sha256').update(bytes).digest('hex'));
}

function imageManifest(config: Buffer, layer: Buffer): Buffer {
  const descriptor = (mediaType: string, bytes: Buffer): object => ({ mediaType, digest: sha256(bytes).value, size: bytes.length });
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: descriptor('application/vnd.oci.image.config.v1+json', config),
      layers: [descriptor('application/vnd.oci.image.layer.v1.tar+gzip', layer)],
    }),
  );
}

describe('s3 layout shared with docker-registry 2.8 on the same RGW', { skip: compatSkip }, () => {
  test('s3 driver reads what docker-registry wrote: blob data, layer link, tag link, repository listing', async (t) => {
    const root = freshRoot();
    const driver = new S3Driver(s3TestParams(root));
    t.after(async () => {
      await driver.delete('/');
      driver.close();
    });
    const registry = await startDockerRegistryOnS3(t, root);
    const layer = randomBytes(10_000);
    const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
    for (const blob of [layer, config]) {
      const started = await fetch(`${registry.url}/v2/compat/a/blobs/uploads/`, { method: 'POST' });
      assert.equal(started.status, 202, registry.output());
      const location = new URL(started.headers.get('location') ?? '', registry.url);
      location.searchParams.set('digest', sha256(blob).value);
      const put = await fetch(location, { method: 'PUT', body: blob, headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(put.status, 201, `${await put.text()}\n${registry.output()}`);
    }
    const manifest = imageManifest(config, layer);
    const pushed = await fetch(`${registry.url}/v2/compat/a/manifests/v1`, { method: 'PUT', body: manifest, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(pushed.status, 201, `${await pushed.text()}\n${registry.output()}`);

    const d = sha256(layer);
    assert.ok((await driver.getContent(paths.blobData(d))).equals(layer), 'blob data at blobs/sha256/<2>/<hex>/data');
    assert.equal((await driver.getContent(paths.layerLink('compat/a', d))).toString(), d.value);
    assert.equal((await driver.getContent(paths.tagCurrentLink('compat/a', 'v1'))).toString(), sha256(manifest).value);
    assert.ok((await driver.getContent(paths.blobData(sha256(manifest)))).equals(manifest));
    assert.deepEqual(await driver.list(paths.repositoriesUnder('compat')), ['a']);
    assert.deepEqual(await driver.list(paths.repository('compat/a')), ['_layers', '_manifests']);
    assert.ok((await driver.list(paths.blobsWithPrefix('sha256', d.hex.slice(0, 2)))).includes(d.hex));
    assert.equal((await driver.stat(paths.blobData(d)))?.size, layer.length);
  });

  test('docker-registry serves what the s3 driver wrote: blob, manifest by tag, tags list, catalog', async (t) => {
    const root = freshRoot();
    const driver = new S3Driver(s3TestParams(root));
    t.after(async () => {
      await driver.delete('/');
      driver.close();
    });
    const layer = randomBytes(10_000);
    const config = Buffer.from('{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
    const manifest = imageManifest(config, layer);
    for (const blob of [layer, config, manifest]) await driver.putContent(paths.blobData(sha256(blob)), blob);
    for (const blob of [layer, config]) await driver.putContent(paths.layerLink('compat/b', sha256(blob)), sha256(blob).value);
    const m = sha256(manifest);
    await driver.putContent(paths.revisionLink('compat/b', m), m.value);
    await driver.putContent(paths.tagCurrentLink('compat/b', 'v1'), m.value);
    await driver.putContent(paths.tagIndexLink('compat/b', 'v1', m), m.value);

    const registry = await startDockerRegistryOnS3(t, root);
    const blob = await fetch(`${registry.url}/v2/compat/b/blobs/${sha256(layer).value}`);
    assert.equal(blob.status, 200, registry.output());
    assert.ok(Buffer.from(await blob.arrayBuffer()).equals(layer));
    const got = await fetch(`${registry.url}/v2/compat/b/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(got.status, 200, registry.output());
    assert.equal(got.headers.get('docker-content-digest'), m.value);
    assert.ok(Buffer.from(await got.arrayBuffer()).equals(manifest));
    assert.deepEqual(await (await fetch(`${registry.url}/v2/compat/b/tags/list`)).json(), { name: 'compat/b', tags: ['v1'] });
    assert.deepEqual(await (await fetch(`${registry.url}/v2/_catalog`)).json(), { repositories: ['compat/b'] });
  });
});
