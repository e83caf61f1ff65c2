#!/usr/bin/env node
// Writes dist/bundle/cli.cjs.v8cache, the V8 code cache bin/code-cache.cjs compiles the CLI from.
// V8 takes a cache only from its own version run with the same flags, so it is made twice:
// - by `npm run build` (scripts/build-bundle.mjs), for the Node that builds (and packs);
// - at install (package.json "install", after the native addon), for the Node that installs:
//   the tarball's cache is the packer's, and another Node would reject it. A failure there is no
//   failed install: the CLI starts without a cache, only slower.
// The running CLI never writes one: a run under other flags (a profiler, plain `node`) would
// replace the cache the next normal start needs, and an installed package stays as installed.
//
// How: `serve` is started once as users start it (the launcher with its shebang's node flags),
// in memory on a free loopback port, with QUAYSIDE_CODE_CACHE=write; once it answers GET /v2/ it
// gets SIGTERM, and writes the cache of everything it compiled on the way as it exits.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bundle = `${root}dist/bundle/cli.cjs`;

/**
 * Starts, stops and checks as above. `required`: throw when no cache results (the build);
 * otherwise say why in one line and return (the install).
 */
export async function writeCodeCache({ required }) {
  try {
    await serveOnce();
    if (!existsSync(`${bundle}.v8cache`)) throw new Error(`no cache was written (is ${root}dist/bundle writable?)`);
  } catch (err) {
    if (required) throw err;
    console.log(`quayside: no V8 code cache for this Node (${err.message}); the command starts without one`);
  }
}

async function serveOnce() {
  const launcher = `${root}bin/quayside.cjs`;
  const shebang = readFileSync(launcher, 'utf8').split('\n', 1)[0].split(/\s+/);
  const flags = shebang.slice(shebang.indexOf('node') + 1);
  const port = await freePort();
  // The builder's own REGISTRY_* settings (TLS, auth, S3...) have no say in this run.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('REGISTRY_')));
  const child = spawn(process.execPath, [...flags, launcher, 'serve'], {
    env: { ...env, QUAYSIDE_CODE_CACHE: 'write', REGISTRY_STORAGE: 'inmemory', REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`, REGISTRY_LOG_LEVEL: 'error' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = once(child, 'exit');
  const deadline = Date.now() + 60_000;
  while (!(await answers(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`serve did not answer on 127.0.0.1:${port} (exit ${child.exitCode})`);
    }
    await sleep(20);
  }
  child.kill('SIGTERM');
  const [code] = await exited;
  if (code !== 0) throw new Error(`serve exited with ${code}`);
}

/** Whether GET /v2/ on `port` gets an answer (any status). */
function answers(port) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/v2/', agent: false }, (res) => {
      res.resume();
      resolve(true);
    });
    req.once('error', () => resolve(false));
    req.end();
  });
}

/** A TCP port nothing listens on right now. */
async function freePort() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

// `node scripts/write-code-cache.mjs`: the install step. In a checkout before its first build
// (`npm ci` runs "install" too) there is no bundle yet, and nothing to do.
if (process.argv[1] === fileURLToPath(import.meta.url) && existsSync(bundle)) await writeCodeCache({ required: false });
