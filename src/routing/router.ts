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
/** Route matches kept per method, and the longest path kept: at most ~2 MiB of keys per method. */
const MATCH_CACHE_ENTRIES = 4096;
const MATCH_CACHE_MAX_PATH = 256;

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

  // Matches by method, then path: a registry under load is asked the same few paths over and over
  // (a pulled tag, its layers, a polled tag list), and a hit skips the name split, its grammar
  // check and find-my-way (issue 9: ~1 µs of a ~19 µs manifest GET). Only matches are kept, never
  // errors; params are read-only, so requests can share one. Bounded by entries and key length;
  // full, it starts over rather than track recency on every request.
  const matches = new Map<string, Map<string, Match>>(METHODS.map((m) => [m, new Map<string, Match>()]));

  const matchUncached = (method: string, path: string): Match => {
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
  };

  return {
    match(method, path) {
      const byPath = matches.get(method);
      const known = byPath?.get(path);
      if (known) return known;
      const match = matchUncached(method, path);
      if (byPath && path.length <= MATCH_CACHE_MAX_PATH) {
        if (byPath.size >= MATCH_CACHE_ENTRIES) byPath.clear();
        byPath.set(path, match);
      }
      return match;
    },
  };
}
