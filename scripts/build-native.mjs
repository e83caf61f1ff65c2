#!/usr/bin/env node
// Builds the optional native addon (native/quayside.c) with node-gyp at install time.
// A failed build is not a failed install: Quayside then runs on hash-wasm and says so at start-up.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function nodeGypCommand() {
  // npm tells lifecycle scripts where its bundled node-gyp is; fall back to resolving it.
  if (process.env.npm_config_node_gyp) return [process.execPath, process.env.npm_config_node_gyp];
  const bundled = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (existsSync(bundled)) return [process.execPath, bundled];
  return ['node-gyp'];
}

if (process.env.QUAYSIDE_SKIP_NATIVE === '1') {
  console.log('quayside: QUAYSIDE_SKIP_NATIVE=1, not building the native SHA-256 engine');
  process.exit(0);
}
// Build against the headers of the Node that runs us when they are installed beside it (no
// download: only the npm registry is reachable on our machines).
const prefix = join(dirname(process.execPath), '..');
const nodedir = existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
const [command, ...args] = nodeGypCommand();
const result = spawnSync(command, [...args, 'rebuild', ...nodedir], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
if (result.status === 0) {
  console.log('quayside: built the native addon (SHA-256 engine, O_DIRECT alignment)');
} else {
  const why = (result.stderr || String(result.error ?? '')).trim().split('\n').slice(-5).join('\n');
  console.warn(`quayside: could not build the native addon; hash-wasm and buffered writes will be used.\n${why}`);
}
