import assert from 'node:assert/strict';
import { buildConfig, ConfigError } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';

export type Tree = Parameters<typeof buildConfig>[0];

/** buildConfig with its warnings collected. */
export function build(tree: Tree, env: NodeJS.ProcessEnv = {}): { config: Config; warnings: string[] } {
  const warnings: string[] = [];
  const config = buildConfig(tree, env, { onWarning: (message) => warnings.push(message) });
  return { config, warnings };
}

/** A ConfigError whose one-line message matches every pattern: the key, the env var; never a parser's stack. */
export function refused(...patterns: RegExp[]): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.doesNotMatch(err.message, /\n|ZodError|invalid_type|^\s*at /, 'a raw parser message');
    for (const pattern of patterns) assert.match(err.message, pattern);
    return true;
  };
}
