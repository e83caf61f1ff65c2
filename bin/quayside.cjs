#!/usr/bin/env -S node --expose-gc --no-memory-reducer
'use strict';
// The quayside command. Three process settings only take effect before the program starts, so
// they are made here and not in src/ (issue 9). `npm start` runs this file through its shebang,
// and bench/lib/targets.ts reads the flags from the shebang, so the line below is the one place
// they are set.
// - UV_THREADPOOL_SIZE: libuv sizes its pool at first use, and loading an ES module already uses
//   it, so setting it in src/registry.ts did nothing (the pool stayed at 4). Every fs call of
//   every thread shares that pool: the fdatasyncs of parallel uploads would queue a HEAD's cheap
//   stat() behind them. A CommonJS file runs before any of that.
// - --expose-gc: src/uploads/body-memory.ts runs a minor collection every 4 MiB of upload body.
//   Node documents v8.setFlagsFromString() after start-up as unsafe, so the flag is given on the
//   command line, where Node supports it.
// - --no-memory-reducer: V8's memory reducer runs extra collections once a process goes idle
//   after allocating. A registry that sat idle for 12 s after a push then served small reads
//   ~30 % slower for the rest of its life: 27 µs of CPU per manifest GET instead of 19-20, ~35 %
//   more bytes allocated per request, and node's process.nextTick building every tick object
//   through V8's runtime (map transitions) instead of its inline path. Measured side by side
//   (node --import tsx bench/load/idle-gap.ts): 37-38k req/s after the idle gap without the
//   flag, 53-54k with it, 50-54k with no gap. The memory it would have given back after a
//   512 MiB push was 3 MiB (97 against 100 MiB RSS 15 s later).
process.env.UV_THREADPOOL_SIZE ??= '16';
// The CLI as one esbuild bundle (scripts/build-bundle.mjs, part of `npm run build`), CommonJS so
// that it can be compiled from a V8 code cache (bin/code-cache.cjs): one file instead of a few
// hundred modules to resolve and read, and no parse at start (bench/startup/start-footprint.ts).
// QUAYSIDE_CODE_CACHE=off runs it without the cache. A dist/ built by tsc alone (no bundle) still
// runs, unbundled.
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const bundle = join(__dirname, '..', 'dist', 'bundle', 'cli.cjs');
if (existsSync(bundle)) require('./code-cache.cjs').runBundle(bundle, { cache: process.env.QUAYSIDE_CODE_CACHE });
else import('../dist/cli.js');
