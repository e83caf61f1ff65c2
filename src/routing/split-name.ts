import { RegistryError } from '../errors/registry-error.ts';
import { isValidName } from './names.ts';

/**
 * The pre-router. Repository names contain '/', and find-my-way matches one segment per
 * parameter (STYLE §6.3), so we find the action tail from the right, check the name against the
 * spec grammar, and hand find-my-way `/v2/<name with %2F>/<tail>`.
 *
 * Tails have fixed shapes, so the rightmost match is unambiguous even for names that contain
 * "blobs", "manifests" or "uploads" as components. Order matters: longer tails first.
 */
const TAILS: readonly RegExp[] = [
  /^(.+)\/(blobs\/uploads\/[^/]+)$/,
  /^(.+)\/(blobs\/uploads\/?)$/,
  // An empty <digest> or <reference> still splits, so its grammar refuses it with the right code.
  /^(.+)\/(blobs\/[^/]*)$/,
  /^(.+)\/(manifests\/[^/]*)$/,
  /^(.+)\/(tags\/list)$/,
  /^(.+)\/(referrers\/[^/]*)$/,
];

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
  for (const tail of TAILS) {
    const match = tail.exec(rest);
    if (!match) continue;
    const name = match[1] as string;
    if (!isValidName(name)) throw new RegistryError('NAME_INVALID', { name: name.slice(0, 300) });
    const action = (match[2] as string).replace(/^blobs\/uploads$/, 'blobs/uploads/');
    return { routable: `/v2/${encodeURIComponent(name)}/${action}`, name };
  }
  return { routable: path, name: undefined };
}
