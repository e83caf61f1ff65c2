import { z } from 'zod';
import { parseGoDuration, parseSize, splitAddr } from './values.ts';

/**
 * Quayside's configuration, declared once: every key with its type, default and (from its path)
 * its environment name, REGISTRY_ + the upper-cased path joined by `_` (distribution's
 * configuration/parser.go). Keys are the reference registry's where they apply (distribution
 * configuration.Configuration: version, log.level, http.addr, storage.filesystem.rootdirectory,
 * storage.delete.enabled, storage.maintenance...), so a docker-registry config.yml works here
 * unchanged for the parts we share; the parts we do not implement are listed below the schema.
 * `Config` is inferred from this schema; load.ts only feeds it (YAML, then env) and words errors.
 */

/** A value of the right kind but out of bounds; `leaf` words it as given. */
class Problem {
  constructor(readonly message: string) {}
}

/** A leaf's problem, worded to follow its key: "storage.delete.enabled must be true or false". */
function leaf<T>(expected: string, read: (value: unknown) => T | undefined | Problem) {
  return z
    .custom<unknown>((value) => value !== undefined, { error: 'is required' })
    .transform((value, ctx): T => {
      const out = read(value);
      if (out instanceof Problem || out === undefined) {
        ctx.addIssue({ code: 'custom', message: out instanceof Problem ? out.message : `must be ${expected}`, input: value });
        return z.NEVER;
      }
      return out;
    });
}

/** Strings; YAML (and so an env value) may type `service: 2024` as a number, taken as its text. */
const text = () =>
  leaf('a string', (v) => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined));

const requiredText = () => leaf('a non-empty string', (v) => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : v === '' ? new Problem('is required') : undefined));

const bool = () => leaf('true or false', (v) => (typeof v === 'boolean' ? v : undefined));

const count = (max = Number.MAX_SAFE_INTEGER) =>
  leaf(max === Number.MAX_SAFE_INTEGER ? 'a whole number, 0 or more' : `a whole number from 0 to ${max}`, (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max ? v : undefined));

/** A byte count: a number, or "10GiB", "500MB"... */
const size = () =>
  leaf('a size such as 10GiB or 500MB', (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : typeof v === 'string' ? parseSize(v) : undefined));

/**
 * A Go duration ("168h", "1h30m", "90s") → ms, or `0` / "0" as Go and the idletimeout docs allow. A
 * bare number other than 0 is refused: Go would read 300 as 300ns, surely not what was meant.
 * Every duration here is a span of time, so a negative one is refused; `positive` also refuses 0
 * where 0 has no meaning (a check every 0 ms is a busy loop).
 */
const duration = (opts: { positive?: boolean } = {}) =>
  leaf('a duration such as 168h, 30m or 90s', (v) => {
    if (typeof v === 'number' && v !== 0) return new Problem(`needs a unit, such as ${v}s (Go reads a bare number as nanoseconds)`);
    const ms = v === 0 ? 0 : typeof v === 'string' ? parseGoDuration(v) : undefined;
    if (ms === undefined) return undefined;
    if (ms < 0) return new Problem('must not be negative');
    if (opts.positive && ms === 0) return new Problem('must be more than 0');
    return ms;
  });

function oneOf<const T extends string>(values: readonly T[], aliases: Readonly<Record<string, T>> = {}) {
  return leaf(`one of ${values.join(', ')}`, (v) => {
    const name = typeof v === 'string' ? v.toLowerCase() : undefined;
    if (name === undefined) return undefined;
    return aliases[name] ?? values.find((value) => value === name);
  });
}

const addr = () => leaf('host:port, [v6]:port or :port', (v) => (typeof v === 'string' && splitAddr(v) ? v : undefined));

