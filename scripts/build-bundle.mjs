#!/usr/bin/env node
// Bundles the CLI (src/cli.ts and everything `quayside serve` loads, dependencies included) into
// dist/bundle/ with esbuild, after `tsc` has built dist/. Why: Node resolves, reads and compiles
// each module file on its own; `serve` loaded ~400 files from node_modules (zod alone ~100), and
// one file starts faster (bench/startup/start-footprint.ts).
//
// The CLI is one CommonJS file, dist/bundle/cli.cjs, which bin/quayside.cjs compiles from a V8
// code cache (bin/code-cache.cjs); Node 20 can cache the compilation of a script but not of an
// ES module. Its dynamic imports (S3, bench, the wasm engine) stay lazy: esbuild evaluates each
// such module at its first import(), and with the cache V8 neither parses nor compiles the code
// of functions that have not run. The build ends by writing that cache (scripts/write-code-cache.mjs).
//
// What stays outside the bundle, as its own file:
// - the worker entry (dist/workers/chunk-worker.js, dist/bench/read-worker.js): piscina loads it
//   by file name in each thread;
// - native code: our addon (build/Release, loaded through createRequire) and bcrypt's;
// - piscina (and pino's transports, which we do not use): they start worker threads on files
//   of their own package found through __dirname.
//
// Modules find files next to themselves through import.meta.url (the worker entry, the addon,
// package.json, the UI assets). In a bundle every module would share the bundle's URL, so each
// source file's import.meta.url is replaced by the URL its tsc output has in dist/: the relative
// paths they resolve stay those of the unbundled build, which ships beside the bundle.
import { build } from 'esbuild';
import { readFile, rm } from 'node:fs/promises';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeCodeCache } from './write-code-cache.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = `${root}src/`;
const outdir = `${root}dist/bundle`;

/**
 * `import.meta.url` of src/<path>.ts → the URL of dist/<path>.js, relative to the bundle in
 * `outdir`; `base` is the bundle's own URL in its format (a CommonJS file has no import.meta).
 */
const distUrlOfSource = (outdir, base = 'import.meta.url') => ({
  name: 'dist-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\/src\/.*\.ts$/ }, async (args) => {
      const code = await readFile(args.path, 'utf8');
      const distFile = `${root}dist/${relative(src, args.path).replace(/\.ts$/, '.js')}`;
      const fromBundle = relative(outdir, distFile);
      const replaced = code.replaceAll('import.meta.url', `new URL(${JSON.stringify(`./${fromBundle}`)}, ${base}).href`);
      return { contents: replaced, loader: 'ts' };
    });
  },
});

/**
 * zod's namespace (`z`) re-exports every message locale (~360 KiB of the bundle, parsed at each
 * start) as `z.locales`, so the bundler cannot drop them; we use none but English, which zod
 * configures itself from locales/en.js. The index is replaced by one that exports only `en`.
 */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, (args) => ({ contents: "export { default as en } from './en.js';", loader: 'js', resolveDir: dirname(args.path) }));
  },
};

// Chunk names carry a content hash: stale ones from an earlier build would ship too.
await rm(outdir, { recursive: true, force: true });
const common = {
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  minifyWhitespace: true,
  minifySyntax: true,
  // bcrypt loads its prebuilt .node by path; piscina starts threads on its own files.
  external: ['bcrypt', 'piscina'],
  // CommonJS dependencies (pino, prom-client...) call require() for node builtins.
  banner: { js: "import { createRequire as __quaysideCreateRequire } from 'node:module'; const require = __quaysideCreateRequire(import.meta.url);" },
  logLevel: 'warning',
};

const { banner: _esmOnly, ...commonJsOptions } = common;
await build({
  ...commonJsOptions,
  format: 'cjs', // esbuild starts it with "use strict": as strict as the ES modules it is made of
  // Node's module wrapper written into the file, so that bin/code-cache.cjs compiles the file's
  // text as it is read: wrapping it at run time made a second, 1.4 MB copy of it in the heap.
  banner: { js: '(function (exports, require, module, __filename, __dirname) {' },
  footer: { js: '})' },
  // import() of what stays outside (piscina, bcrypt) as require(): under Node 20, a script
  // compiled from a code cache loses its dynamic-import callback (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING
  // at the first push), and both packages have a CommonJS entry.
  supported: { 'dynamic-import': false },
  entryPoints: { cli: `${src}cli.ts` },
  outdir,
  outExtension: { '.js': '.cjs' },
  plugins: [distUrlOfSource(outdir, "require('node:url').pathToFileURL(__filename)"), zodEnglishOnly],
});

// The chunk worker, bundled in place of tsc's dist/workers/chunk-worker.js (the file pool.ts
// hands piscina): the first upload waits for each worker to load its modules, and one file
// loads faster than the ~20 it imports. Its lazy imports (S3, hash-wasm) are inlined: a worker
// has no start-up to keep short beyond that first task.
const workers = `${root}dist/workers`;
await build({ ...common, entryPoints: [`${src}workers/chunk-worker.ts`], outfile: `${workers}/chunk-worker.js`, plugins: [distUrlOfSource(workers), zodEnglishOnly] });

// The V8 code cache of the bundle, made by this Node with the launcher's flags.
await writeCodeCache({ required: true });
