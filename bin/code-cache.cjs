'use strict';
// Runs the CLI bundle (dist/bundle/cli.cjs) with a V8 code cache beside it (cli.cjs.v8cache).
//
// Why: compiling the bundle is a fixed cost of every start (24 ms of the 147 ms a `serve` spent
// busy before its first answer, plus each function V8 compiles lazily on the way). Node 20 has
// no compile cache of its own (module.enableCompileCache() is 22.1+) and none at all for ES
// modules, so the bundle is CommonJS and compiled here through vm.Script, whose cachedData V8
// deserialises instead of parsing: bench/startup/start-footprint.ts measures the difference
// (its "no code cache" row is this file with QUAYSIDE_CODE_CACHE=off).
//
// V8 checks a cache against its own version, its flags and the source's *length* only
// (SerializedCodeData::SanityCheck): a rebuilt bundle of the same length would be given the old
// bytecode. So the file starts with the SHA-256 of the source it was made from, and a cache for
// other bytes is never handed to V8.
//
// The cache is written by `npm run build` and again at install, each time by the Node that will
// run it (scripts/write-code-cache.mjs). A running command only reads it: when it is missing or
// V8 rejects it (another Node, other flags), the bundle is compiled from its text, as before.
const { isAscii } = require('node:buffer');
const { createHash } = require('node:crypto');
const { readFileSync, renameSync, writeFileSync } = require('node:fs');
const Module = require('node:module');
const { dirname } = require('node:path');
const vm = require('node:vm');

const MAGIC = 'quayside-v8-code-cache 1\n';
const HEADER_BYTES = MAGIC.length + 64 + 1; // magic, sha256 hex, newline

/** The V8 data in `cacheFile` when it was made from exactly `source` (its sha256), else undefined. */
function cachedDataFor(cacheFile, sourceHash) {
  let file;
  try {
    file = readFileSync(cacheFile);
  } catch {
    return undefined;
  }
  const header = file.subarray(0, HEADER_BYTES).toString('latin1');
  return header === `${MAGIC}${sourceHash}\n` ? file.subarray(HEADER_BYTES) : undefined;
}

/** Writes `script`'s code cache for `sourceHash` atomically (temp file + rename); false when it cannot. */
function writeCodeCache(script, cacheFile, sourceHash) {
  const temp = `${cacheFile}.${process.pid}.tmp`;
  try {
    writeFileSync(temp, Buffer.concat([Buffer.from(`${MAGIC}${sourceHash}\n`, 'latin1'), script.createCachedData()]));
    renameSync(temp, cacheFile);
    return true;
  } catch {
    return false;
  }
}

/**
 * Compiles the bundle `file` (a function expression: Node's module wrapper), from its code cache when one matches.
 * Its own function so that the file's bytes and the cache's (2.3 MB) are garbage before the
 * bundle runs: they die young instead of surviving the start into the old generation, where
 * they stayed in the idle RSS (no full GC runs in an idle registry: --no-memory-reducer).
 */
function compileBundle(file, mode) {
  const bytes = readFileSync(file);
  const sourceHash = mode === 'off' ? '' : createHash('sha256').update(bytes).digest('hex');
  const cachedData = mode === 'off' ? undefined : cachedDataFor(`${file}.v8cache`, sourceHash);
  // esbuild writes ASCII (non-ASCII strings escaped): decoded as latin1, the same text in a third
  // of the time, kept by V8 as one byte per character, outside its heap. The file is already
  // wrapped as Node wraps a module (its banner), and V8 takes the shebang line before it.
  const source = isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
  // No importModuleDynamically: the bundle has no import() (scripts/build-bundle.mjs).
  const script = new vm.Script(source, { filename: file, cachedData });
  const state = mode === 'off' ? 'off' : cachedData === undefined ? 'none' : script.cachedDataRejected ? 'rejected' : 'used';
  return { script, state, sourceHash };
}

/**
 * Loads and runs the CommonJS bundle `file` as Node's own loader would (the module wrapper, a
 * require() relative to it), compiled from its code cache when one matches.
 * `options.cache`: 'use' (the default), 'write' (also write one at exit: scripts/write-code-cache.mjs),
 * 'off' (neither read nor write one).
 * Returns how the cache was found: 'off', 'none' (none made from these bytes), 'rejected' (by
 * V8: another Node or other flags), 'used'.
 */
function runBundle(file, options = {}) {
  const mode = options.cache === 'off' || options.cache === 'write' ? options.cache : 'use';
  const { script, state, sourceHash } = compileBundle(file, mode);
  // At exit V8 has compiled what this run used (start, a request, shutdown), not only the top level.
  if (mode === 'write') process.once('exit', () => writeCodeCache(script, `${file}.v8cache`, sourceHash));
  const module = { exports: {}, filename: file, id: file, loaded: false };
  script.runInThisContext().call(module.exports, module.exports, Module.createRequire(file), module, file, dirname(file));
  return state;
}

module.exports = { runBundle };
