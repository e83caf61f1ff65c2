import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { defaultConfig, LOG_LEVELS, type Config, type LogLevel } from './schema.ts';

/** A config problem: the CLI prints it and exits 1 (never a stack trace for a typo). */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Tree = { [key: string]: unknown };

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * `REGISTRY_<SECTION>_<KEY>=value` overrides one key, as in distribution: REGISTRY_HTTP_ADDR sets
 * http.addr, REGISTRY_STORAGE_DELETE_ENABLED sets storage.delete.enabled. Values are YAML scalars.
 */
export function applyEnvOverrides(tree: Tree, env: NodeJS.ProcessEnv): Tree {
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('REGISTRY_') || value === undefined) continue;
    const keys = name.slice('REGISTRY_'.length).toLowerCase().split('_').filter(Boolean);
    const last = keys.pop();
    if (!last) continue;
    let node = tree;
    for (const key of keys) {
      const child = node[key];
      node = isTree(child) ? child : (node[key] = {});
    }
    node[last] = parseYaml(value) as unknown;
  }
  return tree;
}

function pick(tree: unknown, path: readonly string[]): unknown {
  let node: unknown = tree;
  for (const key of path) node = isTree(node) ? node[key] : undefined;
  return node;
}

function stringAt(tree: Tree, path: readonly string[], fallback: string): string {
  const value = pick(tree, path);
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'string' || typeof value === 'number') return String(value);
  throw new ConfigError(`${path.join('.')} must be a string`);
}

function booleanAt(tree: Tree, path: readonly string[], fallback: boolean): boolean {
  const value = pick(tree, path);
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'boolean') return value;
  throw new ConfigError(`${path.join('.')} must be true or false`);
}

function optionalStringAt(tree: Tree, path: readonly string[]): string | undefined {
  const value = pick(tree, path);
  return value === undefined || value === null ? undefined : stringAt(tree, path, '');
}

function requiredStringAt(tree: Tree, path: readonly string[]): string {
  const value = optionalStringAt(tree, path);
  if (value === undefined || value === '') throw new ConfigError(`${path.join('.')} is required`);
  return value;
}

function tlsAt(tree: Tree): Pick<Config['http'], 'tls'> {
  if (!isTree(pick(tree, ['http', 'tls']))) return {};
  const clientcas = pick(tree, ['http', 'tls', 'clientcas']) ?? [];
  if (!Array.isArray(clientcas) || !clientcas.every((c) => typeof c === 'string')) throw new ConfigError('http.tls.clientcas must be a list of file paths');
  return { tls: { certificate: requiredStringAt(tree, ['http', 'tls', 'certificate']), key: requiredStringAt(tree, ['http', 'tls', 'key']), clientcas } };
}

function authAt(tree: Tree): Config['auth'] {
  const auth = pick(tree, ['auth']);
  if (auth === undefined || auth === null) return {};
  if (!isTree(auth)) throw new ConfigError('auth must be a mapping');
  const schemes = Object.keys(auth);
  const unknown = schemes.filter((s) => s !== 'htpasswd' && s !== 'token');
  if (unknown.length > 0) throw new ConfigError(`auth.${unknown[0]} is not supported (htpasswd or token)`);
  if (schemes.length > 1) throw new ConfigError('configure one auth scheme: htpasswd or token');
  if (schemes[0] === 'htpasswd') {
    return { htpasswd: { realm: optionalStringAt(tree, ['auth', 'htpasswd', 'realm']) ?? 'basic-realm', path: requiredStringAt(tree, ['auth', 'htpasswd', 'path']) } };
  }
  const at = (key: string): string[] => ['auth', 'token', key];
  const rootcertbundle = optionalStringAt(tree, at('rootcertbundle'));
  const jwks = optionalStringAt(tree, at('jwks'));
  if (rootcertbundle === undefined && jwks === undefined) throw new ConfigError('auth.token needs rootcertbundle or jwks');
  return {
    token: {
      realm: requiredStringAt(tree, at('realm')),
      service: requiredStringAt(tree, at('service')),
      issuer: requiredStringAt(tree, at('issuer')),
      ...(rootcertbundle !== undefined ? { rootcertbundle } : {}),
      ...(jwks !== undefined ? { jwks } : {}),
    },
  };
}

function countAt(tree: Tree, path: readonly string[], fallback: number, max = 256): number {
  const value = pick(tree, path);
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max) return value;
  throw new ConfigError(`${path.join('.')} must be a whole number from 0 to ${max}`);
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

/** A byte count: a number, or "10GiB", "500MB"... */
function sizeAt(tree: Tree, path: readonly string[], fallback: number): number {
  const value = pick(tree, path);
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  const match = typeof value === 'string' ? /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim()) : null;
  const unit = SIZE_UNITS[(match?.[2] ?? '').toLowerCase()];
  if (!match || unit === undefined) throw new ConfigError(`${path.join('.')} must be a size such as 10GiB or 500MB`);
  return Math.round(Number(match[1]) * unit);
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration string as distribution's config takes them ("168h", "1h30m", "90s") → ms. */
export function parseDuration(text: string): number | undefined {
  const parts = [...text.trim().matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text.trim()) return undefined;
  return parts.reduce((ms, p) => ms + Number(p[1]) * (DURATION_UNITS[p[2] as string] ?? 0), 0);
}

