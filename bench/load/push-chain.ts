import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type autocannon from 'autocannon';
import { header, type LoadScenario, type Prepared } from './harness.ts';
import { pathOf } from './seed.ts';

/**
 * end-4a → end-5 → end-6: POST /blobs/uploads/, one PATCH with the whole 4 KiB blob and a
 * Content-Range, PUT ?digest=. The chain is carried per connection in autocannon's request
 * context (autocannon samples/request-context.js): the Location of each reply is where the next
 * step goes. Every chain pushes distinct content: chain i's blob is a random template stamped with
 * i, and the digests are computed before timing (extended in batches if a run outgrows them).
 * A step answered with any status but its own (202, 202, 201), or a PUT whose digest differs,
 * counts as an error.
 */
const REPO = 'bench/push';
const SIZE = 4096;
const PRECOMPUTED = 100_000;
const TEMPLATE = randomBytes(SIZE);

function blobBytes(i: number): Buffer {
  const bytes = Buffer.allocUnsafe(SIZE);
  TEMPLATE.copy(bytes);
  bytes.writeBigUInt64BE(BigInt(i), 0);
  return bytes;
}

/** Digests of chain 0, 1, 2, …: computed up front, grown by PRECOMPUTED at a time when used up. */
class Digests {
  private readonly list: string[] = [];
  extendedDuringRun = 0;

  constructor(count: number) {
    this.grow(count);
  }

  private grow(count: number): void {
    const from = this.list.length;
    for (let i = from; i < from + count; i++) this.list.push(`sha256:${createHash('sha256').update(blobBytes(i)).digest('hex')}`);
  }

  get(i: number): string {
    if (i >= this.list.length) {
      this.extendedDuringRun += PRECOMPUTED;
      this.grow(PRECOMPUTED);
    }
    return this.list[i] as string;
  }
}

const digests = new Digests(PRECOMPUTED);

interface ChainContext {
  index?: number;
  location?: string | undefined;
}

/** Where the next step goes; a missing Location sends it to a path that 404s (counted). */
function next(context: ChainContext, digest?: string): string {
  const location = context.location ?? `/v2/${REPO}/blobs/uploads/missing-location`;
  if (digest === undefined) return location;
  return `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`;
}

export const pushChain: LoadScenario = {
  name: 'push',
  title: 'push 4 KiB blob (POST → PATCH → PUT)',
  async prepare(target) {
    let chains = 0;
    let wrong = 0;
    let done = 0;
    let firstMeasured = 0;

    const expect = (status: number, want: number, context: ChainContext, headers: autocannon.Request['headers']): void => {
      if (status !== want) {
        wrong++;
        context.location = undefined;
        return;
      }
      const location = header(headers, 'location');
      context.location = location === undefined ? undefined : pathOf(location);
    };
    const requests: autocannon.Request[] = [
      {
        method: 'POST',
        path: `/v2/${REPO}/blobs/uploads/`,
        headers: { 'content-length': '0' },
        setupRequest: (request, context: ChainContext) => {
          context.index = chains++;
          context.location = undefined;
          return request;
        },
        onResponse: (status, _body, context: ChainContext, headers) => expect(status, 202, context, headers),
      },
      {
        method: 'PATCH',
        setupRequest: (request, context: ChainContext) => ({
          ...request,
          path: next(context),
          headers: { ...request.headers, 'content-type': 'application/octet-stream', 'content-range': `0-${SIZE - 1}` },
          body: blobBytes(context.index ?? 0),
        }),
        onResponse: (status, _body, context: ChainContext, headers) => expect(status, 202, context, headers),
      },
      {
        method: 'PUT',
        headers: { 'content-length': '0' },
        setupRequest: (request, context: ChainContext) => ({ ...request, path: next(context, digests.get(context.index ?? 0)) }),
        onResponse: (status, _body, context: ChainContext, headers) => {
          if (status === 201 && header(headers, 'docker-content-digest') === digests.get(context.index ?? 0)) done++;
          else wrong++;
        },
      },
    ];

    // One chain by hand first (habit 10): the statuses, and the blob readable afterwards.
    const post = await fetch(`${target.url}/v2/${REPO}/blobs/uploads/`, { method: 'POST' });
    assert.equal(post.status, 202, `${target.name}: POST`);
    const patch = await fetch(`${target.url}${pathOf(post.headers.get('location') ?? '')}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/octet-stream', 'content-range': `0-${SIZE - 1}` },
      body: blobBytes(chains),
    });
    assert.equal(patch.status, 202, `${target.name}: PATCH`);
    const location = pathOf(patch.headers.get('location') ?? '');
    const put = await fetch(`${target.url}${location}${location.includes('?') ? '&' : '?'}digest=${digests.get(chains)}`, { method: 'PUT' });
    assert.equal(put.status, 201, `${target.name}: PUT`);
    await checkBlob(target.url, chains);
    chains++;

    const prepared: Prepared = {
      options: { requests },
      requestsPerOp: 3,
      errors: () => wrong,
      operations: () => done,
      reset: () => {
        wrong = 0;
        done = 0;
        firstMeasured = chains;
      },
      async after() {
        // The first chain of the measured run left a readable blob.
        if (done === 0) throw new Error(`${target.name}: no chain completed`);
        await checkBlob(target.url, firstMeasured);
        if (digests.extendedDuringRun > 0) console.warn(`push: ${digests.extendedDuringRun} digests computed during the run`);
      },
    };
    return prepared;
  },
};

async function checkBlob(base: string, index: number): Promise<void> {
  const res = await fetch(`${base}/v2/${REPO}/blobs/${digests.get(index)}`);
  assert.equal(res.status, 200, `blob of chain ${index}`);
  assert.deepEqual(Buffer.from(await res.arrayBuffer()), blobBytes(index), `blob of chain ${index}: bytes`);
}
