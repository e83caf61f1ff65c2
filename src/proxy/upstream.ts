import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { parseChallenges, type Challenge } from './challenge.ts';

/**
 * One upstream registry as the cache speaks to it: plain node:http(s) with a keep-alive pool,
 * and the auth dance of distribution's registry/proxy/proxyauth.go + registry/client/auth: send,
 * and on a 401 answer its challenge once: `Basic` with the configured credentials, or `Bearer`
 * (the Docker token flow: GET realm?service=&scope= with those credentials, if any, then retry
 * with the token). Tokens are kept per scope until shortly before they expire; one token
 * request per scope is in flight at a time, however many pulls are waiting for it.
 */
export interface UpstreamSettings {
  /** Base URL, e.g. https://registry-1.docker.io (config validated: origin only). */
  readonly remoteurl: string;
  readonly username?: string;
  readonly password?: string;
}

/** The upstream could not be asked (refused, reset, timed out, bad token answer): "upstream down". */
export class UpstreamUnavailableError extends Error {
  constructor(
    readonly upstream: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`upstream ${upstream}: ${reason}`, options);
    this.name = 'UpstreamUnavailableError';
  }
}

/** No answer headers within this: the upstream is taken as down (a blackholed host). */
const RESPONSE_TIMEOUT_MS = 30_000;
/** A body that stops flowing for this long is cut off, so a stalled upstream cannot hold a pull forever. */
const BODY_IDLE_TIMEOUT_MS = 60_000;
/** Token spec: a token without expires_in lives 60 s. */
const DEFAULT_TOKEN_SECONDS = 60;
const TOKEN_BODY_LIMIT = 1024 * 1024;
const MAX_REDIRECTS = 5;

interface CachedToken {
  readonly token: string;
  readonly expiresAt: number;
}

export interface UpstreamRequest {
  readonly method: 'GET' | 'HEAD';
  /** Path and query under the base URL: /v2/<name>/blobs/<digest>. */
  readonly path: string;
  /** The token scope the request needs: repository:<name>:pull. */
  readonly scope: string;
  readonly headers?: OutgoingHttpHeaders;
}

export class UpstreamClient {
  readonly origin: string;
  readonly host: string;
  private readonly agent: HttpAgent;
  private readonly https: boolean;
  private readonly basic: string | undefined;
  /** How the upstream last challenged us: `basic` goes out up front from then on; bearer looks in `tokens`. */
  private scheme: 'none' | 'basic' | 'bearer' = 'none';
  private bearerChallenge: Challenge | undefined;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly tokenRequests = new Map<string, Promise<string>>();
  /** Token requests made (tests: "tokens cached until expiry"). */
  tokenFetches = 0;

  constructor(settings: UpstreamSettings) {
    const url = new URL(settings.remoteurl);
    this.origin = url.origin;
    this.host = url.host;
    this.https = url.protocol === 'https:';
    this.agent = this.https ? new HttpsAgent({ keepAlive: true, maxSockets: 64 }) : new HttpAgent({ keepAlive: true, maxSockets: 64 });
    this.basic = settings.username !== undefined ? `Basic ${Buffer.from(`${settings.username}:${settings.password ?? ''}`).toString('base64')}` : undefined;
  }

  /**
   * The upstream's answer, authenticated as it asks; the caller reads or drains the body. A 401
   * after the one retry comes back as it is (the credentials are wrong): the caller decides.
   * Rejects with UpstreamUnavailableError when the upstream cannot be reached at all.
   */
  async send(req: UpstreamRequest): Promise<IncomingMessage> {
    return this.followRedirects(req, await this.authenticated(req));
  }

  /**
   * Blob GETs may be redirected to storage elsewhere (Docker Hub sends its layers to a CDN, a
   * distribution on S3 to a presigned URL): followed, up to 5 hops, without our Authorization
   * once the origin changes (the presigned URL carries its own).
   */
  private async followRedirects(req: UpstreamRequest, res: IncomingMessage): Promise<IncomingMessage> {
    let current = res;
    let url = new URL(req.path, this.origin);
    for (let hop = 0; hop < MAX_REDIRECTS; hop++) {
      const status = current.statusCode ?? 0;
      const location = current.headers.location;
      if (![301, 302, 303, 307, 308].includes(status) || location === undefined) return current;
      current.resume();
      url = new URL(location, url);
      const sameOrigin = url.origin === this.origin;
      const headers: OutgoingHttpHeaders = { ...req.headers };
      const auth = sameOrigin ? await this.authorizationFor(req.scope, false) : undefined;
      if (auth) headers['authorization'] = auth;
      current = await requestUrl(url, req.method, headers, sameOrigin ? this.agent : undefined).catch((err: unknown) => {
        throw new UpstreamUnavailableError(this.host, `redirect to ${url.host} failed: ${(err as Error).message}`, { cause: err });
      });
    }
    current.resume();
    throw new UpstreamUnavailableError(this.host, `more than ${MAX_REDIRECTS} redirects`);
  }

  private async authenticated(req: UpstreamRequest): Promise<IncomingMessage> {
    const first = await this.once(req, await this.authorizationFor(req.scope, false));
    if (first.statusCode !== 401) return first;
    const challenges = parseChallenges(first.headers['www-authenticate']);
    // Nothing we can answer (no credentials for Basic, no realm): the 401 is the answer.
    if (!challenges.some((c) => (c.scheme === 'bearer' && c.params['realm']) || (c.scheme === 'basic' && this.basic))) return first;
    first.resume();
    const retryWith = await this.answerChallenge(challenges, req.scope);
    return this.once(req, retryWith);
  }

