import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { stat } from 'node:fs/promises';
import { createServer, get as httpGet, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { expectError } from '../helpers/assertions.ts';
import { sha256 } from '../helpers/oci-client.ts';
import { peersSkipReason } from '../helpers/peers.ts';
import { startRegistry } from '../helpers/registry.ts';
import { coldBlobBehindCache, eventually, get } from './upstreams.ts';

const skip = await peersSkipReason();
const MIB = 1024 * 1024;

/** A client reading a blob as it streams: bytes so far, its hash at the end, and a pause switch. */
interface Puller {
  received: number;
  readonly done: Promise<{ digest: string; size: number; complete: boolean }>;
  response?: IncomingMessage;
}

function pull(url: string, options: { pauseAfterFirstChunk?: boolean } = {}): Puller {
  const hash = createHash('sha256');
  const puller: Puller = {
    received: 0,
    done: new Promise((resolve, reject) => {
      const req = httpGet(url, { agent: false }, (res) => {
        puller.response = res;
        res.on('data', (chunk: Buffer) => {
          puller.received += chunk.length;
          hash.update(chunk);
          if (options.pauseAfterFirstChunk && puller.received === chunk.length) res.pause();
        });
        let finished = false;
        const finish = (): void => {
          if (finished) return;
          finished = true;
          resolve({ digest: `sha256:${hash.digest('hex')}`, size: puller.received, complete: res.complete });
        };
        res.on('end', finish);
        res.on('error', finish);
        res.on('aborted', finish);
      });
      req.on('error', reject);
    }),
  };
  return puller;
}

function blobPath(root: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(root, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

test('proxy single flight: 8 clients pulling one 64 MiB blob at once stream it as it arrives, from ONE upstream GET; a paused client stalls no other', { skip }, async (t) => {
  const { upstream, bytes, digest, counter, cache } = await coldBlobBehindCache(t, 'library/big', 64 * MIB);
  const url = `${cache.url}/v2/library/big/blobs/${digest}`;

  // The upstream's body stops at 8 MiB until released: whatever the clients have by then came as it arrived.
  const hold = counter.holdBlobBodies(8 * MIB);
  const slow = pull(url, { pauseAfterFirstChunk: true });
  const pullers = Array.from({ length: 8 }, () => pull(url));
  await hold.reached;
  await eventually('every client has bytes while the upstream is held', async () => [slow, ...pullers].every((p) => p.received > 0));
  assert.ok(pullers.every((p) => p.received < bytes.length));
  hold.release();

  // Eight complete, byte for byte, while the ninth sits paused after its first chunk.
  for (const result of await Promise.all(pullers.map((p) => p.done))) {
    assert.equal(result.size, bytes.length);
    assert.equal(result.digest, digest);
  }
  assert.ok(slow.received < bytes.length, 'the paused client did not pause');
  slow.response?.resume();
  const late = await slow.done;
  assert.equal(late.digest, digest);
  assert.equal(counter.count('GET', /\/blobs\//), 1, counter.requests.join('\n'));
  await eventually('stored', () => stat(blobPath(cache.root, digest)).then(() => true, () => false));
  // Stored: a later client is served from storage, still one upstream GET in all.
  const after = await pull(url).done;
  assert.equal(after.digest, digest);
  assert.equal(counter.count('GET', /\/blobs\//), 1);
});

/**
 * A lying upstream (a small node:http fake, for this case only): the blob it serves under a
 * digest has other bytes, the manifest too.
 */
async function startLyingUpstream(t: { after: (fn: () => Promise<void>) => void }, blob: Buffer, manifest: Buffer) {
  const served: string[] = [];
  const server = createServer((req, res) => {
    served.push(`${req.method} ${req.url}`);
    if (req.url === '/v2/') return void res.end('{}');
    const blobMatch = /^\/v2\/liar\/blobs\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? '');
    if (blobMatch) {
      const lie = Buffer.from(blob);
      lie[lie.length - 1] = (lie[lie.length - 1] ?? 0) ^ 0xff;
      res.writeHead(200, { 'content-length': lie.length, 'docker-content-digest': blobMatch[1] });
      return void res.end(req.method === 'HEAD' ? undefined : lie);
    }
    if (/^\/v2\/liar\/manifests\//.test(req.url ?? '')) {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': manifest.length });
      return void res.end(manifest);
    }
    res.writeHead(404).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, served };
}

test('proxy: a blob whose upstream bytes do not match its digest aborts every client short of its length and is never stored; a lying manifest → 404', async (t) => {
  const blob = randomBytes(3 * MIB);
  const digest = sha256(blob);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: blob.length }, layers: [] }));
  const liar = await startLyingUpstream(t, blob, manifest);
  const cache = await startRegistry(t, { config: { proxy: { remoteurl: liar.url } } });
  const url = `${cache.url}/v2/liar/blobs/${digest}`;
  for (const result of await Promise.all([pull(url).done, pull(url).done])) {
    assert.equal(result.complete, false, 'a response over unverified bytes completed');
    assert.ok(result.size < blob.length, `got ${result.size} of ${blob.length} bytes`);
  }
  await assert.rejects(stat(blobPath(cache.root, digest)));
  // Not cached: the next pull asks upstream again (and fails again).
  const blobGets = (): number => liar.served.filter((line) => line.startsWith('GET /v2/liar/blobs/')).length;
  const before = blobGets();
  const again = await pull(url).done;
  assert.equal(again.complete, false);
  assert.equal(blobGets(), before + 1, liar.served.join('\n'));
  // The failed fetches' spools are gone, and with them the folder that would list `liar` as a repository.
  await eventually('no spool left', () => stat(join(cache.root, 'docker/registry/v2/repositories/liar')).then(() => false, () => true));
  assert.deepEqual(JSON.parse((await get(cache.url, '/v2/_catalog')).body.toString()), { repositories: [] });

  const wrongManifest = await get(cache.url, `/v2/liar/manifests/${sha256('another manifest')}`);
  expectError(wrongManifest, 404, 'MANIFEST_UNKNOWN');
  assert.match(wrongManifest.body.toString(), /does not match its digest/);
});
