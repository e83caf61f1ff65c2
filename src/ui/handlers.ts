import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { RegistryError } from '../errors/registry-error.ts';
import type { Handler, RequestContext } from '../http/context.ts';
import { API_VERSION, HEADER } from '../http/headers.ts';
import { sendBytes, sendEmpty } from '../http/respond.ts';
import { uiAssets, type Asset } from './assets.ts';

/**
 * The web UI's routes (routing/routes.ts, access 'public'): `/` (a redirect for browsers), `/ui`,
 * `/ui/` and its static files. Nothing here is on a /v2 path: the page reads the registry through
 * the API itself, from the browser, so the API's auth applies to every byte of data it shows.
 * The files themselves hold no data, so they are served without auth; a page that asked for
 * credentials first would also be unusable under token auth, whose challenge a browser cannot
 * answer by itself.
 */

export const UI_PATH = '/ui/';

/**
 * What every UI response carries. The page runs one same-origin script and one stylesheet and
 * talks only to this registry: no inline script or style, no frames, no forms, no other origin.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: OutgoingHttpHeaders = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/**
 * Whether the client says it takes text/html (RFC 9110 §12.5.1), i.e. is a browser navigating.
 * Only an explicit `text/html` with q > 0 counts: API clients send `*\/*`, a manifest type, or
 * no Accept at all, and must keep getting what `/` answered before the UI existed.
 */
export function acceptsHtml(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  return accept.split(',').some((range) => {
    const [type = '', ...params] = range.split(';').map((part) => part.trim().toLowerCase());
    if (type !== 'text/html') return false;
    const q = params.find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

/**
 * GET/HEAD `/`: a browser is sent to the UI; anything else gets the 404 `/` has always answered
 * (ROUTE_UNKNOWN, as for any path that is no route). Vary: Accept, as the answer depends on it.
 */
export const getRoot: Handler = ({ req, res }) => {
  if (acceptsHtml(req.headers.accept)) {
    sendEmpty(res, 302, { [HEADER.location]: UI_PATH, vary: 'Accept' });
    return;
  }
  throw new RegistryError('ROUTE_UNKNOWN', { path: '/' }, { headers: { vary: 'Accept' } });
};

/** `/ui` → `/ui/`: the page's relative links need the slash. */
export const getUiRedirect: Handler = ({ res }) => {
  sendEmpty(res, 301, { [HEADER.location]: UI_PATH });
};

export const getUiPage: Handler = async (ctx) => {
  sendAsset(ctx, (await uiAssets()).page);
};

/** `/ui/<file>`: only the current hashed names exist; anything else is a 404 like any unknown path. */
export const getUiAsset: Handler = async (ctx) => {
  // The route is `/ui/:asset` (one segment); RouteParams only names the API's parameters.
  const url = ctx.req.url ?? '';
  const queryAt = url.indexOf('?');
  const name = (queryAt === -1 ? url : url.slice(0, queryAt)).slice(UI_PATH.length);
  const found = (await uiAssets()).byName.get(name);
  if (!found) throw new RegistryError('ROUTE_UNKNOWN', { path: `${UI_PATH}${name.slice(0, 200)}` });
  sendAsset(ctx, found);
};

function sendAsset({ req, res }: RequestContext, asset: Asset): void {
  const headers: OutgoingHttpHeaders = { ...SECURITY_HEADERS, [HEADER.etag]: asset.etag, 'cache-control': asset.cacheControl };
  if (matchesEtag(req.headers['if-none-match'], asset.etag)) {
    sendNotModified(res, headers);
    return;
  }
  sendBytes(req, res, 200, asset.body, { ...headers, [HEADER.contentType]: asset.contentType });
}

/** If-None-Match (RFC 9110 §13.1.2): `*` or a list of entity tags, compared weakly. */
export function matchesEtag(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  if (ifNoneMatch.trim() === '*') return true;
  return ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

/**
 * 304 with the validators and caching headers a 200 would carry (RFC 9110 §15.4.5), and no
 * Content-Length: respond.ts's sendEmpty would say 0, which a cache could take for the page's.
 */
function sendNotModified(res: ServerResponse, headers: OutgoingHttpHeaders): void {
  res.writeHead(304, { [HEADER.apiVersion]: API_VERSION, [HEADER.contentTypeOptions]: 'nosniff', ...headers });
  res.end();
}
