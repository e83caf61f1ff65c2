import { z } from 'zod';
import { DEFAULT_CHUNK_SIZE, MIN_CHUNK_SIZE } from '../storage/s3/params.ts';
import { parseGoDuration, parseSize, splitAddr } from './values.ts';

/**
 * Quayside's configuration, declared once: every key with its type, default and (from its path)
 * its environment name, REGISTRY_ + the upper-cased path joined by `_` (distribution's
 * configuration/parser.go). Keys are the reference registry's where they apply (distribution
 * configuration.Configuration: version, log.level, http.addr, storage.filesystem.rootdirectory,
 * storage.s3.*, storage.delete.enabled, storage.redirect.disable, storage.maintenance...), so a docker-registry config.yml works here
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

/**
 * A boolean of distribution's s3 driver, which reads its parameters with Go's strconv.ParseBool
 * (getParameterAsBool): true/false, or the strings "true", "1", "t", "FALSE", "0", "f"... A
 * docker-registry config.yml may quote them, so under storage.s3 they are booleans here too.
 */
const GO_BOOLS: ReadonlyMap<string, boolean> = new Map([
  ...['1', 't', 'T', 'true', 'TRUE', 'True'].map((word) => [word, true] as const),
  ...['0', 'f', 'F', 'false', 'FALSE', 'False'].map((word) => [word, false] as const),
]);

/** `v` as distribution's getParameterAsBool reads it; undefined when it is not a boolean there. */
export function goBool(v: unknown): boolean | undefined {
  return typeof v === 'boolean' ? v : typeof v === 'string' ? GO_BOOLS.get(v) : undefined;
}

const parameterBool = () => leaf('true or false', goBool);

/** S3's largest multipart part, distribution's maxChunkSize (s3_64bit.go). */
const MAX_CHUNK_SIZE = 5 * 2 ** 30;

/**
 * storage.s3.chunksize: a whole number of bytes, or its digits as a string (distribution reads it
 * with Sscanf("%d") of its text), from S3's 5 MiB part minimum to its 5 GiB maximum.
 */
const chunkSize = () =>
  leaf(`a whole number of bytes from ${MIN_CHUNK_SIZE} (5 MiB) to ${MAX_CHUNK_SIZE} (5 GiB)`, (v) => {
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : undefined;
    return n !== undefined && Number.isSafeInteger(n) && n >= MIN_CHUNK_SIZE && n <= MAX_CHUNK_SIZE ? n : undefined;
  });

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

/** An absolute URL path for the debug server's metrics (http.debug.prometheus.path). */
const metricsPath = () => leaf('a path starting with /', (v) => (typeof v === 'string' && /^\/[!-~]*$/.test(v) ? v : undefined));

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

/**
 * An upstream registry's base URL: http(s), a host, nothing after the path's root (distribution's
 * proxy.remoteurl, e.g. https://registry-1.docker.io). Anything else is refused at start, not at
 * the first pull.
 */
