import { RegistryError } from '../errors/registry-error.ts';
import { HEADER } from '../http/headers.ts';
import { sendJson } from '../http/respond.ts';
import type { Handler } from '../http/context.ts';
import { nextLink, paginate, readPageSize } from './pagination.ts';

/** end-8a / end-8b: GET /v2/<name>/tags/list?n=&last= ; NAME_UNKNOWN (code-9) for no such repository. */
export const getTags: Handler = async ({ req, res, params, query, services }) => {
  const n = readPageSize(query, undefined);
  const tags = await services.manifests.tagsOf(params.name);
  if (!tags) throw new RegistryError('NAME_UNKNOWN', { name: params.name });
  const page = paginate(tags, n, query.get('last'));
  const link = page.next === undefined || n === undefined ? {} : { [HEADER.link]: nextLink(`/v2/${params.name}/tags/list`, n, page.next) };
  sendJson(req, res, 200, { name: params.name, tags: page.items }, link);
};
