import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { expectStatus } from '../helpers/assertions.ts';
import { pushBlob, send } from '../helpers/oci-client.ts';

/**
 * The installable artifact (issue 12): `npm pack`, then `npm install <tarball>` into an empty
 * project, then `npx quayside serve`, as an appliance builder does it.
 *
 * The pack runs in a private copy of the package (package.json, src, bin, native, scripts; the
 * repository's node_modules linked in for tsc and esbuild): its prepack script deletes and
 * rebuilds dist/, which must not happen under other test files running in parallel.
 *
 * The install uses npm's cache first (--prefer-offline); what the cache lacks (a fresh machine) is
 * fetched from the npm registry, the only network this needs.
 */
const run = promisify(execFile);
const repo = new URL('../../', import.meta.url).pathname;
const NPM_TIMEOUT_MS = 120_000;

let work: string;
let tarball: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'quayside-pack-'));
  const pkg = join(work, 'package');
  await mkdir(pkg);
  for (const name of ['package.json', 'package-lock.json', 'tsconfig.json', 'binding.gyp', 'README.md', 'src', 'bin', 'native', 'scripts']) {
    await cp(join(repo, name), join(pkg, name), { recursive: true });
  }
  await symlink(join(repo, 'node_modules'), join(pkg, 'node_modules'));
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: pkg, timeout: NPM_TIMEOUT_MS, maxBuffer: 16 * 2 ** 20 });
  const [entry] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }];
  tarball = join(work, entry.filename);
  packedFiles = entry.files.map((f) => f.path);
});
after(() => rm(work, { recursive: true, force: true }));

let packedFiles: string[] = [];

test('npm pack: the tarball holds the build, the library entry with its declarations, the command, the native source and its install script, the UI assets; no tests, benchmarks or TypeScript sources', () => {
  for (const needed of ['bin/quayside.cjs', 'bin/code-cache.cjs', 'dist/bundle/cli.cjs', 'dist/bundle/cli.cjs.v8cache', 'dist/index.js', 'dist/index.d.ts', 'dist/workers/chunk-worker.js', 'native/quayside.c', 'binding.gyp', 'scripts/build-native.mjs', 'src/ui/assets/index.html', 'package.json']) {
    assert.ok(packedFiles.includes(needed), `${needed} missing from the tarball:\n${packedFiles.join('\n')}`);
  }
  const unwanted = packedFiles.filter((f) => /^(test|bench)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')) || f.endsWith('.map') || f.startsWith('build/'));
  assert.deepEqual(unwanted, []);
});

/** An empty project with the tarball installed; `env` reaches npm and the install script. */
async function install(name: string, env: NodeJS.ProcessEnv = {}): Promise<{ dir: string; output: string }> {
  const dir = join(work, name);
  await mkdir(dir);
  // npm 11 asks a project to approve a dependency's install script (package.json allowScripts).
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name, private: true, allowScripts: { quayside: true } }));
  const { stdout, stderr } = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts', tarball], {
    cwd: dir,
    env: { ...process.env, ...env },
    timeout: NPM_TIMEOUT_MS,
    maxBuffer: 16 * 2 ** 20,
  });
  return { dir, output: stdout + stderr };
}

interface Served {
  readonly url: string;
  readonly listening: { hashEngine?: string };
  readonly warnings: string[];
  /** SIGTERM to npx and its node; resolves when they have exited. */
  stop(): Promise<void>;
}

