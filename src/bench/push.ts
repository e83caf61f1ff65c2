import type { Agent } from 'node:http';
import type { BlobContent } from './content.ts';
import type { BenchClient, Body, Reply } from './http-client.ts';

export type PushMode = 'chunked' | 'streamed' | 'monolithic';
export const PUSH_MODES: readonly PushMode[] = ['chunked', 'streamed', 'monolithic'];

export interface BlobToPush {
  readonly repo: string;
  /** Which of the content's blobs. */
  readonly blob: number;
  readonly size: number;
  /** Computed before timing. */
  readonly digest: string;
}

/**
 * Which registry gets request number `step` of one upload: 0 is the POST, then one per PATCH,
 * then the PUT and the verifying HEAD. One client for all is the ordinary case; a harness that
 * spreads one upload over replicas passes a function that alternates.
 */
export type UploadRoute = (step: number) => BenchClient;

/** The registry answered, but not as the protocol says: counted by status in the report. */
export class UnexpectedReply extends Error {
  constructor(
    readonly status: number,
    what: string,
    expected: number | string,
  ) {
    super(`${what}: expected ${expected}, got ${status}`);
    this.name = 'UnexpectedReply';
  }
}

/** The mode is not offered by the registry (a monolithic POST answered 202): a row says so instead of failing. */
export class ModeUnsupported extends Error {
  override readonly name = 'ModeUnsupported';
}

function expectStatus(reply: Reply, status: number, what: string): void {
  if (reply.status !== status) throw new UnexpectedReply(reply.status, what, status);
}

/** Path and query of a Location (absolute or not): the next request may go to another replica. */
function pathOf(location: string): string {
  if (!/^https?:\/\//.test(location)) return location;
  const url = new URL(location);
  return url.pathname + url.search;
}

/**
 * One verified upload (end-4a/5/6, or monolithic end-4b): the seconds from POST to 201. Verified
 * as a client would: every status, the PUT's Docker-Content-Digest, and a HEAD's size after.
 * Chunked sends `chunk`-byte PATCHes with Content-Range; streamed one PATCH of the whole body in
 * chunked transfer encoding, as docker push does.
 */
export async function pushBlob(route: UploadRoute, content: BlobContent, blob: BlobToPush, mode: PushMode, chunk: number): Promise<number> {
  const agents = new Map<BenchClient, Agent>();
  let step = 0;
  const next = (method: string, path: string, headers: Record<string, string | number>, body?: Body): Promise<Reply> => {
    const client = route(step++);
    let agent = agents.get(client);
    if (agent === undefined) agents.set(client, (agent = client.newAgent(1)));
    return client.send(method, path, { headers, ...(body === undefined ? {} : { body }), agent });
  };
  const { repo, size, digest } = blob;
  const started = performance.now();
  try {
    if (mode === 'monolithic') {
      const reply = await next('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, { 'content-type': 'application/octet-stream', 'content-length': size }, () => content.pieces(blob.blob, size));
      if (reply.status === 202) throw new ModeUnsupported('a monolithic POST was answered 202: the registry does not take single-request uploads');
      expectStatus(reply, 201, 'monolithic POST');
    } else {
      const start = await next('POST', `/v2/${repo}/blobs/uploads/`, { 'content-length': 0 });
      expectStatus(start, 202, 'POST');
      let location = pathOf(String(start.headers.location ?? ''));
      if (mode === 'streamed') {
        const reply = await next('PATCH', location, { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' }, () => content.pieces(blob.blob, size));
        expectStatus(reply, 202, 'PATCH');
        location = pathOf(String(reply.headers.location ?? location));
      } else {
        for (let at = 0; at < size; at += chunk) {
          const end = Math.min(size, at + chunk);
          const reply = await next('PATCH', location, { 'content-type': 'application/octet-stream', 'content-range': `${at}-${end - 1}`, 'content-length': end - at }, () => content.slice(blob.blob, size, at, end));
          expectStatus(reply, 202, `PATCH ${at}-${end - 1}`);
          location = pathOf(String(reply.headers.location ?? location));
        }
      }
      const done = await next('PUT', `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`, { 'content-length': 0 });
      expectStatus(done, 201, 'PUT');
      if (done.headers['docker-content-digest'] !== digest) throw new UnexpectedReply(done.status, 'PUT Docker-Content-Digest', digest);
    }
    const seconds = (performance.now() - started) / 1000;
    const head = await next('HEAD', `/v2/${repo}/blobs/${digest}`, {});
    expectStatus(head, 200, 'HEAD');
    if (Number(head.headers['content-length']) !== size) throw new UnexpectedReply(head.status, `HEAD size ${String(head.headers['content-length'])}`, size);
    return seconds;
  } finally {
    for (const agent of agents.values()) agent.destroy();
  }
}

/** One verified pull of a blob: the whole body, `size` bytes; follows a 307 to the store once, as clients do. */
export async function pullBlob(client: BenchClient, blob: BlobToPush): Promise<number> {
  const started = performance.now();
  let reply = await client.send('GET', `/v2/${blob.repo}/blobs/${blob.digest}`);
  if (reply.status === 307 || reply.status === 302) {
    const location = String(reply.headers.location ?? '');
    reply = await client.raw('GET', new URL(location, client.base).href);
  }
  expectStatus(reply, 200, 'GET blob');
  if (reply.bytes !== blob.size) throw new UnexpectedReply(reply.status, `GET blob: ${reply.bytes} bytes`, blob.size);
  return (performance.now() - started) / 1000;
}
