#!/usr/bin/env node
// Runs a TypeScript benchmark as plain JavaScript: esbuild bundles the entry with the sources it
// imports (src/, bench/, scripts/; npm packages stay imports) into dist/bench-run/, and a plain
// `node` runs it with the arguments given.
//
//   node scripts/run-compiled.mjs bench/throughput/parallel-layers.ts [args...]
//
// Why not `node --import tsx` for a benchmark whose client is measured: under tsx the same push
// client spent 0.61-0.64 cores for 559-602 MiB/s where the built CLI (`quayside bench`) spent
// 0.47 for 600-656 against the same registry (bench/agreement/bench-vs-throughput.ts). tsx turns
// on source maps for the whole process (process.setSourceMapsEnabled) and runs its loader
// hooks; on 2 cores the client's extra CPU is taken from the server it measures.
//
// Each source file keeps its own import.meta.url (its path in the repository), so the files it
// finds next to itself (the native addon, scripts, the repository root) are found as under tsx.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const [entryArg, ...args] = process.argv.slice(2);
if (entryArg === undefined || !entryArg.endsWith('.ts')) {
  process.stderr.write('usage: node scripts/run-compiled.mjs <entry.ts> [args...]\n');
  process.exit(2);
}
const entry = resolve(entryArg);
const outfile = `${root}dist/bench-run/${basename(entry, '.ts')}.mjs`;

const ownImportMetaUrl = {
  name: 'own-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async ({ path }) => ({
      contents: (await readFile(path, 'utf8')).replaceAll('import.meta.url', JSON.stringify(pathToFileURL(path).href)),
      loader: 'ts',
    }));
  },
};

await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  plugins: [ownImportMetaUrl],
  logLevel: 'warning',
});

const child = spawn(process.execPath, [outfile, ...args], { stdio: 'inherit', cwd: process.cwd() });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal === null ? 1 : 128)));