/** A mapping whose keys all have defaults: absent means "all defaults" (zod's prefault parses `{}`). */
function section<S extends z.ZodRawShape>(shape: S) {
  const object = z.strictObject(shape);
  // Every key inside has a default, so {} is a whole input; TypeScript cannot see that through S.
  return object.prefault({} as z.input<typeof object>);
}

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const HOUR = 3_600_000;

export const configSchema = z.strictObject({
  /** distribution requires it; 0.1 is the only version there is. */
  version: text().default('0.1'),
  log: section({ level: oneOf(LOG_LEVELS, { warning: 'warn' }).default('info') }),
  http: section({
    /** host:port, `:port` for every interface, port 0 for any free port. */
    addr: addr().default('127.0.0.1:5000'),
    /** Serve HTTPS: PEM files; clientcas makes clients present a certificate signed by one of them. */
    tls: z
      .strictObject({
        certificate: requiredText(),
        key: requiredText(),
        clientcas: leaf('a list of file paths', (v) => (Array.isArray(v) && v.every((c) => typeof c === 'string') ? (v as string[]) : undefined)).default([]),
      })
      .optional(),
  }),
  /** At most one scheme, as in distribution (Auth.UnmarshalYAML: "must provide exactly one type"). */
  auth: z
    .strictObject({
      htpasswd: z.strictObject({ realm: text().default('basic-realm'), path: requiredText() }).optional(),
      token: z
        .strictObject({ realm: requiredText(), service: requiredText(), issuer: requiredText(), rootcertbundle: text().optional(), jwks: text().optional() })
        .refine((token) => token.rootcertbundle !== undefined || token.jwks !== undefined, { error: 'needs rootcertbundle or jwks' })
        .optional(),
    })
    .refine((auth) => Object.keys(auth).length <= 1, { error: 'must configure one auth scheme: htpasswd or token' })
    .prefault({}),
  storage: section({
    filesystem: section({ rootdirectory: text().default('./data') }),
    delete: section({ enabled: bool().default(false) }),
    maintenance: section({
      /** Stale uploads are removed after `age`, checked every `interval` (distribution's keys and defaults). */
      uploadpurging: section({
        enabled: bool().default(true),
        age: duration({ positive: true }).default(168 * HOUR),
        interval: duration({ positive: true }).default(24 * HOUR),
        dryrun: bool().default(false),
      }),
      /** Writes answer 405 UNSUPPORTED while reads go on. */
      readonly: section({ enabled: bool().default(false) }),
    }),
  }),
  /** Quayside's own settings (no distribution equivalent); REGISTRY_QUAYSIDE_* overrides apply too. */
  quayside: section({
    /** SHA-256 engine: auto (native when built, else wasm), native, wasm. QUAYSIDE_HASH_ENGINE wins. */
    hashengine: oneOf(['auto', 'native', 'wasm']).default('auto'),
    /** Chunk worker threads (persist + hash); 0 = sized to the engine (workers/pool.ts defaultWorkerCount). */
    workers: count(256).default(0),
    limits: section({
      /** Largest blob an upload may grow to, bytes; 0 = no limit. Beyond: 413. */
      uploadsize: size().default(0),
      /** Requests writing upload bytes at once; 0 = no limit. Beyond: 429 TOOMANYREQUESTS. */
      concurrentuploads: count(1_000_000).default(256),
      /** The most descriptors (config, layers, index entries, subject) one manifest may reference; 0 = no limit. */
      manifestreferences: count().default(10_000),
      /** A connection silent this long is closed (ms), slow-client protection; 0 = never. */
      idletimeout: duration().default(5 * 60_000),
      /** All request headers must arrive within this (ms): slowloris protection, so never off. */
      headertimeout: duration({ positive: true }).default(30_000),
    }),
  }),
});

/**
 * Read-only all the way down. An optional key's `| undefined` is dropped: the parsed object leaves
 * an absent key out rather than holding undefined, so `rootcertbundle?: string` is the truth.
 */
