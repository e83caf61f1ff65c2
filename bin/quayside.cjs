#!/usr/bin/env -S node --expose-gc
'use strict';
// The quayside command. Two process settings only take effect before the program starts, so
// they are made here and not in src/ (issue 9):
// - UV_THREADPOOL_SIZE: libuv sizes its pool at first use, and loading an ES module already uses
//   it, so setting it in src/registry.ts did nothing (the pool stayed at 4). Every fs call of
//   every thread shares that pool: the fdatasyncs of parallel uploads would queue a HEAD's cheap
//   stat() behind them. A CommonJS file runs before any of that.
// - --expose-gc (the shebang; `npm start` passes it too): src/uploads/body-memory.ts runs a minor
//   collection every 4 MiB of upload body. Node documents v8.setFlagsFromString() after start-up
//   as unsafe, so the flag is given on the command line, where Node supports it.
process.env.UV_THREADPOOL_SIZE ??= '16';
import('../dist/cli.js');
