import { HEADER } from '../http/headers.ts';
import { sendJson } from '../http/respond.ts';
import type { Handler } from '../http/context.ts';
import { nextLink, paginate, readPageSize } from './pagination.ts';

/** Catalog pages hold at most this many names when the client does not ask (distribution's maxEntries). */
const DEFAULT_PAGE = 1000;

/** GET /v2/_catalog?n=&last= : repository names, sorted, paginated with a Link header. */
export const getCatalog: Handler = async ({ req, res, query, services }) => {
  const n = readPageSize(query, DEFAULT_PAGE) ?? DEFAULT_PAGE;
  const page = paginate(await services.catalog.names(), n, query.get('last'));
  const headers = page.next === undefined ? {} : { [HEADER.link]: nextLink('/v2/_catalog', n, page.next) };
  sendJson(req, res, 200, { repositories: page.items }, headers);
};