type DeepReadonly<T> = T extends readonly (infer E)[] ? readonly DeepReadonly<E>[] : T extends object ? { readonly [K in keyof T]: DeepReadonly<Exclude<T[K], undefined>> } : T;

export type Config = DeepReadonly<z.output<typeof configSchema>>;

export type ConfigParse = { readonly ok: true; readonly config: Config } | { readonly ok: false; readonly issues: readonly z.core.$ZodIssue[] };

/** The schema's parse, typed as Config: zod leaves an absent optional key out, never undefined. */
export function parseConfigTree(tree: unknown): ConfigParse {
  const result = configSchema.safeParse(tree, { reportInput: true });
  return result.success ? { ok: true, config: result.data as Config } : { ok: false, issues: result.error.issues };
}

export const defaultConfig: Config = configSchema.parse({}) as Config;

/** The environment variable that sets a key: distribution's REGISTRY_ + path, upper-cased, `_`-joined. */
export function envNameFor(path: readonly string[]): string {
  return ['REGISTRY', ...path].join('_').toUpperCase();
}

/**
 * Keys distribution has that Quayside does not implement. A docker-registry config.yml must still
 * start, so each is a warning naming its full path and is then ignored (issue 9). Paths are
 * distribution's: configuration.go and docs/content/about/configuration.md.
 */
export const distributionOnlyKeys: readonly string[] = [
  'loglevel',
  'log.accesslog',
  'log.formatter',
  'log.fields',
  'log.hooks',
  'log.reportcaller',
  'http.net',
  'http.host',
  'http.prefix',
  'http.secret',
  'http.relativeurls',
  'http.draintimeout',
  'http.headers',
  'http.debug',
  'http.http2',
  'http.h2c',
  'http.tls.clientauth',
  'http.tls.minimumtls',
  'http.tls.ciphersuites',
  'http.tls.letsencrypt',
  'auth.token.autoredirect',
  'auth.token.autoredirectpath',
  'storage.filesystem.maxthreads',
  'storage.cache',
  'storage.redirect',
  'storage.tag',
  'middleware',
  'notifications',
  'redis',
  'health',
  'catalog',
  'tags',
  'proxy',
  'validation',
  'policy',
  'compatibility',
  'reporting',
];

/**
 * Keys distribution has that Quayside refuses rather than ignores, because ignoring them would
 * change where data goes or who gets in (fail closed): storage drivers and auth schemes we lack,
 * and a restriction on token algorithms we would not enforce.
 */
export const refusedDistributionKeys: Readonly<Record<string, string>> = {
  'storage.s3': 'the s3 storage driver is not implemented (Quayside has: filesystem)',
  'storage.azure': 'the azure storage driver is not implemented (Quayside has: filesystem)',
  'storage.gcs': 'the gcs storage driver is not implemented (Quayside has: filesystem)',
  'storage.inmemory': 'the inmemory storage driver is not implemented (Quayside has: filesystem)',
  'storage.swift': 'the swift storage driver is not implemented (Quayside has: filesystem)',
  'storage.oss': 'the oss storage driver is not implemented (Quayside has: filesystem)',
  'auth.silly': 'the silly auth scheme is not supported (htpasswd or token)',
  'auth.token.signingalgorithms': 'is not supported: Quayside cannot restrict token algorithms, so it refuses to pretend to',
};

/**
 * Sections whose scalar form names one entry: `storage: filesystem` / REGISTRY_STORAGE=filesystem
 * selects the driver, REGISTRY_AUTH=htpasswd the scheme (distribution's Storage and Auth
 * UnmarshalYAML). `settings` are the keys beside the choice that are not choices themselves
 * (distribution's list in Storage.UnmarshalYAML).
 */
export const selectingSections: Readonly<Record<string, { readonly settings: readonly string[] }>> = {
  storage: { settings: ['delete', 'maintenance', 'cache', 'redirect', 'tag'] },
  auth: { settings: [] },
};
