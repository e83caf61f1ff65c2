import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import { configSchema, distributionOnlyKeys, parseConfigTree, refusedDistributionKeys, secretKeys, selectingSections, textEnvKeys, valueDependentDistributionKeys, type Config } from './schema.ts';
import { parseGoDuration, splitAddr } from './values.ts';

/** A config problem: the CLI prints it and exits 1 (never a stack trace for a typo). */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface LoadOptions {
  /** Told once per key that distribution has and Quayside ignores; the CLI logs each at start. */
  readonly onWarning?: (message: string) => void;
}

export type Tree = { [key: string]: unknown };

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Which environment variable set each key (dot path), to name it in errors. */
type Origins = Map<string, string>;

/**
 * Builds a checked Config from a parsed YAML tree (or {}): scalar section forms expanded, env
 * overrides applied, distribution-only keys warned about and dropped, unknown keys refused, then
 * the schema parses what is left.
 */
export function buildConfig(tree: Tree, env: NodeJS.ProcessEnv = {}, options: LoadOptions = {}): Config {
  const warn = options.onWarning ?? ((): void => undefined);
  const merged = structuredClone(tree);
  for (const name of Object.keys(selectingSections)) {
    const value = merged[name];
    if (typeof value === 'string') select(merged, name, value);
  }
  const origins: Origins = new Map();
  applyEnvOverrides(merged, env, origins, warn);
  checkKeys(merged, configSchema, [], origins, warn);
  checkOneChoice(merged, origins);
  const result = parseConfigTree(merged);
  if (!result.ok) throw new ConfigError(result.issues.map((issue) => describeIssue(issue, origins)).join('; '));
  return result.config;
}

export async function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv, options: LoadOptions = {}): Promise<Config> {
  return buildConfig(file === undefined ? {} : await readConfigTree(file), env, options);
}

/** A config file's YAML as a tree for buildConfig ({} when empty); ConfigError when unreadable or not a mapping. */
export async function readConfigTree(file: string): Promise<Tree> {
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
  return isTree(tree) ? tree : {};
}

/**
 * `REGISTRY_<PATH>=value` sets the one key at that path, as in distribution (parser.go): the path
 * is the variable's name after REGISTRY_, lower-cased, split at `_`; the value is read as YAML.
 * Variables are applied in name order, so REGISTRY_STORAGE (a driver choice) comes before
 * REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY. An override never wipes a subtree (issue 9): a
 * mapping value is merged into the section, and a scalar for storage or auth selects the driver
 * or scheme, keeping the file's parameters for that same choice and every setting beside it.
 * That last part differs from distribution, which replaces the whole storage section.
 * The s3 driver's string keys (schema.ts textEnvKeys) keep a value YAML would read as a number or
 * boolean as written, so REGISTRY_STORAGE_S3_SECRETKEY=0123 stays "0123".
 * QUAYSIDE_HASH_ENGINE (the build-time switch) is the one variable outside the scheme; it wins.
 */
function applyEnvOverrides(tree: Tree, env: NodeJS.ProcessEnv, origins: Origins, warn: (message: string) => void): void {
  const names = Object.keys(env).filter((name) => name.startsWith('REGISTRY_')).sort();
  const overrides = names.map((name) => ({ name, path: name.slice('REGISTRY_'.length).toLowerCase().split('_').filter(Boolean) }));
  if (env['QUAYSIDE_HASH_ENGINE'] !== undefined) overrides.push({ name: 'QUAYSIDE_HASH_ENGINE', path: ['quayside', 'hashengine'] });
  const topLevel = new Set([...Object.keys(configSchema.shape), ...distributionOnlyKeys, ...Object.keys(refusedDistributionKeys)].map((key) => key.split('.')[0]));
  for (const { name, path } of overrides) {
    const raw = env[name];
    const head = path[0];
    if (raw === undefined || head === undefined) continue;
    // Not a section of either registry: most likely a variable Kubernetes makes for a Service
    // named "registry" (REGISTRY_PORT, REGISTRY_SERVICE_HOST). distribution ignores it with a warning.
    if (!topLevel.has(head)) {
      warn(`ignoring ${name}: ${head} is not a configuration section`);
      continue;
    }
    const value = textEnvKeys.has(path.join('.')) ? envText(raw) : envValue(name, raw);
    if (path.length === 1 && head in selectingSections && !isTree(value) && value !== null) {
      if (typeof value !== 'string') throw new ConfigError(`${name} must name one ${head === 'storage' ? 'storage driver' : 'auth scheme'}, got ${JSON.stringify(value)}`);
      select(tree, head, value.toLowerCase());
      origins.set(`${head}.${value.toLowerCase()}`, name);
      continue;
    }
    setAt(tree, path, value, name);
    origins.set(path.join('.'), name);
  }
}

