import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * The crash test's HTTP client: plain node:http (one connection per request), with hooks on
 * "request started" and "response arrived" for the kill planner, and two ways a request can fail
 * that the workload tells apart: it was never sent (the server was already killed) or the
 * connection broke under it (it may or may not have taken effect).
 */
export type OpKind = 'post' | 'patch' | 'stream' | 'commit' | 'monolithic' | 'manifest' | 'delete' | 'status' | 'verify';

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly method: string;
  readonly path: string;
}

/** The connection broke: the request may have reached the server and taken effect, or not. */
export class Disconnected extends Error {
  constructor(method: string, path: string, cause: unknown) {
    super(`${method} ${path}: ${(cause as Error).message ?? String(cause)}`);
  }
}

/** The server was already down: nothing was sent. */
export class NotSent extends Error {}

export interface Channel {
  readonly base: string;
  /** True from the moment a kill was decided (set before the signal is sent). */
  isDown(): boolean;
  started?(kind: OpKind): void;
  responded?(kind: OpKind, status: number): void;
  /** Every status seen, for the 5xx count. */
  seen(reply: Reply): void;
}

export interface CallOptions {
  readonly headers?: OutgoingHttpHeaders;
  readonly body?: Buffer | AsyncIterable<Uint8Array>;
}

export function call(ch: Channel, kind: OpKind, method: string, path: string, options: CallOptions = {}): Promise<Reply> {
  if (ch.isDown()) return Promise.reject(new NotSent(`${method} ${path}`));
  const { hostname, port } = new URL(ch.base);
  return new Promise<Reply>((resolve, reject) => {
    let settled = false;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      reject(new Disconnected(method, path, err));
    };
    const req = httpRequest({ hostname, port, path, method, headers: options.headers, agent: false }, (res) => {
      const status = res.statusCode ?? 0;
      const finish = (body: Buffer): void => {
        if (settled) return;
        settled = true;
        const reply = { status, headers: res.headers, body, method, path };
        ch.seen(reply);
        resolve(reply);
      };
      // An answer without a body is complete when its head arrives. Taking it then matters when
      // the planner kills the server right here: the answer must count as acknowledged, even if
      // the socket breaks before the parser reaches 'end'.
      const bodyless = method === 'HEAD' || res.headers['content-length'] === '0' || status === 204;
      res.on('error', (err) => (bodyless ? undefined : fail(err)));
      res.on('aborted', () => (bodyless ? undefined : fail(new Error('response aborted'))));
      if (bodyless) {
        res.resume();
        finish(Buffer.alloc(0));
      } else {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => finish(Buffer.concat(parts)));
        res.on('close', () => {
          if (!res.complete) fail(new Error('response closed before its end'));
        });
      }
      ch.responded?.(kind, status);
    });
    req.on('error', fail);
    ch.started?.(kind);
    const body = options.body;
    if (body === undefined || Buffer.isBuffer(body)) req.end(body);
    else pipeline(Readable.from(body), req).catch(fail);
  });
}

export function describe(reply: Reply): string {
  const headers = Object.entries(reply.headers)
    .filter(([k]) => ['range', 'location', 'docker-content-digest', 'content-length', 'docker-upload-uuid'].includes(k))
    .map(([k, v]) => `${k}: ${String(v)}`)
    .join(', ');
  const text = reply.body.length > 600 ? `${reply.body.subarray(0, 600).toString()}…` : reply.body.toString();
  return `${reply.method} ${reply.path} → ${reply.status} [${headers}] ${text}`;
}

/** The error codes of an OCI error body, [] when there is none. */
export function errorCodes(reply: Reply): string[] {
  try {
    const body = JSON.parse(reply.body.toString()) as { errors?: { code?: unknown }[] };
    return (body.errors ?? []).map((e) => String(e.code));
  } catch {
    return [];
  }
}
