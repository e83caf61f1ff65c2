#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { describeStorage, driverParamsOf, storageLocation } from './config/driver-params.ts';
import { ConfigError, loadConfig, parseDuration } from './config/load.ts';
import { GcAbortedError, garbageCollect, type GcProgress, type GcReport } from './gc/garbage-collect.ts';
import { openDriver, StorageOpenError, type OpenedDriver } from './storage/factory.ts';
import { createLogger } from './log.ts';
import { createRegistry } from './registry.ts';

const HELP = `quayside: a container image registry (Docker Registry HTTP API V2, OCI Distribution v1.1)

Usage:
  quayside serve [config.yml]   serve the registry (default 127.0.0.1:5000, storage in ./data)
  quayside garbage-collect [--dry-run|-d] [--delete-untagged|-m] [--grace 1h] config.yml
                                delete blobs no manifest references (safe while the registry runs)
  quayside bench URL [--compare URL2] [options]
                                benchmark any registry: pushes, pulls, small reads (quayside bench --help)
  quayside --version            print the version
  quayside --help               print this help

Configuration uses the reference registry's keys (version, log.level, http.addr,
storage.filesystem.rootdirectory or storage.s3.*, storage.delete.enabled); any key can be
overridden by environment, e.g. REGISTRY_HTTP_ADDR=0.0.0.0:5000 REGISTRY_STORAGE_DELETE_ENABLED=true,
or REGISTRY_STORAGE=s3 REGISTRY_STORAGE_S3_BUCKET=registry REGISTRY_STORAGE_S3_REGION=us-east-1.
`;

function version(): string {
  // dist/cli.js and src/cli.ts both sit one level below package.json.
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function serve(configFile: string | undefined): Promise<void> {
  const warnings: string[] = [];
  const config = await loadConfig(configFile, process.env, { onWarning: (message) => warnings.push(message) });
  const log = createLogger(config.log.level);
  for (const message of warnings) log.warn(message);
  const registry = await createRegistry(config, { logger: log });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    registry.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

async function collectGarbage(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      'dry-run': { type: 'boolean', short: 'd', default: false },
      'delete-untagged': { type: 'boolean', short: 'm', default: false },
      grace: { type: 'string', default: '1h' },
    },
  });
  const graceMs = parseDuration(values.grace);
  if (graceMs === undefined) throw new ConfigError(`--grace must be a duration such as 1h or 30m, got ${values.grace}`);
  const config = await loadConfig(positionals[0], process.env, { onWarning: (message) => process.stderr.write(`quayside: warning: ${message}\n`) });
  // Its content lives in the serving process only: a run here would collect an empty store and say "nothing to delete".
  if (config.storage.inmemory !== undefined) throw new ConfigError('garbage-collect: inmemory storage is only in the process that serves it; collect it there (the library API: registry.garbageCollect())');
  let opened: OpenedDriver;
  try {
    opened = await openDriver(driverParamsOf(config));
  } catch (err) {
    // S3's own reason (no credentials, no such bucket, unreachable) in one line, no stack.
    process.stderr.write(`quayside: cannot open storage (${describeStorage(config)}): ${(err as Error).message}\n`);
    return 1;
  }
  const bar = progressBar();
  let report: GcReport;
  try {
    report = await garbageCollect(opened.driver, { dryRun: values['dry-run'], deleteUntagged: values['delete-untagged'], graceMs, onProgress: bar });
  } catch (err) {
    if (!(err instanceof GcAbortedError)) throw err;
    // Fail closed (issue 9): name every manifest that stopped the run, where it is stored, no stack.
    bar.done();
    for (const m of err.unreadable) process.stderr.write(`quayside: cannot read manifest ${m.revision} at ${storageLocation(config, m.path)}: ${m.reason}\n`);
    process.stderr.write(`quayside: garbage-collect stopped before deleting anything: fix or remove the manifests above, then run it again\n`);
    return 1;
  } finally {
    // The S3 client's keep-alive sockets would otherwise keep the process from exiting.
    if (opened.kind === 's3') opened.driver.close();
  }
  bar.done();
  const verb = values['dry-run'] ? 'would delete' : 'deleted';
  for (const manifest of report.manifestsDeleted) process.stdout.write(`${verb} manifest ${manifest}\n`);
  for (const blob of report.blobsDeleted) process.stdout.write(`${verb} blob ${blob}\n`);
  process.stdout.write(
    `${report.repositories} repositories, ${report.manifestsMarked} manifests and ${report.blobsMarked} blobs marked; ` +
      `${verb} ${report.manifestsDeleted.length} manifests and ${report.blobsDeleted.length} blobs (${(report.bytesFreed / 2 ** 20).toFixed(1)} MiB); ` +
      `${report.keptAsRecent} unreferenced blobs kept as recent` +
      (report.restoredAside > 0 ? `; put back ${report.restoredAside} blobs an interrupted run left aside` : '') +
      '\n',
  );
  return 0;
}

/** A progress line on stderr for long runs (a terminal only: logs stay clean). */
function progressBar(): ((p: GcProgress) => void) & { done: () => void } {
  let last = 0;
  const update = (p: GcProgress): void => {
    const now = Date.now();
    if (!process.stderr.isTTY || (now - last < 200 && p.done !== p.total)) return;
    last = now;
    const width = 30;
    const filled = p.total === 0 ? width : Math.round((p.done / p.total) * width);
    process.stderr.write(`\r${p.phase.padEnd(5)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.done}/${p.total}`);
  };
  return Object.assign(update, { done: () => (process.stderr.isTTY ? process.stderr.write('\n') : undefined) });
}

/** `quayside bench`: loaded only when asked for, so `serve` starts without it. */
async function bench(args: readonly string[]): Promise<number> {
  const { BENCH_HELP, BenchUsageError, parseBenchArgs, printReport, runBench } = await import('./bench/command.ts');
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(BENCH_HELP);
    return 0;
  }
  let options;
  try {
    options = parseBenchArgs(args);
  } catch (err) {
    if (!(err instanceof BenchUsageError)) throw err;
    process.stderr.write(`quayside bench: ${err.message}\n\n${BENCH_HELP}`);
    return 2;
  }
  const report = await runBench(options);
  printReport(report);
  if (options.json !== undefined) process.stdout.write(`results: ${options.json}\n`);
  return report.scenarios.some((entry) => Object.keys(entry.errors).length > 0) ? 1 : 0;
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-v' || command === 'version') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined ? 1 : 0;
  }
  if (command === 'serve') {
    await serve(rest[0]);
    return -1; // keep running
  }
  if (command === 'garbage-collect') return collectGarbage(rest);
  if (command === 'bench') return bench(rest);
  process.stderr.write(`quayside: unknown command ${JSON.stringify(command)}\n\n${HELP}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    const code = (err as { code?: unknown }).code;
    if (err instanceof ConfigError || err instanceof StorageOpenError) process.stderr.write(`quayside: ${err.message}\n`);
    else if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`quayside: ${(err as Error).message}\n\n${HELP}`);
      process.exitCode = 2;
      return;
    }
    else process.stderr.write(`quayside: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
