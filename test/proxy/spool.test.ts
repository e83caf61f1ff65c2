import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { sha256 } from '../helpers/oci-client.ts';
import { peersSkipReason } from '../helpers/peers.ts';
import { cached, coldBlobBehindCache, eventually } from './upstreams.ts';

/**
 * "A cold pull writes each blob once" (issue 11): on the filesystem the fetch spools into the
 * storage root, as an upload of the repository, and the verified spool is renamed into the blob
 * store, so the stored blob is the very file the fetch wrote.
 */
const skip = await peersSkipReason();
const MIB = 1024 * 1024;

function blobPath(root: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(root, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

/** The whole body of a GET, hashed; resolves at its end. */
function pullDigest(url: string): Promise<{ status: number; digest: string; size: number }> {
  return new Promise((resolve, reject) => {
    httpGet(url, { agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (chunk: Buffer) => parts.push(chunk));
      res.on('end', () => {
        const body = Buffer.concat(parts);
        resolve({ status: res.statusCode ?? 0, digest: sha256(body), size: body.length });
      });
      res.on('error', reject);
    }).on('error', reject);
  });
}

test('proxy spool (filesystem): a cold blob is spooled under the repository\'s _uploads in the storage root and renamed into the blob store (same file, written once)', { skip }, async (t) => {
  const { upstream, bytes, digest, counter, cache } = await coldBlobBehindCache(t, 'team/big', 16 * MIB);
  const uploads = join(cache.root, 'docker/registry/v2/repositories/team/big/_uploads');

  // Held midway: the spool is an upload of team/big inside the root, with a startedat for the purger.
  const hold = counter.holdBlobBodies(4 * MIB);
  const pulled = pullDigest(`${cache.url}/v2/team/big/blobs/${digest}`);
  await hold.reached;
  let spool: { ino: number } | undefined;
  await eventually('the spool file under _uploads/<id>/data has bytes', async () => {
    const ids = await readdir(uploads).catch(() => []);
    if (ids.length !== 1) return false;
    const [id] = ids as [string];
    // The folder shows before its startedat lands (tmp, rename): looked at again then.
    const started = await stat(join(uploads, id, 'startedat')).catch(() => undefined);
    const data = await stat(join(uploads, id, 'data')).catch(() => undefined);
    if (!started?.isFile() || !data || data.size === 0) return false;
    spool = { ino: data.ino };
    return true;
  });
  await assert.rejects(stat(blobPath(cache.root, digest)), 'a blob is visible before it is verified');
  hold.release();

  const result = await pulled;
  assert.equal(result.status, 200);
  assert.equal(result.digest, digest);
  await cached(cache.root, [digest]);
  const stored = await stat(blobPath(cache.root, digest));
  assert.equal(stored.size, bytes.length);
  assert.equal(stored.ino, spool?.ino, 'the stored blob is not the spool file renamed: it was written a second time');
  await eventually('the upload folder is gone', async () => (await readdir(uploads).catch(() => [])).length === 0);
  assert.equal(counter.count('GET', /\/blobs\//), 1);
  // Linked into team/big: the next pull is served from storage.
  assert.equal((await pullDigest(`${cache.url}/v2/team/big/blobs/${digest}`)).digest, digest);
  assert.equal(counter.count('GET', /\/blobs\//), 1);
});