function envValue(name: string, raw: string): unknown {
  try {
    return parseYaml(raw) as unknown;
  } catch (err) {
    throw new ConfigError(`${name} is not a YAML value: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** A string key's env value: YAML's reading when it is a string or null (unset), else the text as written (schema.ts textEnvKeys). */
function envText(raw: string): unknown {
  let value: unknown;
  try {
    // logLevel 'error': a secret YAML only warns about ("*x: y", an alias) is taken as written, quietly.
    value = parseYaml(raw, { logLevel: 'error' }) as unknown;
  } catch {
    return raw;
  }
  return typeof value === 'string' || value === null ? value : raw;
}

/** distribution: "must provide exactly one storage type" / "exactly one type" of auth. */
function checkOneChoice(tree: Tree, origins: Origins): void {
  for (const [section, { settings }] of Object.entries(selectingSections)) {
    const node = tree[section];
    const choices = isTree(node) ? Object.keys(node).filter((key) => !settings.includes(key)) : [];
    const what = section === 'storage' ? 'storage driver' : 'auth scheme';
    // The storage case is often a file's filesystem plus REGISTRY_STORAGE_S3_* (or the reverse): say how to pick.
    const hint = section === 'storage' ? `; remove all but one, or select one with REGISTRY_STORAGE=<driver>` : '';
    if (choices.length > 1) throw new ConfigError(`${label(section, origins)} must configure one ${what}, got ${choices.join(', ')}${hint}`);
  }
}

/** `storage: filesystem` / REGISTRY_STORAGE=filesystem: keep that choice's parameters and the settings beside it, drop the other choices. */
function select(tree: Tree, section: string, choice: string): void {
  const current = tree[section];
  const node: Tree = isTree(current) ? current : {};
  const settings = selectingSections[section]?.settings ?? [];
  for (const key of Object.keys(node)) if (key !== choice && !settings.includes(key)) delete node[key];
  if (!isTree(node[choice])) node[choice] = {};
  tree[section] = node;
}

function setAt(tree: Tree, path: readonly string[], value: unknown, name: string): void {
  let node = tree;
  for (const [i, key] of path.slice(0, -1).entries()) {
    const child = node[key];
    if (child !== undefined && child !== null && !isTree(child)) throw new ConfigError(`${name}: ${path.slice(0, i + 1).join('.')} is a value in the config file, not a section`);
    node = isTree(child) ? child : (node[key] = {});
  }
  const last = path[path.length - 1] as string;
  const target = node[last];
  node[last] = isTree(target) && isTree(value) ? deepMerge(target, value) : value;
}

function deepMerge(into: Tree, from: Tree): Tree {
  for (const [key, value] of Object.entries(from)) {
    const current = into[key];
    into[key] = isTree(current) && isTree(value) ? deepMerge(current, value) : value;
  }
  return into;
}

/** The object shape a schema node parses, through optional/default/prefault wrappers. */
function shapeOf(schema: z.core.$ZodType): Readonly<Record<string, z.core.$ZodType>> | undefined {
  if (schema instanceof z.ZodObject) return schema.shape as Record<string, z.core.$ZodType>;
  // storage: parsed, then given its default driver (schema.ts storageWithDriver).
  if (schema instanceof z.ZodPipe) return shapeOf(schema.in as z.core.$ZodType);
  if (schema instanceof z.ZodOptional || schema instanceof z.ZodDefault || schema instanceof z.ZodPrefault) return shapeOf(schema.unwrap() as z.core.$ZodType);
  return undefined;
}

/**
 * Walks the tree beside the schema. A key distribution has and we do not implement is a warning
 * and is dropped (a docker-registry config.yml still starts); one we refuse, or one neither
 * registry knows (a typo), is a ConfigError with its full path. `key:` with nothing after it means
 * an empty section for a section, the default for a value.
 */
function checkKeys(node: Tree, schema: z.core.$ZodType, path: readonly string[], origins: Origins, warn: (message: string) => void): void {
  const shape = shapeOf(schema);
  if (shape === undefined) return;
  for (const [key, value] of Object.entries(node)) {
    const full = [...path, key].join('.');
    const refused = refusedDistributionKeys[full];
    if (refused !== undefined) throw new ConfigError(`${label(full, origins)}: ${refused}`);
    if (distributionOnlyKeys.includes(full)) {
      warn(`${label(full, origins)} is a distribution setting Quayside does not implement; ignored`);
      delete node[key];
      continue;
    }
    const byValue = valueDependentDistributionKeys[full];
    if (byValue !== undefined) {
      if (!byValue.ignoredWhen(value)) throw new ConfigError(`${label(full, origins)}: ${byValue.refused}${gotValue(full, value)}`);
      warn(`${label(full, origins)} is a distribution setting Quayside does not implement; ignored (${byValue.ignored})`);
      delete node[key];
      continue;
    }
    const child = shape[key];
    if (child === undefined) throw new ConfigError(`${label(full, origins)} is not a Quayside setting${didYouMean(key, path, shape)}`);
    if (value === null) {
      if (shapeOf(child) !== undefined) node[key] = {};
      else delete node[key];
    }
    const next = node[key];
    if (isTree(next)) checkKeys(next, child, [...path, key], origins, warn);
  }
}

function didYouMean(key: string, path: readonly string[], shape: Readonly<Record<string, unknown>>): string {
  const prefix = path.length > 0 ? `${path.join('.')}.` : '';
  const known = [...distributionOnlyKeys, ...Object.keys(valueDependentDistributionKeys)];
  const siblings = [...Object.keys(shape), ...known.filter((k) => k.startsWith(prefix) && !k.slice(prefix.length).includes('.')).map((k) => k.slice(prefix.length))];
  const best = siblings.map((s) => ({ s, d: editDistance(key, s) })).sort((a, b) => a.d - b.d)[0];
  return best && best.d <= (key.length <= 4 ? 1 : 2) ? ` (did you mean ${prefix}${best.s}?)` : '';
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min((row[j] ?? 0) + 1, (next[j - 1] ?? 0) + 1, (row[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length] ?? 0;
}

/** `http.addr`, or `REGISTRY_HTTP_ADDR (http.addr)` when the environment set it (or a section above it), or `redis (REGISTRY_REDIS_ADDRS)` a key below it. */
function label(path: string, origins: Origins): string {
  const parts = path.split('.');
  for (let n = parts.length; n > 0; n--) {
    const name = origins.get(parts.slice(0, n).join('.'));
    if (name !== undefined) return `${name} (${path})`;
  }
  const below = [...origins].filter(([key]) => key.startsWith(`${path}.`)).map(([, name]) => name);
  return below.length > 0 ? `${path} (${below.join(', ')})` : path;
}

function describeIssue(issue: z.core.$ZodIssue, origins: Origins): string {
  const path = issue.path.map(String).join('.');
  const where = path === '' ? 'the configuration' : label(path, origins);
  if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => `${label(path ? `${path}.${key}` : key, origins)} is not a Quayside setting`).join('; ');
  if (issue.code === 'invalid_type' && issue.expected === 'object') {
    const fromEnv = origins.get(path);
    return fromEnv === undefined ? `${where} must be a mapping` : `${where} is a section, not a value: set its keys one by one (${fromEnv}_<KEY>)`;
  }
  return `${where} ${issue.message}${gotValue(path, issue.input)}`;
}

/** `, got "yes please"` for a scalar; nothing for a mapping, a list or a secret (schema.ts secretKeys). */
function gotValue(path: string, input: unknown): string {
  if (secretKeys.has(path)) return '';
  return typeof input === 'string' || typeof input === 'number' || typeof input === 'boolean' ? `, got ${JSON.stringify(input)}` : '';
}

/** `host:port`, `[v6]:port` or `:port` → listen options. */
export function parseAddr(addr: string): { host: string | undefined; port: number } {
  const parts = splitAddr(addr);
  if (parts === undefined) throw new ConfigError(`http.addr must be host:port, got ${JSON.stringify(addr)}`);
  return parts;
}

/**
 * A Go duration ("168h", "1h30m", "90s", or 0) → ms; undefined when it is not one, or negative
 * (no span of time in Quayside can be).
 */
export function parseDuration(text: string): number | undefined {
  const ms = parseGoDuration(text);
  return ms !== undefined && ms >= 0 ? ms : undefined;
}