function durationAt(tree: Tree, path: readonly string[], fallback: number): number {
  const value = pick(tree, path);
  if (value === undefined || value === null) return fallback;
  const ms = typeof value === 'string' ? parseDuration(value) : undefined;
  if (ms === undefined) throw new ConfigError(`${path.join('.')} must be a duration such as 168h, 30m or 90s`);
  return ms;
}

function maintenanceAt(tree: Tree, d: Config['storage']['maintenance']): Config['storage']['maintenance'] {
  const purging = ['storage', 'maintenance', 'uploadpurging'];
  return {
    uploadpurging: {
      enabled: booleanAt(tree, [...purging, 'enabled'], d.uploadpurging.enabled),
      age: durationAt(tree, [...purging, 'age'], d.uploadpurging.age),
      interval: durationAt(tree, [...purging, 'interval'], d.uploadpurging.interval),
      dryrun: booleanAt(tree, [...purging, 'dryrun'], d.uploadpurging.dryrun),
    },
    readonly: { enabled: booleanAt(tree, ['storage', 'maintenance', 'readonly', 'enabled'], d.readonly.enabled) },
  };
}

function logLevelAt(tree: Tree, fallback: LogLevel): LogLevel {
  const value = stringAt(tree, ['log', 'level'], fallback).toLowerCase();
  const level = value === 'warning' ? 'warn' : value;
  if (!LOG_LEVELS.includes(level as LogLevel)) throw new ConfigError(`log.level must be one of ${LOG_LEVELS.join(', ')}`);
  return level as LogLevel;
}

function hashEngineAt(tree: Tree, env: NodeJS.ProcessEnv, fallback: Config['quayside']['hashengine']): Config['quayside']['hashengine'] {
  const value = env['QUAYSIDE_HASH_ENGINE'] ?? stringAt(tree, ['quayside', 'hashengine'], fallback);
  if (value !== 'auto' && value !== 'native' && value !== 'wasm') throw new ConfigError('quayside.hashengine (QUAYSIDE_HASH_ENGINE) must be auto, native or wasm');
  return value;
}

/** Builds a checked Config from a parsed YAML tree (or {}), after env overrides. */
export function buildConfig(tree: Tree, env: NodeJS.ProcessEnv = {}): Config {
  const merged = applyEnvOverrides(structuredClone(tree), env);
  const d = defaultConfig;
  const config: Config = {
    version: stringAt(merged, ['version'], d.version),
    log: { level: logLevelAt(merged, d.log.level) },
    http: { addr: stringAt(merged, ['http', 'addr'], d.http.addr), ...tlsAt(merged) },
    auth: authAt(merged),
    storage: {
      filesystem: { rootdirectory: stringAt(merged, ['storage', 'filesystem', 'rootdirectory'], d.storage.filesystem.rootdirectory) },
      delete: { enabled: booleanAt(merged, ['storage', 'delete', 'enabled'], d.storage.delete.enabled) },
      maintenance: maintenanceAt(merged, d.storage.maintenance),
    },
    quayside: {
      hashengine: hashEngineAt(merged, env, d.quayside.hashengine),
      workers: countAt(merged, ['quayside', 'workers'], d.quayside.workers),
      limits: {
        uploadsize: sizeAt(merged, ['quayside', 'limits', 'uploadsize'], d.quayside.limits.uploadsize),
        concurrentuploads: countAt(merged, ['quayside', 'limits', 'concurrentuploads'], d.quayside.limits.concurrentuploads, 1_000_000),
        idletimeout: durationAt(merged, ['quayside', 'limits', 'idletimeout'], d.quayside.limits.idletimeout),
        headertimeout: durationAt(merged, ['quayside', 'limits', 'headertimeout'], d.quayside.limits.headertimeout),
      },
    },
  };
  parseAddr(config.http.addr);
  return config;
}

export async function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv): Promise<Config> {
  if (file === undefined) return buildConfig({}, env);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let tree: unknown;
  try {
    tree = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${file} is not valid YAML: ${(err as Error).message}`);
  }
  if (tree !== null && tree !== undefined && !isTree(tree)) throw new ConfigError(`${file} must hold a YAML mapping`);
  return buildConfig(isTree(tree) ? tree : {}, env);
}

/** `host:port`, `[v6]:port` or `:port` → listen options. */
export function parseAddr(addr: string): { host: string | undefined; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(addr.trim());
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw new ConfigError(`http.addr must be host:port, got ${JSON.stringify(addr)}`);
  const host = match[1] ?? match[2];
  return { host: host ? host : undefined, port };
}
