#!/usr/bin/env node
// Runs every test/**/*.test.ts under node:test with tsx. Node 20's runner finds no .ts files and
// does not expand quoted globs (STYLE §6.1), so we list the files ourselves.
// Usage: node scripts/run-tests.mjs [path-substring ...]   (filters files, e.g. `api/uploads`)
//
// When a selected test file uses S3 (imports test/helpers/s3.ts) and S3_ENDPOINT is not set, a
// throw-away Ceph RGW is started first with scripts/s3-ceph.sh (which installs Debian's Ceph
// packages on first use, as root), its S3_* variables are exported to the tests, and it is stopped
// after. One that already runs is used and left running. When RGW cannot be had, the reason is
// printed and the tests run anyway: the S3 tests then skip, saying why.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function findTests(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) return findTests(full);
    return entry.name.endsWith('.test.ts') ? [full] : [];
  });
}

const filters = process.argv.slice(2);
const files = findTests(join(root, 'test'))
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error('run-tests: no test files matched');
  process.exit(1);
}
const cephScript = join(root, 'scripts', 's3-ceph.sh');

/** S3_* lines of s3-ceph.sh's output, as an environment. */
function s3Variables(stdout) {
  return Object.fromEntries(stdout.split('\n').flatMap((line) => {
    const match = /^(S3_[A-Z0-9_]+)=(.*)$/.exec(line);
    return match ? [[match[1], match[2]]] : [];
  }));
}

/** Brings RGW up when the tests need it: { env, stop } (stop only when we started it). */
function startS3() {
  const none = { env: {}, stop: false };
  if (process.env.S3_ENDPOINT) return none;
  if (!files.some((f) => readFileSync(join(root, f), 'utf8').includes('helpers/s3.ts'))) return none;
  const status = spawnSync('bash', [cephScript, 'status'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (status.status === 0) {
    console.error('run-tests: using the Ceph RGW that already runs (left running)');
    return { env: s3Variables(status.stdout), stop: false };
  }
  const installed = spawnSync('bash', ['-c', 'command -v radosgw && command -v ceph-mon && command -v ceph-osd'], { stdio: 'ignore' }).status === 0;
  if (!installed && process.getuid?.() !== 0) {
    console.error('run-tests: S3 tests will skip: Ceph is not installed and this is not root, so scripts/s3-ceph.sh cannot install it');
    return none;
  }
  console.error(`run-tests: starting Ceph RGW (${installed ? 'seconds' : 'first use: installing Debian\'s ceph packages, minutes'})`);
  const started = spawnSync('bash', [cephScript, 'start'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (started.status !== 0) {
    console.error(`run-tests: S3 tests will skip: scripts/s3-ceph.sh start exited ${started.status ?? started.signal} (its log is above)`);
    return none;
  }
  return { env: s3Variables(started.stdout), stop: true };
}

// Survive Ctrl-C long enough to stop RGW: the tests get the signal themselves and end.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => {});
const s3 = startS3();
let status = 1;
try {
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], { cwd: root, stdio: 'inherit', env: { ...process.env, ...s3.env } });
  status = result.status ?? 1;
} finally {
  if (s3.stop) spawnSync('bash', [cephScript, 'stop'], { cwd: root, stdio: 'inherit' });
}
process.exit(status);
