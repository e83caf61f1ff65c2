import FindMyWay from 'find-my-way';
import { RegistryError } from '../errors/registry-error.ts';
import type { RouteParams } from '../http/context.ts';
import { routes, type Method, type Route } from './routes.ts';
import { splitName } from './split-name.ts';

/**
 * find-my-way over the route table. maxParamLength is raised from its default of 100: a legal
 * repository name is up to 255 characters, %2F-encoded here to 3 per '/' (STYLE §6.3).
 */
const MAX_PARAM_LENGTH = 1024;
const METHODS: readonly Method[] = ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE'];

export interface Match {
  readonly route: Route;
  readonly params: RouteParams;
}

export interface Router {
  /** The route for a request, or a RegistryError: NAME_INVALID, ROUTE_UNKNOWN (404), UNSUPPORTED (405). */
  match(method: string, path: string): Match;
}

export function createRouter(table: readonly Route[] = routes): Router {
  const fmw = FindMyWay({ maxParamLength: MAX_PARAM_LENGTH, ignoreTrailingSlash: false, caseSensitive: true });
  for (const route of table) fmw.on(route.method, route.path, () => undefined, route);

  const find = (method: Method, routable: string): FindMyWay.FindResult<FindMyWay.HTTPVersion.V1> | null => {
    try {
      return fmw.find(method, routable);
    } catch {
      return null; // a malformed %-escape: no route can match it
    }
  };

  return {
    match(method, path) {
      const { routable, name } = splitName(path);
      const found = METHODS.includes(method as Method) ? find(method as Method, routable) : null;
      if (found) {
        // `/v2//tags/list`: the route wants a name and the path has an empty one.
        if ('name' in found.params && name === undefined) throw new RegistryError('NAME_INVALID', { name: '' });
        const params = { ...found.params, name: name ?? '' } as RouteParams;
        return { route: found.store as Route, params };
      }
      if (METHODS.some((m) => find(m, routable) !== null)) throw new RegistryError('UNSUPPORTED', { method, path: path.slice(0, 300) });
      throw new RegistryError('ROUTE_UNKNOWN', { path: path.slice(0, 300) });
    },
  };
}
