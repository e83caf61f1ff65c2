import { RegistryError } from '../errors/registry-error.ts';

/**
 * `n` and `last` for the catalog and tag lists (end-8b): sorted results after `last`, at most `n`
 * of them, and a `Link: <...>; rel="next"` when more remain. `n=0` is an empty list with no Link.
 */
export interface Page<T> {
  readonly items: readonly T[];
  readonly next: string | undefined;
}

export function readPageSize(query: URLSearchParams, fallback: number | undefined): number | undefined {
  const raw = query.get('n');
  if (raw === null || raw === '') return fallback;
  if (!/^\d{1,9}$/.test(raw)) throw new RegistryError('PAGINATION_NUMBER_INVALID', { n: raw.slice(0, 50) });
  return Number(raw);
}

export function paginate(sorted: readonly string[], n: number | undefined, last: string | null): Page<string> {
  const after = last === null ? sorted : sorted.filter((item) => item > last);
  if (n === undefined || after.length <= n) return { items: after, next: undefined };
  const items = after.slice(0, n);
  return { items, next: n > 0 ? items.at(-1) : undefined };
}

export function nextLink(path: string, n: number, last: string): string {
  return `<${path}?n=${n}&last=${encodeURIComponent(last)}>; rel="next"`;
}
