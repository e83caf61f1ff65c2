import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { errorTable, type ErrorName } from '../../src/errors/codes.ts';

/*
 * Table honesty (STYLE §4, habit 2; fastify test/internals/errors.test.js): the error table says
 * only what the code does. Each check reads the sources as text, so adding a row, a throw or a
 * wire code without its counterpart fails here.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The OCI distribution-spec "Error Codes" table, in order: index i is code-(i+1). */
const SPEC_CODES = [
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
] as const;

/**
 * Rows kept for later issues (auth, rate limits, upload size checks). Using one means removing it
 * here. BLOB_UPLOAD_INVALID's wire code already goes out with the 416 of RANGE_NOT_SATISFIABLE
 * (end-5); its own 400 row waits for the upload limits.
 */
const RESERVED: readonly ErrorName[] = ['DENIED', 'SIZE_INVALID', 'BLOB_UPLOAD_INVALID'];

/** Wire codes no HTTP request can provoke: internal faults only (bad input never gets a 5xx). */
const NOT_PROVOKABLE = ['UNKNOWN'];

const rows = Object.entries(errorTable) as Array<[ErrorName, (typeof errorTable)[ErrorName]]>;

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) return tsFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

function readAll(files: readonly string[]): string {
  return files.map((f) => readFileSync(f, 'utf8')).join('\n');
}

/** Error names thrown anywhere under src/ as `new RegistryError('NAME'`. */
function thrownNames(): Set<string> {
  const text = readAll(tsFiles(join(ROOT, 'src')));
  return new Set([...text.matchAll(/RegistryError\('([A-Z_]+)'/g)].map((m) => m[1] as string));
}

/**
 * The (status, code) pairs asserted by every `expectError(reply, status, ...codes)` call in `text`:
 * its second top-level argument when that is a number literal, with each string literal among the
 * third and later ones. Brackets are balanced and string literals skipped, so
 * `expectError(await send(url, '/v2/x', { method: 'DELETE' }), 405, 'UNSUPPORTED')` yields
 * [405, UNSUPPORTED] only. A call whose status is not a literal asserts no pair.
 */
function assertedPairs(text: string): Array<readonly [number, string]> {
  const pairs: Array<readonly [number, string]> = [];
  for (const match of text.matchAll(/\bexpectError\(/g)) {
    const args = topLevelArguments(text, (match.index ?? 0) + match[0].length);
    const status = /^\s*(\d{3})\s*$/.exec(args[1] ?? '');
    if (!status) continue;
    for (const arg of args.slice(2)) {
      const literal = /^\s*'([A-Z][A-Z_]*)'\s*$/.exec(arg);
      if (literal) pairs.push([Number(status[1]), literal[1] as string]);
    }
  }
  return pairs;
}

/** The top-level arguments of the call whose argument list starts at `start`, as source text. */
function topLevelArguments(text: string, start: number): string[] {
  const args: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let argStart = start;
  for (let i = start; i < text.length; i++) {
    const c = text[i] as string;
    if (quote !== undefined) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"' || c === '`') quote = c;
    else if (c === '(' || c === '[' || c === '{') depth++;
    else if ((c === ')' || c === ']' || c === '}') && depth > 0) depth--;
    else if (c === ',' && depth === 0) {
      args.push(text.slice(argStart, i));
      argStart = i + 1;
    } else if (c === ')') {
      args.push(text.slice(argStart, i));
      break;
    }
  }
  return args;
}

test('errorTable: every wire code is an OCI spec code, or its row says it is a distribution extra', () => {
  for (const [name, row] of rows) {
    const isSpec = (SPEC_CODES as readonly string[]).includes(row.code);
    assert.ok(isSpec || row.ref.includes('distribution'), `${name}: code ${row.code} is not in the spec and ref "${row.ref}" does not say distribution`);
  }
});

test('errorTable: a row named after a spec code sends that code and cites its code-N', () => {
  SPEC_CODES.forEach((code, i) => {
    const row = errorTable[code];
    assert.equal(row.code, code, `${code} sends ${row.code}`);
    assert.equal(row.ref, `code-${i + 1}`, `${code} cites ${row.ref}`);
  });
});

/** The only 5xx rows: faults of the server or its disk, never of the request. */
const SERVER_FAULTS: Partial<Record<ErrorName, number>> = { UNKNOWN: 500, STORAGE_FULL: 507 };

test('errorTable: every status is a 4xx except the server faults (UNKNOWN 500, STORAGE_FULL 507); every message is non-empty', () => {
  for (const [name, row] of rows) {
    const fault = SERVER_FAULTS[name];
    if (fault !== undefined) assert.equal(row.status, fault);
    else assert.ok(row.status >= 400 && row.status < 500, `${name}: status ${row.status}`);
    assert.ok(row.message.length > 0, `${name}: empty message`);
  }
});

test('errorTable: every row except the reserved ones is thrown as RegistryError(<NAME>) under src/', () => {
  const thrown = thrownNames();
  const unthrown = rows.map(([name]) => name).filter((name) => !thrown.has(name));
  assert.deepEqual(unthrown.sort(), [...RESERVED].sort(), 'rows never thrown (or reserved rows now in use): update RESERVED');
  for (const name of RESERVED) assert.ok(!thrown.has(name), `${name} is thrown now: remove it from RESERVED`);
});

test('errorTable: every row src/ throws has a test that provokes it: an expectError(reply, <its status>, <its code>) under test/', () => {
  const thrown = thrownNames();
  const self = fileURLToPath(import.meta.url);
  const testFiles = tsFiles(join(ROOT, 'test')).filter((f) => f !== self);
  const asserted = new Set<string>();
  for (const file of testFiles) {
    for (const [status, code] of assertedPairs(readFileSync(file, 'utf8'))) asserted.add(`${status} ${code}`);
  }
  const untested = rows
    .filter(([name, row]) => thrown.has(name) && !NOT_PROVOKABLE.includes(name) && !asserted.has(`${row.status} ${row.code}`))
    .map(([name, row]) => `${name} (${row.status} ${row.code})`);
  assert.deepEqual(untested, [], `rows src/ throws that no expectError(reply, status, code) in ${testFiles.length} test files asserts`);
});

test('errorTable: no two rows share a status and a wire code, so a test of the pair is a test of the row', () => {
  const seen = new Map<string, string>();
  for (const [name, row] of rows) {
    const pair = `${row.status} ${row.code}`;
    assert.equal(seen.get(pair), undefined, `${name} and ${seen.get(pair)} both answer ${pair}`);
    seen.set(pair, name);
  }
});
