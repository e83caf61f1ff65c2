import type { Sha256Engine } from './engine.ts';
import { nativeEngine } from './native-engine.ts';

/**
 * Which SHA-256 engine to run: `native` when the addon loaded, else `wasm`. QUAYSIDE_HASH_ENGINE
 * (or `quayside.hashengine`) forces one; forcing `native` where it cannot load falls back
 * with the reason, never a failure. Checkpoints are engine-neutral, so switching is always safe.
 * hash-wasm is imported only when it runs: its bundle costs each worker thread a few MiB.
 */
export type EngineName = 'native' | 'wasm';

export interface EngineChoice {
  readonly engine: Sha256Engine;
  /** Why the preferred engine is not the one running; undefined when it is. */
  readonly fallbackReason: string | undefined;
}

async function wasm(): Promise<Sha256Engine> {
  return (await import('./wasm-engine.ts')).wasmEngine;
}

export async function selectEngine(preferred: EngineName | 'auto' = 'auto'): Promise<EngineChoice> {
  if (preferred === 'wasm') return { engine: await wasm(), fallbackReason: undefined };
  if (nativeEngine instanceof Error) return { engine: await wasm(), fallbackReason: nativeEngine.message };
  return { engine: nativeEngine, fallbackReason: undefined };
}

export async function engineByName(name: string): Promise<Sha256Engine> {
  return (await selectEngine(name === 'native' ? 'native' : 'wasm')).engine;
}