const upstreamUrl = () =>
  leaf('an http:// or https:// URL such as https://registry-1.docker.io', (v) => {
    if (typeof v !== 'string') return undefined;
    let url: URL;
    try {
      url = new URL(v);
    } catch {
      return undefined;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return new Problem(`must be an http:// or https:// URL, got scheme ${url.protocol}`);
    if (url.username !== '' || url.password !== '') return new Problem('must not hold credentials: use username and password');
    if (url.search !== '' || url.hash !== '' || (url.pathname !== '/' && url.pathname !== '')) return new Problem('must be the registry\'s base URL, without a path, query or fragment');
    return url.origin;
  });

/** A proxy.remotes key: whole components of a repository name (routing/names.ts grammar), each ending in `/`. */
const REPOSITORY_PREFIX = /^(?:[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*\/)+$/;

/** One upstream: distribution's proxy keys. `ttl` absent in a remote: proxy.ttl. */
const upstreamShape = {
  remoteurl: upstreamUrl(),
  username: text().optional(),
  password: text().optional(),
};

/**
 * proxy: distribution's pull-through cache keys (configuration.go Proxy: remoteurl, username,
 * password, ttl; default ttl 168h), plus `remotes`, which maps repository-name prefixes
 * ("docker.io/") to their own upstreams, as Harbor's proxy projects and zot's sync do. Names no
 * prefix covers are normal repositories unless `remoteurl` is set, which then covers them all.
 */
const proxySection = z
  .strictObject({
    remoteurl: upstreamUrl().optional(),
    username: text().optional(),
    password: text().optional(),
    /** How long a manifest fetched by tag is served before it is checked upstream again; 0: every pull. */
    ttl: duration().default(168 * HOUR),
    remotes: z
      .record(z.string(), z.strictObject({ ...upstreamShape, ttl: duration().optional() }))
      .superRefine((remotes, ctx) => {
        for (const prefix of Object.keys(remotes)) {
          if (!REPOSITORY_PREFIX.test(prefix)) ctx.addIssue({ code: 'custom', path: [prefix], message: 'must be repository path components, each followed by / (docker.io/, ghcr.io/team/)' });
        }
      })
      .default({}),
  })
  .refine((proxy) => proxy.remoteurl !== undefined || Object.keys(proxy.remotes).length > 0, { error: 'needs remoteurl or remotes' });

/**
 * storage.s3: distribution's s3-aws driver (registry/storage/driver/s3-aws/s3.go FromParameters,
 * docs/content/storage-drivers/s3.md), key for key, as far as Quayside implements it; the output
 * is storage/s3/params.ts S3Params. The driver's other keys are listed below the schema, each
 * ignored or refused. accesskey/secretkey absent (or empty, as distribution's docs allow) →
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, read by the driver.
 */
const s3Section = z.strictObject({
  /** distribution requires it; RGW and MinIO accept any, `us-east-1` is customary. */
  region: requiredText(),
  /** An S3-compatible service, e.g. http://127.0.0.1:7480; AWS when absent. */
  regionendpoint: text().optional(),
  bucket: requiredText(),
  accesskey: text().optional(),
  secretkey: text().optional(),
  /** endpoint/bucket/key instead of bucket.endpoint/key: what RGW and MinIO behind an IP need. */
  forcepathstyle: parameterBool().default(false),
  /** Prefix of every key; "" is the bucket's root. */
  rootdirectory: text().default(''),
  /** Multipart part size of uploads, bytes. */
  chunksize: chunkSize().default(DEFAULT_CHUNK_SIZE),
  /** https unless false; a scheme in regionendpoint decides instead. */
  secure: parameterBool().default(true),
  /** Accept any TLS certificate from the endpoint (test setups only). */
  skipverify: parameterBool().default(false),
});

const storageObject = z
  .strictObject({
    /** Exactly one driver; neither → filesystem in ./data (storageWithDriver). */
    filesystem: z.strictObject({ rootdirectory: text().default('./data') }).optional(),
    s3: s3Section.optional(),
    /** distribution's inmemory driver: no parameters (`inmemory:` or `inmemory: {}`), nothing on disk (storage/inmemory/). */
    inmemory: z.strictObject({}).optional(),
    delete: section({ enabled: bool().default(false) }),
    /**
     * distribution's storage.redirect: on a driver that can (s3), blob GETs are answered with a
     * redirect to a presigned URL unless `disable` is true; then Quayside streams the blob
     * itself. The filesystem has nothing to redirect to, so there it changes nothing.
     */
    redirect: section({ disable: bool().default(false) }),
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
  })
  // load.ts says this first, naming the variables; this keeps parseConfigTree honest on its own.
  .refine((storage) => [storage.filesystem, storage.s3, storage.inmemory].filter((driver) => driver !== undefined).length <= 1, { error: 'must configure one storage driver' });

type StorageObject = z.output<typeof storageObject>;
type StorageSettings = Omit<StorageObject, 'filesystem' | 's3' | 'inmemory'>;
type FilesystemSection = NonNullable<StorageObject['filesystem']>;
type S3Section = NonNullable<StorageObject['s3']>;

/** The storage section as parsed: its settings and exactly one driver, which says which it is. */
export type StorageSection = StorageSettings &
  ({ filesystem: FilesystemSection; s3?: never; inmemory?: never } | { s3: S3Section; filesystem?: never; inmemory?: never } | { inmemory: Record<string, never>; filesystem?: never; s3?: never });

/** No driver named → the filesystem in ./data (distribution has no default; Quayside always had this one). */
function storageWithDriver({ filesystem, s3, inmemory, ...settings }: StorageObject): StorageSection {
  if (s3 !== undefined) return { ...settings, s3 };
  if (inmemory !== undefined) return { ...settings, inmemory: {} };
  return { ...settings, filesystem: filesystem ?? { rootdirectory: './data' } };
}

/** A list of strings (YAML sequence); `key:` with nothing after it is the default. */
const textList = () => leaf('a list of strings', (v) => (Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : undefined));

/**
 * notifications.endpoints[]: distribution's configuration.Endpoint, key for key. Its defaults
 * (notifications/endpoint.go EndpointConfig.defaults) apply to 0 as to absent: timeout 1s,
 * threshold 10, backoff 1s. `headers` is Go's http.Header, a map of lists (`Authorization:
 * [Bearer x]`); a single string is taken as a one-element list.
 */
const notificationEndpoint = z.strictObject({
  name: requiredText(),
  url: leaf('an http:// or https:// URL', (v) => (typeof v === 'string' && /^https?:\/\/[^\s/]+/i.test(v) && URL.canParse(v) ? v : undefined)),
  headers: leaf('a mapping of header names to lists of values', (v) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    const out: Record<string, string[]> = {};
    for (const [name, value] of Object.entries(v)) {
      const values = typeof value === 'string' ? [value] : Array.isArray(value) && value.every((s) => typeof s === 'string') ? (value as string[]) : undefined;
      if (values === undefined || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) return undefined;
      out[name] = values;
    }
    return out;
  }).default({}),
  timeout: duration().default(1000),
  threshold: count(1_000_000).default(10),
  backoff: duration().default(1000),
  ignoredmediatypes: textList().default([]),
  ignore: section({ mediatypes: textList().default([]), actions: textList().default([]) }),
  disabled: bool().default(false),
});

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
    /**
     * distribution's debug server: a second listener with /debug/health, and /metrics when
     * prometheus.enabled (configuration.go Debug). No addr, no listener and no metrics (src/metrics).
     */
    debug: section({
      addr: addr().optional(),
      prometheus: section({ enabled: bool().default(false), path: metricsPath().default('/metrics') }),
    }),
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
  storage: storageObject.transform(storageWithDriver).prefault({}),
  /** Webhooks (distribution's notifications section); Quayside's queue settings are under quayside.notifications. */
  notifications: section({
    events: section({ includereferences: bool().default(false) }),
    endpoints: z
      .array(notificationEndpoint)
      .refine((endpoints) => new Set(endpoints.map((e) => e.name)).size === endpoints.length, { error: 'must give each endpoint its own name' })
      .default([]),
  }),
  /** distribution's health.storagedriver: a periodic write and read-back under the root (src/metrics/health.ts). */
  health: section({
    storagedriver: section({
      enabled: bool().default(false),
      interval: duration({ positive: true }).default(10_000),
      /** Consecutive failures before the check reports the driver unhealthy. */
      threshold: count(1_000_000).default(3),
    }),
  }),
  /** Pull-through cache: distribution's `proxy` keys plus `remotes` (src/proxy/config.ts). Absent: no proxying. */
  proxy: proxySection.optional(),
  /** Quayside's own settings (no distribution equivalent); REGISTRY_QUAYSIDE_* overrides apply too. */
  quayside: section({
    /** SHA-256 engine: auto (native when built, else wasm), native, wasm. QUAYSIDE_HASH_ENGINE wins. */
    hashengine: oneOf(['auto', 'native', 'wasm']).default('auto'),
    /** Chunk worker threads (persist + hash); 0 = sized to the engine (workers/pool.ts defaultWorkerCount). */
    workers: count(256).default(0),
    /** The durable notification queue (notifications/queue.ts): Quayside's, distribution's queue is in memory. */
    notifications: section({
      /** Events written but not yet delivered to every endpoint; a new event beyond it is dropped, counted and logged. */
      queuesize: count(10_000_000).default(10_000),
      /** This process's queue folder and events' source.instanceID; "" = <hostname>-<http.addr port> (port 0: <hostname>-0-<random>, new at each start). Unique per live replica. */
      instanceid: leaf('letters, digits, ".", "_" or "-"', (v) => (typeof v === 'string' && /^[A-Za-z0-9._-]{0,128}$/.test(v) && v !== '.' && v !== '..' ? v : undefined)).default(''),
      /** Another instance's queue whose heartbeat is this old is delivered by this process and removed (notifications/adoption.ts); 0 = never. */
      adoptafter: duration().default(5 * 60_000),
    }),
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
  'storage.tag',
  // distribution's s3 tuning: how fast or through which AWS front door, never what is stored or
  // who may read it. Quayside's S3 client has its own fixed choices for each (storage/s3/driver.ts
  // copies in 32 MiB parts, 8 at once, above 5 GiB).
  'storage.s3.multipartcopychunksize',
  'storage.s3.multipartcopymaxconcurrency',
  'storage.s3.multipartcopythresholdsize',
  'storage.s3.useragent',
  'storage.s3.loglevel',
  'storage.s3.usedualstack',
  'storage.s3.accelerate',
  'middleware',
  'redis',
  // health.storagedriver is implemented (src/metrics/health.ts); these other checkers are not.
  'health.file',
  'health.http',
  'health.tcp',
  'catalog',
  'tags',
  'validation',
  'policy',
  'compatibility',
  'reporting',
];

/**
 * Keys distribution has that Quayside refuses rather than ignores, because ignoring them would
 * change where data goes or who gets in (fail closed): storage drivers and auth schemes we lack,
 * credentials we cannot sign with, and a restriction on token algorithms we would not enforce.
 */
export const refusedDistributionKeys: Readonly<Record<string, string>> = {
  'storage.azure': 'the azure storage driver is not implemented (Quayside has: filesystem, s3, inmemory)',
  'storage.gcs': 'the gcs storage driver is not implemented (Quayside has: filesystem, s3, inmemory)',
  'storage.swift': 'the swift storage driver is not implemented (Quayside has: filesystem, s3, inmemory)',
  'storage.oss': 'the oss storage driver is not implemented (Quayside has: filesystem, s3, inmemory)',
  // distribution registers its s3 driver under both names (s3-aws/s3.go init).
  'storage.s3aws': 'is distribution\'s second name for the s3 driver: write storage.s3 (Quayside has: filesystem, s3, inmemory)',
  // Temporary credentials. distribution's FromParameters never reads this key (it signs with an
  // empty token), so there it is silently nothing; here it would be a credential we drop, and
  // every request would fail on a token S3 expects. Say so at start instead.
  'storage.s3.sessiontoken': 'is not supported: Quayside signs with accesskey/secretkey (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) only, without a session token',
  'auth.silly': 'the silly auth scheme is not supported (htpasswd or token)',
  'auth.token.signingalgorithms': 'is not supported: Quayside cannot restrict token algorithms, so it refuses to pretend to',
};

/**
 * distribution keys whose value decides: the value that asks for what Quayside does anyway is
 * warned about and ignored, like distributionOnlyKeys; any other value is refused, like
 * refusedDistributionKeys, because ignoring it would weaken security or change how the data is
 * stored (fail closed). `null` (the key with nothing after it) is distribution's default, so it
 * is always the ignored case. Values are read as distribution's s3 driver reads them.
 */
export const valueDependentDistributionKeys: Readonly<Record<string, { readonly ignoredWhen: (value: unknown) => boolean; readonly ignored: string; readonly refused: string }>> = {
  // Quayside's client signs every request with SigV4; it has no v2 signer. distribution itself
  // refuses v2 against AWS.
  'storage.s3.v4auth': {
    ignoredWhen: (v) => v === null || goBool(v) === true,
    ignored: 'Quayside always signs with AWS Signature Version 4',
    refused: 'only true is supported: Quayside signs only with AWS Signature Version 4',
  },
  // Server-side encryption asked for and silently not done would leave the objects unencrypted.
  'storage.s3.encrypt': {
    ignoredWhen: (v) => v === null || goBool(v) === false,
    ignored: 'Quayside does not ask S3 for server-side encryption',
    refused: 'server-side encryption is not implemented: ignoring it would store the objects unencrypted',
  },
  // distribution reads keyid only with encrypt: true. Refused whenever set all the same: a KMS key
  // in the file says someone meant the data to be encrypted with it.
  'storage.s3.keyid': {
    ignoredWhen: (v) => v === null || v === '',
    ignored: 'no KMS key is used',
    refused: 'KMS encryption is not implemented: ignoring it would store the objects without that key',
  },
  // Quayside sends no x-amz-acl, so S3 applies its default, private (the bucket owner only). Any
  // other canned ACL changes who may read the objects, wider (public-read) or narrower for us
  // (bucket-owner-full-control across accounts).
  'storage.s3.objectacl': {
    ignoredWhen: (v) => v === null || v === 'private',
    ignored: 'Quayside sets no ACL, so S3 applies private',
    refused: 'only private is supported: Quayside sets no ACL, and another one would change who may read the objects',
  },
  // Quayside sends no x-amz-storage-class: S3 stores STANDARD, and NONE is distribution's way to
  // ask for exactly that. Another class changes how (and how durably, how dearly) data is kept.
  'storage.s3.storageclass': {
    ignoredWhen: (v) => v === null || (typeof v === 'string' && ['STANDARD', 'NONE'].includes(v.toUpperCase())),
    ignored: 'Quayside sends no storage class, so S3 stores STANDARD',
    refused: 'only STANDARD is supported: Quayside sends no storage class, and another one would change how the data is stored',
  },
  // A FIPS requirement quietly dropped is a compliance failure nobody sees.
  'storage.s3.usefipsendpoint': {
    ignoredWhen: (v) => v === null || goBool(v) === false,
    ignored: 'Quayside uses the endpoint it is given',
    refused: 'FIPS endpoints are not implemented: ignoring it would send the data to an endpoint that is not FIPS 140 validated',
  },
  // Ignoring it would send pulling clients to regionendpoint, which it exists to keep private.
  'storage.s3.redirectendpoint': {
    ignoredWhen: (v) => v === null || v === '',
    ignored: 'redirects use regionendpoint',
    refused: 'is not implemented: presigned redirects would point at regionendpoint instead; set storage.redirect.disable: true to serve blobs through Quayside',
  },
};

/**
 * Keys whose environment value is text even where YAML reads it otherwise: distribution parses
 * every REGISTRY_* value as YAML, which turns a secret "0123" into 123, "true" into a boolean
 * and fails on one starting with `*`. A value YAML reads as a string (quotes removed) or as null
 * (unset) is taken as YAML gives it; anything else as written.
 */
export const textEnvKeys: ReadonlySet<string> = new Set([...['region', 'regionendpoint', 'bucket', 'accesskey', 'secretkey', 'rootdirectory'].map((key) => `storage.s3.${key}`), 'proxy.username', 'proxy.password']);

/** Keys whose value never appears in a message or a log line. */
export const secretKeys: ReadonlySet<string> = new Set(['storage.s3.accesskey', 'storage.s3.secretkey', 'proxy.password']);

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
