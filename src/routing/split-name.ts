import { RegistryError } from '../errors/registry-error.ts';
import { isValidName } from './names.ts';

/**
 * The pre-router. Repository names contain '/', and find-my-way matches one segment per
 * parameter (STYLE §6.3), so we find the action tail from the right, check the name against the
 * spec grammar, and hand find-my-way `/v2/<name with %2F>/<tail>`.
 *
 * Tails have fixed shapes, so the rightmost match is unambiguous even for names that contain
 * "blobs", "manifests" or "uploads" as components: every tail but the upload's is two segments
 * whose first is an action word, and the upload's second segment, "uploads", is none of them, so
 * at most one tail fits the end of a path. One regex tries them all in a single pass, its greedy
 * name taking the longest prefix that leaves a whole tail (issue 9: six passes were most of
 * this function's time).
 */
const TAIL = new RegExp(
  [
    'blobs\\/uploads\\/[^/]+',
    'blobs\\/uploads\\/?',
    // An empty <digest> or <reference> still splits, so its grammar refuses it with the right code.
    'blobs\\/[^/]*',
    'manifests\\/[^/]*',
    'tags\\/list',
    'referrers\\/[^/]*',
  ]
    .map((tail) => `(?:${tail})`)
    .join('|')
    .replace(/^/, '^(.+)\\/(')
    .concat(')$'),
);

export interface SplitPath {
  /** What find-my-way sees. */
  readonly routable: string;
  readonly name: string | undefined;
}

/** `path` is the URL path without the query string. */
export function splitName(path: string): SplitPath {
  if (!path.startsWith('/v2/')) return { routable: path, name: undefined };
  const rest = path.slice(4);
  if (rest === '' || rest === '_catalog') return { routable: path, name: undefined };
  const match = TAIL.exec(rest);
  if (!match) return { routable: path, name: undefined };
  const name = match[1] as string;
  if (!isValidName(name)) throw new RegistryError('NAME_INVALID', { name: name.slice(0, 300) });
  const tail = match[2] as string;
  const action = tail === 'blobs/uploads' ? 'blobs/uploads/' : tail;
  return { routable: `/v2/${encodeURIComponent(name)}/${action}`, name };
}
