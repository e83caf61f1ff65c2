import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { RegistryAuth, type Credentials } from './registry-auth.ts';

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** Bytes of body received (counted, not kept, unless `keepBody`). */
  readonly bytes: number;
  readonly body?: Buffer;
}

/** A request body that can be produced again (a retry after an auth challenge sends it anew). */
export type Body = () => Iterable<Buffer>;

export interface ClientOptions {
  readonly credentials?: Credentials;
  /** https: accept any certificate (--insecure). */
  readonly insecure?: boolean;
}

export interface SendOptions {
  readonly headers?: Record<string, string | number>;
  readonly body?: Body;
  /** Keep the response body (manifests, tokens); otherwise it is counted and dropped. */
  readonly keepBody?: boolean;
  /** A keep-alive agent of the caller's (one upload's connection); the client's shared pool otherwise. */
  readonly agent?: HttpAgent;
}

/**
 * The benchmark's HTTP client for one registry: node:http(s) with keep-alive agents (a
 * benchmark that opens a connection per request measures TCP, not the registry), bodies written
 * piece by piece with backpressure, and the registry's auth (Basic or the token flow) answered
 * once and reused (registry-auth.ts), so the figures are the registry's and not the client's.
 */
export class BenchClient {
  readonly base: URL;
  private readonly auth: RegistryAuth;
  private readonly shared: HttpAgent;

  constructor(
    url: string,
    readonly options: ClientOptions = {},
  ) {
    this.base = new URL(url.endsWith('/') ? url.slice(0, -1) : url);
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') throw new Error(`${url}: the registry URL must be http:// or https://`);
    this.shared = this.newAgent(256);
    this.auth = new RegistryAuth(options.credentials, (path, headers) => this.raw('GET', path, { headers, keepBody: true }));
  }

  /** A keep-alive agent of `maxSockets` connections to this registry (one upload's: 1). */
  newAgent(maxSockets = 1): HttpAgent {
    return this.base.protocol === 'https:' ? new HttpsAgent({ keepAlive: true, maxSockets, rejectUnauthorized: this.options.insecure !== true }) : new HttpAgent({ keepAlive: true, maxSockets });
  }

  /** A request; a 401 with a challenge is answered (credentials, token) and the request sent once more. */
  async send(method: string, path: string, options: SendOptions = {}): Promise<Reply> {
    const authorization = this.auth.headerFor(path);
    const first = await this.raw(method, path, withAuthorization(options, authorization));
    if (first.status !== 401) return first;
    const retry = await this.auth.answer(path, first.headers['www-authenticate']);
    if (retry === undefined) return first;
    return this.raw(method, path, withAuthorization(options, retry));
  }

  close(): void {
    this.shared.destroy();
  }

  /** One request, no auth handling. `path` is a path and query, or an absolute URL (a token realm). */
  raw(method: string, path: string, options: SendOptions = {}): Promise<Reply> {
    const url = /^https?:\/\//.test(path) ? new URL(path) : new URL(path, this.base);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const sameOrigin = url.origin === this.base.origin;
    const agent = sameOrigin ? (options.agent ?? this.shared) : undefined;
    return new Promise((resolve, reject) => {
      const req = send(url, { method, headers: options.headers ?? {}, ...(agent ? { agent } : {}), ...(url.protocol === 'https:' && this.options.insecure ? { rejectUnauthorized: false } : {}) }, (res) => {
        collect(res, options.keepBody === true).then(resolve, reject);
      });
      req.on('error', reject);
      writeBody(req, options.body?.());
    });
  }
}

function withAuthorization(options: SendOptions, authorization: string | undefined): SendOptions {
  if (authorization === undefined) return options;
  return { ...options, headers: { ...options.headers, authorization } };
}

function collect(res: IncomingMessage, keep: boolean): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const parts: Buffer[] = [];
    res.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (keep) parts.push(chunk);
    });
    res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, ...(keep ? { body: Buffer.concat(parts) } : {}) }));
    res.on('error', reject);
  });
}

/** Writes the pieces as the socket takes them (backpressure), then ends the request. */
function writeBody(req: import('node:http').ClientRequest, body: Iterable<Buffer> | undefined): void {
  if (body === undefined) {
    req.end();
    return;
  }
  const pieces = body[Symbol.iterator]();
  const pump = (): void => {
    for (;;) {
      const next = pieces.next();
      if (next.done === true) {
        req.end();
        return;
      }
      if (!req.write(next.value)) {
        req.once('drain', pump);
        return;
      }
    }
  };
  pump();
}
