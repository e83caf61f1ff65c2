/**
 * Parsers for the value grammars the configuration shares with distribution: Go durations, byte
 * sizes and listen addresses. Pure functions (undefined when the text does not match), so the
 * schema can give each key its own message and the CLI can reuse them for flags.
 */

/** Milliseconds per unit of Go's time.ParseDuration ("ns", "us", "µs" and "μs", "ms", "s", "m", "h"). */
const DURATION_UNITS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Go's time.ParseDuration grammar → signed milliseconds: `[-+]?(<number><unit>)+` where a number
 * is `1`, `1.5`, `.5` or `1.`; plus the bare `0` that Go accepts (the idletimeout docs say `0`).
 * Fractions of a millisecond are kept (250us → 0.25).
 */
export function parseGoDuration(text: string): number | undefined {
  const match = /^([-+]?)(.+)$/.exec(text.trim());
  if (!match) return undefined;
  const sign = match[1] === '-' ? -1 : 1;
  const body = match[2] ?? '';
  if (body === '0') return 0;
  let ms = 0;
  let rest = body;
  while (rest.length > 0) {
    // µ and μ (micro sign, Greek mu; Go accepts both) escaped: the CLI bundle stays ASCII (bin/code-cache.cjs).
    const part = /^(\d+\.?\d*|\.\d+)([a-z\u00b5\u03bc]+)/.exec(rest);
    const unit = part ? DURATION_UNITS[part[2] ?? ''] : undefined;
    if (!part || unit === undefined) return undefined;
    ms += Number(part[1]) * unit;
    rest = rest.slice(part[0].length);
  }
  return Number.isFinite(ms) ? sign * ms : undefined;
}

const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

/** A byte count written as "10GiB", "500MB", "4096" → bytes. */
export function parseSize(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = SIZE_UNITS[(match?.[2] ?? '').toLowerCase()];
  if (!match || unit === undefined) return undefined;
  const bytes = Math.round(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** `host:port`, `[v6]:port` or `:port` (every interface) → listen options. */
export function splitAddr(addr: string): { host: string | undefined; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(addr.trim());
  const port = Number(match?.[3]);
  if (!match || port > 65535) return undefined;
  const host = match[1] ?? match[2];
  return { host: host ? host : undefined, port };
}
