/**
 * WWW-Authenticate as registries send it (RFC 9110 §11.6.1; distribution
 * registry/client/auth/challenge/authchallenge.go): a scheme, then `key="value"` parameters.
 * Docker's token flow (distribution docs/spec/auth/token.md) is
 *
 *   GET /v2/library/alpine/manifests/3         → 401 WWW-Authenticate: Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"
 *   GET <realm>?service=...&scope=...           → 200 {"token": "...", "expires_in": 300}
 *   GET /v2/library/alpine/manifests/3 + Authorization: Bearer <token> → 200
 */
export interface Challenge {
  /** Lower-cased: `basic`, `bearer`. */
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

const PARAM = /\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/y;

/** Every challenge in the header(s); a scheme this cannot read is skipped, never thrown. */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const values = header === undefined ? [] : Array.isArray(header) ? header : [header];
  const challenges: Challenge[] = [];
  for (const value of values) {
    // A new challenge starts at a token followed by a space that is not itself `key=`.
    for (const part of value.split(/,?\s*(?=\b(?:Basic|Bearer|Digest|Negotiate)\b\s)/i)) {
      const match = /^\s*([A-Za-z][A-Za-z0-9_-]*)(?:\s+|$)/.exec(part);
      if (!match?.[1]) continue;
      const params: Record<string, string> = {};
      PARAM.lastIndex = match[0].length;
      for (let m = PARAM.exec(part); m; m = PARAM.exec(part)) {
        const key = m[1]?.toLowerCase();
        if (key) params[key] = (m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1');
        if (PARAM.lastIndex >= part.length) break;
      }
      challenges.push({ scheme: match[1].toLowerCase(), params });
    }
  }
  return challenges;
}
