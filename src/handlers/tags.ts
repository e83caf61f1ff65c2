import { RegistryError } from '../errors/registry-error.ts';
import { HEADER } from '../http/headers.ts';
import { sendBytes, sendJson } from '../http/respond.ts';
import type { Handler, RequestContext } from '../http/context.ts';
import { nextLink, paginate, readPageSize } from './pagination.ts';

/**
 * The whole-list answer (no `n`, no `last`) serialised once per tag list the store hands out:
 * the store's list is a read-only snapshot, the same array until a tag changes or its cache
 * entry expires, so its JSON cannot go stale. Pollers of a tag list then cost what a manifest GET
 * does (issue 9: the JSON of 50 tags was ~10 % of the request).
 */
const wholeListBodies = new WeakMap<readonly string[], { readonly name: string; readonly body: Buffer }>();

function wholeListBody(name: string, tags: readonly string[]): Buffer {
  const known = wholeListBodies.get(tags);
  if (known?.name === name) return known.body;
  const body = Buffer.from(JSON.stringify({ name, tags }));
  wholeListBodies.set(tags, { name, body });
  return body;
}

/** end-8a / end-8b: GET /v2/<name>/tags/list?n=&last= ; NAME_UNKNOWN (code-9) for no such repository. */
export const getTags: Handler = (ctx) => {
  if (ctx.services.proxy?.intercepts(ctx)) return ctx.services.proxy.getTags(ctx, getTags);
  // Cached (a poller's every request after the first): answered now, without an await.
  const cached = ctx.services.manifests.cachedTagsOf(ctx.params.name);
  if (cached) return sendTags(ctx, cached);
  return ctx.services.manifests.tagsOf(ctx.params.name).then((tags) => sendTags(ctx, tags));
};

/** The answer for `tags` (sorted) with n/last applied; undefined: NAME_UNKNOWN. Also the pull-through cache's (proxy/). */
export function sendTags({ req, res, params, query }: RequestContext, tags: readonly string[] | undefined): void {
  const n = readPageSize(query, undefined);
  if (!tags) throw new RegistryError('NAME_UNKNOWN', { name: params.name });
  const last = query.get('last');
  if (n === undefined && last === null) {
    sendBytes(req, res, 200, wholeListBody(params.name, tags), { [HEADER.contentType]: 'application/json' });
    return;
  }
  const page = paginate(tags, n, last);
  const link = page.next === undefined || n === undefined ? {} : { [HEADER.link]: nextLink(`/v2/${params.name}/tags/list`, n, page.next) };
  sendJson(req, res, 200, { name: params.name, tags: page.items }, link);
}
