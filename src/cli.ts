#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig } from './config/load.ts';
import { createLogger } from './log.ts';
import { createRegistry } from './registry.ts';

const HELP = `quayside: a container image registry (Docker Registry HTTP API V2, OCI Distribution v1.1)

Usage:
  quayside serve [config.yml]   serve the registry (default 127.0.0.1:5000, storage in ./data)
  quayside --version            print the version
  quayside --help               print this help

Configuration uses the reference registry's keys (version, log.level, http.addr,
storage.filesystem.rootdirectory, storage.delete.enabled); any key can be overridden by
environment, e.g. REGISTRY_HTTP_ADDR=0.0.0.0:5000 REGISTRY_STORAGE_DELETE_ENABLED=true.
`;

function version(): string {
  // dist/cli.js and src/cli.ts both sit one level below package.json.
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function serve(configFile: string | undefined): Promise<void> {
  const config = await loadConfig(configFile, process.env);
  const log = createLogger(config.log.level);
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
  process.stderr.write(`quayside: unknown command ${JSON.stringify(command)}\n\n${HELP}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ConfigError) process.stderr.write(`quayside: ${err.message}\n`);
    else process.stderr.write(`quayside: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
