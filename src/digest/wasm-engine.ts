import { createSHA256, type IHasher } from 'hash-wasm';
import type { Sha256Engine, Sha256Hasher } from './engine.ts';
import { decodeCheckpoint, encodeCheckpoint, type Sha256State } from './sha256-checkpoint.ts';

/**
 * hash-wasm's saved state is a 4-byte build prefix followed by its C struct, little-endian
 * (hash-wasm src/sha256.c, struct sha256_ctx):
 *
 *   offset  size  field
 *   0       4     build prefix (load() refuses a state from another build)
 *   4       64    message[16]: pending block bytes, in stream order
 *   68      8     length: bytes processed, uint64 LE
 *   76      32    hash[8]: chaining words, uint32 LE
 *   108     4     digest_length (32 for SHA-256)
 *   112     4     struct padding
 *
 * We translate to and from the shared checkpoint format, taking the prefix from this build, so
 * a checkpoint written by any engine (or by docker-registry) loads here.
 */
const WASM_STATE_SIZE = 116;

function toState(raw: Uint8Array): Sha256State {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const length = view.getBigUint64(68, true);
  const h = new Uint32Array(8);
  for (let i = 0; i < 8; i++) h[i] = view.getUint32(76 + i * 4, true);
  return { h, pending: raw.slice(4, 4 + Number(length % 64n)), length };
}

function fromState(state: Sha256State, prefix: Uint8Array): Uint8Array {
  const raw = new Uint8Array(WASM_STATE_SIZE);
  const view = new DataView(raw.buffer);
  raw.set(prefix.subarray(0, 4), 0);
  raw.set(state.pending, 4);
  view.setBigUint64(68, state.length, true);
  for (let i = 0; i < 8; i++) view.setUint32(76 + i * 4, state.h[i] ?? 0, true);
  view.setUint32(108, 32, true);
  return raw;
}

class WasmHasher implements Sha256Hasher {
  constructor(private readonly inner: IHasher) {}

  update(bytes: Uint8Array): void {
    this.inner.update(bytes);
  }

  get length(): number {
    return Number(toState(this.inner.save()).length);
  }

  save(): Uint8Array {
    return encodeCheckpoint(toState(this.inner.save()));
  }

  digestHex(): string {
    return this.inner.digest('hex');
  }
}

export const wasmEngine: Sha256Engine = {
  name: 'wasm',
  async fresh() {
    const inner = await createSHA256();
    inner.init();
    return new WasmHasher(inner);
  },
  async resume(checkpoint) {
    const state = decodeCheckpoint(checkpoint);
    if (!state) return undefined;
    const inner = await createSHA256();
    inner.init();
    const prefix = inner.save();
    if (prefix.length !== WASM_STATE_SIZE) return undefined; // another hash-wasm layout: re-hash
    try {
      inner.load(fromState(state, prefix));
    } catch {
      return undefined;
    }
    return new WasmHasher(inner);
  },
};