  close(): void {
    this.agent.destroy();
  }

  /** The Authorization to send before any challenge: what the upstream asked for last time. */
  private async authorizationFor(scope: string, refresh: boolean): Promise<string | undefined> {
    if (this.scheme === 'basic') return this.basic;
    if (this.scheme === 'bearer' && this.bearerChallenge) return `Bearer ${await this.token(this.bearerChallenge, scope, refresh)}`;
    return undefined;
  }

  private async answerChallenge(challenges: readonly Challenge[], scope: string): Promise<string | undefined> {
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params['realm']);
    if (bearer) {
      this.scheme = 'bearer';
      this.bearerChallenge = bearer;
      // A token we sent was refused (revoked, or expired early): fetch a fresh one.
      return `Bearer ${await this.token(bearer, scope, true)}`;
    }
    if (challenges.some((c) => c.scheme === 'basic') && this.basic) {
      this.scheme = 'basic';
      return this.basic;
    }
    return undefined;
  }

  /** A token for `scope` from the challenge's realm: cached until shortly before it expires. */
  private token(challenge: Challenge, scope: string, refresh: boolean): Promise<string> {
    const cached = this.tokens.get(scope);
    if (!refresh && cached && cached.expiresAt > Date.now()) return Promise.resolve(cached.token);
    const pending = this.tokenRequests.get(scope);
    if (pending) return pending;
    const request = this.fetchToken(challenge, scope).finally(() => this.tokenRequests.delete(scope));
    this.tokenRequests.set(scope, request);
    return request;
  }

  private async fetchToken(challenge: Challenge, scope: string): Promise<string> {
    const realm = challenge.params['realm'] ?? '';
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new UpstreamUnavailableError(this.host, `token realm is not a URL: ${realm.slice(0, 200)}`);
    }
    if (challenge.params['service'] !== undefined) url.searchParams.set('service', challenge.params['service']);
    url.searchParams.set('scope', scope);
    this.tokenFetches++;
    const started = Date.now();
    const res = await requestUrl(url, 'GET', { ...(this.basic ? { authorization: this.basic } : {}) }, undefined).catch((err: unknown) => {
      throw new UpstreamUnavailableError(this.host, `token request to ${url.host} failed: ${(err as Error).message}`, { cause: err });
    });
    const body = await readLimited(res, TOKEN_BODY_LIMIT);
    if (res.statusCode !== 200) throw new UpstreamUnavailableError(this.host, `token request to ${url.host} answered ${res.statusCode}`);
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    try {
      parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
    } catch {
      throw new UpstreamUnavailableError(this.host, 'token answer is not JSON');
    }
    const token = typeof parsed.token === 'string' && parsed.token !== '' ? parsed.token : typeof parsed.access_token === 'string' ? parsed.access_token : '';
    if (token === '') throw new UpstreamUnavailableError(this.host, 'token answer holds no token');
    const seconds = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : DEFAULT_TOKEN_SECONDS;
    const issued = typeof parsed.issued_at === 'string' && !Number.isNaN(Date.parse(parsed.issued_at)) ? Math.min(Date.parse(parsed.issued_at), started) : started;
    // Renewed a little before it runs out: a pull started with a token seconds from expiry fails midway.
    const margin = Math.min(10_000, seconds * 100);
    this.tokens.set(scope, { token, expiresAt: issued + seconds * 1000 - margin });
    return token;
  }

  private once(req: UpstreamRequest, authorization: string | undefined): Promise<IncomingMessage> {
    const headers: OutgoingHttpHeaders = { ...req.headers, ...(authorization ? { authorization } : {}) };
    const url = new URL(req.path, this.origin);
    // A kept-alive socket the upstream closed while idle resets the next request on it: GET and
    // HEAD are idempotent, so once more on a fresh socket (what undici does too).
    return requestUrl(url, req.method, headers, this.agent)
      .catch((err: unknown) => {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ECONNRESET' || code === 'EPIPE') return requestUrl(url, req.method, headers, undefined);
        throw err;
      })
      .catch((err: unknown) => {
        throw new UpstreamUnavailableError(this.host, (err as Error).message, { cause: err });
      });
  }
}

/** One request; resolves with the response once its headers are in, and watches its body for stalls. */
function requestUrl(url: URL, method: string, headers: OutgoingHttpHeaders, agent: HttpAgent | undefined): Promise<IncomingMessage> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, ...(agent ? { agent } : { agent: false }) }, (res) => {
      clearTimeout(timer);
      // On the socket, which keep-alive reuses: the listener goes with this response.
      const socket = res.socket;
      const stalled = (): void => void res.destroy(new Error(`no data for ${BODY_IDLE_TIMEOUT_MS} ms`));
      socket.setTimeout(BODY_IDLE_TIMEOUT_MS);
      socket.on('timeout', stalled);
      res.once('close', () => {
        socket.setTimeout(0);
        socket.off('timeout', stalled);
      });
      resolve(res);
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${RESPONSE_TIMEOUT_MS} ms`)), RESPONSE_TIMEOUT_MS);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end();
  });
}

/** The whole body of a small answer (token, manifest), refused past `limit` bytes. */
export async function readLimited(res: IncomingMessage, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      res.destroy();
      throw new Error(`answer larger than ${limit} bytes`);
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}
