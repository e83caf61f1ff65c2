import type { Sha256Engine } from './engine.ts';
import { nativeEngine } from './native-engine.ts';
import { wasmEngine } from './wasm-engine.ts';

/**
 * Which SHA-256 engine to run: `native` when the addon loaded, else `wasm`. QUAYSIDE_HASH_ENGINE
 * (or the `hashengine` option) forces one; forcing `native` where it cannot load falls back
 * with the reason, never a failure. Checkpoints are engine-neutral, so switching is always safe.
 */
export type EngineName = 'native' | 'wasm';

export interface EngineChoice {
  readonly engine: Sha256Engine;
  /** Why the preferred engine is not the one running; undefined when it is. */
  readonly fallbackReason: string | undefined;
}

export function selectEngine(preferred: EngineName | 'auto' = 'auto'): EngineChoice {
  if (preferred === 'wasm') return { engine: wasmEngine, fallbackReason: undefined };
  if (nativeEngine instanceof Error) return { engine: wasmEngine, fallbackReason: nativeEngine.message };
  return { engine: nativeEngine, fallbackReason: undefined };
}

export function engineByName(name: string): Sha256Engine {
  return name === 'native' ? selectEngine('native').engine : wasmEngine;
}

export function parseEngineName(value: string | undefined): EngineName | 'auto' {
  if (value === 'native' || value === 'wasm') return value;
  return 'auto';
}
