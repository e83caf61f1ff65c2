import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

/*
 * bin/code-cache.cjs: how the launcher runs the CLI bundle from a V8 code cache. Each case runs
 * a small bundle of the same shape as dist/bundle/cli.cjs (a shebang, Node's module wrapper) in
 * a child process, as the launcher does, and reads back how the cache was found and what ran.
 */
const run = promisify(execFile);
const repo = new URL('../../', import.meta.url).pathname;
const loader = join(repo, 'bin', 'code-cache.cjs');
const MAGIC = 'quayside-v8-code-cache 1\n';

/** A bundle printing `answer`; the same length for any one-letter answer. */
const bundleSource = (answer: string): string =>
  `#!/usr/bin/env node\n(function (exports, require, module, __filename, __dirname) {\n'use strict';\nfunction answer() { return ${JSON.stringify(answer)}; }\nprocess.stdout.write(answer() + ' ' + require('node:path').basename(__filename) + ' ');\n})\n`;

/** Runs `file` through runBundle in a fresh node; "<answer> <basename> <state>" (the bundle prints first). */
async function runBundle(file: string, options: { cache?: string; nodeFlags?: string[] } = {}): Promise<string> {
  const script = `process.stdout.write(require(${JSON.stringify(loader)}).runBundle(process.argv[1], { cache: ${JSON.stringify(options.cache)} }))`;
  const { stdout } = await run(process.execPath, [...(options.nodeFlags ?? []), '-e', script, file]);
  return stdout;
}

async function bundleIn(t: { after: (fn: () => Promise<void>) => void }, answer: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'quayside-code-cache-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'cli.cjs');
  await writeFile(file, bundleSource(answer));
  return file;
}

/** What the build and the install do (scripts/write-code-cache.mjs): a run with QUAYSIDE_CODE_CACHE=write. */
const writeCache = (file: string, nodeFlags?: string[]): Promise<string> => runBundle(file, { cache: 'write', ...(nodeFlags ? { nodeFlags } : {}) });

test('code cache: a run only reads it; a write run makes one headed by the sha256 of the bundle, which the next runs use', async (t) => {
  const file = await bundleIn(t, 'A');
  assert.equal(await runBundle(file), 'A cli.cjs none');
  await assert.rejects(stat(`${file}.v8cache`), { code: 'ENOENT' }, 'a plain run never writes the cache');
  assert.equal(await writeCache(file), 'A cli.cjs none');
  const cache = await readFile(`${file}.v8cache`);
  const sha = createHash('sha256').update(await readFile(file)).digest('hex');
  assert.equal(cache.subarray(0, MAGIC.length + 65).toString('latin1'), `${MAGIC}${sha}\n`);
  assert.ok(cache.length > MAGIC.length + 65, 'V8 data follows the header');
  assert.equal(await runBundle(file), 'A cli.cjs used');
  assert.equal(await runBundle(file), 'A cli.cjs used');
});

test('code cache: a rebuilt bundle of the same length never runs the old bytecode (V8 alone would run it)', async (t) => {
  const file = await bundleIn(t, 'A');
  await writeCache(file);
  const stale = await readFile(`${file}.v8cache`);
  await writeFile(file, bundleSource('B'));
  // Why the header exists: V8 checks a cache against the source's length, not its text. Handed
  // the stale data directly (in a node with the same flags as the one that made it), it runs 'A'.
  const v8Alone = `const vm = require('node:vm'); const fs = require('node:fs'); const [file, cache] = process.argv.slice(1);
    const script = new vm.Script(fs.readFileSync(file, 'latin1'), { filename: file, cachedData: fs.readFileSync(cache).subarray(${MAGIC.length + 65}) });
    const module = { exports: {} };
    script.runInThisContext().call(module.exports, module.exports, require, module, file, '');
    process.stdout.write(String(script.cachedDataRejected));`;
  const staleFile = `${file}.stale`;
  await writeFile(staleFile, stale);
  assert.equal((await run(process.execPath, ['-e', v8Alone, file, staleFile])).stdout, 'A cli.cjs false');
  assert.equal(await runBundle(file), 'B cli.cjs none');
  assert.equal(await writeCache(file), 'B cli.cjs none');
  assert.equal(await runBundle(file), 'B cli.cjs used');
});

test('code cache: made under other node flags V8 rejects it, the bundle still runs, and the cache is left as it was', async (t) => {
  const file = await bundleIn(t, 'A');
  await writeCache(file);
  const before = await readFile(`${file}.v8cache`);
  assert.equal(await runBundle(file, { nodeFlags: ['--no-opt'] }), 'A cli.cjs rejected');
  assert.deepEqual(await readFile(`${file}.v8cache`), before);
  assert.equal(await runBundle(file), 'A cli.cjs used');
  // The install step makes one for the flags and the Node that will run it.
  assert.equal(await writeCache(file, ['--no-opt']), 'A cli.cjs rejected');
  assert.equal(await runBundle(file, { nodeFlags: ['--no-opt'] }), 'A cli.cjs used');
});

test('code cache: QUAYSIDE_CODE_CACHE=off reads none; an unknown value is the default; a cache that cannot be written is no error', async (t) => {
  const file = await bundleIn(t, 'A');
  await writeCache(file);
  assert.equal(await runBundle(file, { cache: 'off' }), 'A cli.cjs off');
  assert.equal(await runBundle(file, { cache: 'sometimes' }), 'A cli.cjs used');
  // Where the cache would go, a directory: the rename fails (as on a read-only install, even as root).
  await rm(`${file}.v8cache`);
  await mkdir(`${file}.v8cache`);
  assert.equal(await writeCache(file), 'A cli.cjs none');
  assert.ok((await stat(`${file}.v8cache`)).isDirectory());
  assert.equal(await runBundle(file), 'A cli.cjs none');
});
