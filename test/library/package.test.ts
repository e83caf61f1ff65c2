import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

/*
 * `import { createRegistry } from 'quayside'` as a user gets it: the package's own package.json
 * (`exports`, `types`) over a fresh build (tsc -p tsconfig.json, declarations on), installed as
 * node_modules/quayside of a consumer that type-checks against it strictly and runs it.
 */
const repo = fileURLToPath(new URL('../..', import.meta.url));
const tsc = join(repo, 'node_modules', '.bin', 'tsc');

function run(command: string, args: readonly string[], cwd: string): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 300_000 });
  assert.equal(result.status, 0, `${command} ${args.join(' ')} in ${cwd}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

test('package: exports "." resolves to the build with its types; a strict TypeScript consumer type-checks, and it runs', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'quayside-package-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const pkg = join(dir, 'quayside');
  await mkdir(pkg);
  await copyFile(join(repo, 'package.json'), join(pkg, 'package.json'));
  await symlink(join(repo, 'node_modules'), join(pkg, 'node_modules'));
  run(tsc, ['-p', join(repo, 'tsconfig.json'), '--outDir', join(pkg, 'dist'), '--sourceMap', 'false'], repo);

  const manifest = JSON.parse(await readFile(join(pkg, 'package.json'), 'utf8')) as { exports: { '.': { types: string; default: string } }; types: string };
  assert.deepEqual(manifest.exports['.'], { types: './dist/index.d.ts', default: './dist/index.js' });

  const consumer = join(dir, 'consumer');
  await mkdir(join(consumer, 'node_modules', '@types'), { recursive: true });
  await symlink(pkg, join(consumer, 'node_modules', 'quayside'));
  await symlink(join(repo, 'node_modules', '@types', 'node'), join(consumer, 'node_modules', '@types', 'node'));
  await writeFile(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
  await writeFile(join(consumer, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: ['node'] }, files: ['use.ts'] }));
  await writeFile(join(consumer, 'use.ts'), [
    "import { createRegistry, type Registry, type RequestEvent } from 'quayside';",
    "const registry: Registry = await createRegistry({ storage: 'inmemory', port: 0, logLevel: 'error' });",
    'registry.on(\'request\', (event: RequestEvent) => console.log(event.status));',
    "// @ts-expect-error: the storage option is typed (a `never` import would accept it)",
    "await createRegistry({ storage: 'nowhere' });",
    'await registry.close();',
  ].join('\n'));
  run(tsc, ['-p', consumer], consumer);

  await writeFile(join(consumer, 'run.mjs'), [
    "import { createRegistry } from 'quayside';",
    'const registry = await createRegistry();',
    'const reply = await fetch(`${registry.url}/v2/`);',
    'console.log(JSON.stringify({ status: reply.status, storage: registry.storage }));',
    'await registry.close();',
  ].join('\n'));
  // The process ends by itself after close(): nothing of the registry keeps it alive.
  const out = run(process.execPath, ['run.mjs'], consumer);
  assert.deepEqual(JSON.parse(out.trim()), { status: 200, storage: 'inmemory' });
});
