export interface Credentials {
  readonly username: string;
  readonly password: string;
}

type Fetch = (url: string, headers: Record<string, string>) => Promise<{ status: number; body?: Buffer }>;

/**
 * The client side of registry auth: Basic (RFC 7617) and the Docker token flow (a 401 with
 * `WWW-Authenticate: Bearer realm,service,scope` → GET realm?service&scope with the credentials →
 * {token | access_token} → the request again with `Authorization: Bearer`). Tokens are kept per
 * repository, so after the first challenge every request carries one and meets no 401 again.
 */
export class RegistryAuth {
  private basic: string | undefined;
  private readonly bearers = new Map<string, string>();

  constructor(
    private readonly credentials: Credentials | undefined,
    private readonly fetchToken: Fetch,
  ) {}

  /** The Authorization a request to `path` carries before any challenge, when one is known. */
  headerFor(path: string): string | undefined {
    return this.bearers.get(repositoryOf(path)) ?? this.basic;
  }

  /** The Authorization to retry with after a 401 carrying `challenge`; undefined when there is none to give. */
  async answer(path: string, challenge: string | undefined): Promise<string | undefined> {
    const parsed = challenge === undefined ? undefined : parseChallenge(challenge);
    if (parsed === undefined) return undefined;
    if (parsed.scheme === 'basic') {
      if (this.credentials === undefined) return undefined;
      this.basic = `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')}`;
      return this.basic;
    }
    const token = await this.token(parsed.params);
    if (token === undefined) return undefined;
    const bearer = `Bearer ${token}`;
    this.bearers.set(repositoryOf(path), bearer);
    return bearer;
  }

  private async token(params: Readonly<Record<string, string>>): Promise<string | undefined> {
    const realm = params.realm;
    if (realm === undefined) return undefined;
    const url = new URL(realm);
    if (params.service !== undefined) url.searchParams.set('service', params.service);
    if (params.scope !== undefined) {
      // Ask for push too when pull was named (a push's first 401 names pull,push already; a HEAD's only pull).
      url.searchParams.set('scope', params.scope.replace(/:pull$/, ':pull,push'));
    }
    const headers: Record<string, string> = this.credentials === undefined ? {} : { authorization: `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')}` };
    const reply = await this.fetchToken(url.href, headers);
    if (reply.status !== 200 || reply.body === undefined) throw new Error(`token from ${url.origin}${url.pathname}: HTTP ${reply.status}`);
    const body = JSON.parse(reply.body.toString()) as { token?: unknown; access_token?: unknown };
    const token = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : undefined;
    if (token === undefined) throw new Error(`token from ${url.origin}${url.pathname}: no token in the answer`);
    return token;
  }
}

/** `/v2/<name>/blobs/...` → `<name>`; other paths (the base, the catalog) → ''. */
function repositoryOf(path: string): string {
  const match = /^(?:https?:\/\/[^/]+)?\/v2\/(.+?)\/(?:blobs|manifests|tags|referrers)\//.exec(path);
  return match?.[1] ?? '';
}

/** `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"` (RFC 9110 §11.6.1, quoted or token values). */
export function parseChallenge(header: string): { scheme: 'basic' | 'bearer'; params: Record<string, string> } | undefined {
  const match = /^\s*(\w+)\s*(.*)$/.exec(header);
  const scheme = match?.[1]?.toLowerCase();
  if (scheme !== 'basic' && scheme !== 'bearer') return undefined;
  const params: Record<string, string> = {};
  for (const pair of (match?.[2] ?? '').matchAll(/(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g)) {
    const name = pair[1]?.toLowerCase();
    if (name !== undefined) params[name] = (pair[2] ?? pair[3] ?? '').replace(/\\(.)/g, '$1');
  }
  return { scheme, params };
}