/** `npx quayside serve` on 127.0.0.1:0 in `dir`; resolves with the 'listening' log line. */
async function serve(t: { after: (fn: () => Promise<void>) => void }, dir: string): Promise<Served> {
  const child = spawn('npx', ['--no-install', 'quayside', 'serve'], {
    cwd: dir,
    env: { ...process.env, REGISTRY_HTTP_ADDR: '127.0.0.1:0', REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(dir, 'data'), REGISTRY_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const exited = once(child, 'exit');
  const stop = async (): Promise<void> => {
    // npx runs node as its child: the group gets the signal.
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
    await exited;
  };
  t.after(stop);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const warnings: string[] = [];
  return new Promise<Served>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no 'listening' line after 30 s\n${stderr}`)), 30_000);
    void exited.then(() => reject(new Error(`npx quayside serve exited (${String(child.exitCode)})\n${stderr}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; addr?: string; level?: number; hashEngine?: string; reason?: string };
      if (entry.level === 40) warnings.push(`${entry.msg ?? ''}: ${entry.reason ?? ''}`);
      if (entry.msg === 'listening' && entry.addr !== undefined) {
        clearTimeout(timer);
        resolve({ url: `http://${entry.addr}`, listening: entry, warnings, stop });
      }
    });
  });
}

test('npm install <tarball> builds the native addon; npx quayside serve answers /v2/ 200 and takes a push on the native engine', { timeout: 180_000 }, async (t) => {
  const { dir, output } = await install('with-compiler');
  assert.match(output, /built the native addon/);
  const served = await serve(t, dir);
  assert.equal(served.listening.hashEngine, 'native');
  expectStatus(await send(served.url, '/v2/'), 200);
  // The first push starts the worker pool (workers/pool.ts) from the installed dist/.
  const digest = await pushBlob(served.url, 'pack/test', 'bytes from the installed artifact');
  const blob = await send(served.url, `/v2/pack/test/blobs/${digest}`);
  expectStatus(blob, 200);
  assert.equal(blob.body.toString(), 'bytes from the installed artifact');
  // The web UI's page, read from the shipped src/ui/assets/.
  const page = await send(served.url, '/ui/');
  expectStatus(page, 200);
  assert.match(page.body.toString(), /<html/i);
  // The install wrote a V8 code cache for this Node (scripts/write-code-cache.mjs), made from the
  // installed bundle's bytes, and V8 takes it under the launcher's flags (bin/code-cache.cjs).
  const installed = join(dir, 'node_modules', 'quayside');
  const bundle = join(installed, 'dist', 'bundle', 'cli.cjs');
  const sha = createHash('sha256').update(await readFile(bundle)).digest('hex');
  assert.equal((await readFile(`${bundle}.v8cache`)).subarray(0, 90).toString('latin1'), `quayside-v8-code-cache 1\n${sha}\n`);
  const shebang = (await readFile(join(installed, 'bin', 'quayside.cjs'), 'utf8')).split('\n', 1)[0]?.split(/\s+/) ?? [];
  const flags = shebang.slice(shebang.indexOf('node') + 1);
  const loader = join(installed, 'bin', 'code-cache.cjs');
  // The CLI reads process.argv.slice(2); after -e, argv[1] is the first word given.
  const { stdout, stderr } = await run(process.execPath, [...flags, '-e', `process.stderr.write('cache: ' + require(${JSON.stringify(loader)}).runBundle(${JSON.stringify(bundle)}))`, '-', '--version']);
  assert.equal(stdout.trim(), (JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as { version: string }).version);
  assert.equal(stderr, 'cache: used');
});

test('npm install <tarball> without a working compiler still succeeds; the server says it falls back to hash-wasm and takes a push', { timeout: 180_000 }, async (t) => {
  // node-gyp's Makefile compiles with $(CC): /bin/false fails the build as a missing compiler does.
  const { dir, output } = await install('no-compiler', { CC: '/bin/false', CXX: '/bin/false' });
  assert.match(output, /could not build the native addon; hash-wasm and buffered writes will be used/);
  const built = await readdir(join(dir, 'node_modules', 'quayside', 'build', 'Release')).catch((): string[] => []);
  assert.ok(!built.includes('quayside_native.node'), built.join(', '));
  const served = await serve(t, dir);
  assert.equal(served.listening.hashEngine, 'wasm');
  assert.ok(served.warnings.some((w) => w.includes('native SHA-256 engine unavailable; using hash-wasm')), served.warnings.join('\n'));
  const digest = await pushBlob(served.url, 'pack/test', 'hashed by hash-wasm');
  expectStatus(await send(served.url, `/v2/pack/test/blobs/${digest}`), 200);
});
