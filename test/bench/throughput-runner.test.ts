import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

/**
 * `npm run bench:throughput` runs compiled (scripts/run-compiled.mjs bundles the TypeScript and
 * runs it with plain node): the bench's figures are quoted in bench/RESULTS.md and compared with
 * `quayside bench` (bench/agreement), so the runner has to keep working. One tiny push on a
 * Quayside it starts itself; the row carries the client's own CPU next to the servers'.
 *
 * It runs in a private copy of the repository (node_modules and the native build/ linked): the
 * bench builds the Quayside it starts (`npm run build`), and that must not rewrite dist/ under
 * other test files' CLI children.
 */
const run = promisify(execFile);
const repoRoot = new URL('../../', import.meta.url).pathname;

interface ResultsFile {
  readonly rows: ReadonlyArray<Record<string, string | number>>;
}

test('bench:throughput (compiled): a 2 × 2 MiB chunked push on Quayside gives one verified row with MiB/s, server and client CPU', async (t) => {
  const copy = await mkdtemp(join(tmpdir(), 'quayside-bench-runner-'));
  t.after(() => rm(copy, { recursive: true, force: true }));
  for (const name of ['package.json', 'tsconfig.json', 'src', 'bin', 'bench', 'scripts']) {
    await cp(join(repoRoot, name), join(copy, name), { recursive: true, filter: (path) => !path.startsWith(join(repoRoot, 'bench', 'results')) });
  }
  for (const name of ['node_modules', 'build']) await symlink(join(repoRoot, name), join(copy, name));
  const { stdout } = await run(
    'npm',
    ['run', '-s', 'bench:throughput', '--', '--parallel', '2', '--size', '2MiB', '--chunk', '1MiB', '--modes', 'chunked', '--targets', 'quayside', '--no-pull'],
    { cwd: copy, maxBuffer: 16 * 1024 * 1024, timeout: 180_000 },
  );
  const file = /results: (\S+\.json)/.exec(stdout)?.[1];
  if (file === undefined) assert.fail(`bench:throughput printed no results file:\n${stdout}`);
  assert.ok(file.startsWith(copy), `results file in the copy, got ${file}`);
  const { rows } = JSON.parse(await readFile(file, 'utf8')) as ResultsFile;
  assert.equal(rows.length, 1);
  const [row] = rows;
  assert.ok(row);
  assert.equal(row['target'], 'quayside');
  assert.equal(row['mode'], 'chunked');
  assert.ok(typeof row['MiB/s'] === 'number' && row['MiB/s'] > 0, `MiB/s in ${JSON.stringify(row)}`);
  assert.ok(typeof row['cpu s/GiB'] === 'number' && row['cpu s/GiB'] > 0, `server cpu in ${JSON.stringify(row)}`);
  assert.ok(typeof row['client cpu s/GiB'] === 'number' && row['client cpu s/GiB'] > 0, `client cpu in ${JSON.stringify(row)}`);
});
