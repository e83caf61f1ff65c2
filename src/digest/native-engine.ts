import { nativeAddon, type NativeAddon } from '../native/addon.ts';
import type { Sha256Engine, Sha256Hasher } from './engine.ts';
import { decodeCheckpoint, encodeCheckpoint, type Sha256State } from './sha256-checkpoint.ts';

/**
 * The native engine: OpenSSL's SHA256_Update (SHA-NI where the CPU has it) through a small N-API
 * addon (native/quayside.c), built by node-gyp at install. Its context is OpenSSL's SHA256_CTX,
 * plain data, which we keep in a Uint8Array and translate to the shared checkpoint format:
 *
 *   offset  size  field (host byte order; x86-64 and arm64 are little-endian)
 *   0       32    h[8]
 *   32      4     Nl: low 32 bits of the length in BITS
 *   36      4     Nh: high 32 bits of the length in bits
 *   40      64    data: pending block bytes, in stream order
 *   104     4     num: pending byte count (length % 64)
 *   108     4     md_len (32)
 */
type Addon = NativeAddon;

const CONTEXT_SIZE = 112;

function checkAddon(): Addon | Error {
  if (nativeAddon instanceof Error) return nativeAddon;
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) return new Error('big-endian host: the context layout is not translated');
  if (nativeAddon.contextSize !== CONTEXT_SIZE) return new Error(`unexpected SHA256_CTX size ${nativeAddon.contextSize}`);
  return nativeAddon;
}

function toState(ctx: Uint8Array): Sha256State {
  const view = new DataView(ctx.buffer, ctx.byteOffset, ctx.byteLength);
  const h = new Uint32Array(8);
  for (let i = 0; i < 8; i++) h[i] = view.getUint32(i * 4, true);
  const bits = (BigInt(view.getUint32(36, true)) << 32n) | BigInt(view.getUint32(32, true));
  const length = bits / 8n;
  return { h, pending: ctx.slice(40, 40 + Number(length % 64n)), length };
}

function fromState(state: Sha256State): Uint8Array {
  const ctx = new Uint8Array(CONTEXT_SIZE);
  const view = new DataView(ctx.buffer);
  for (let i = 0; i < 8; i++) view.setUint32(i * 4, state.h[i] ?? 0, true);
  const bits = state.length * 8n;
  view.setUint32(32, Number(bits & 0xffffffffn), true);
  view.setUint32(36, Number((bits >> 32n) & 0xffffffffn), true);
  ctx.set(state.pending, 40);
  view.setUint32(104, state.pending.length, true);
  view.setUint32(108, 32, true);
  return ctx;
}

class NativeHasher implements Sha256Hasher {
  constructor(
    private readonly addon: Addon,
    private readonly ctx: Uint8Array,
  ) {}

  update(bytes: Uint8Array): void {
    this.addon.update(this.ctx, bytes);
  }

  get length(): number {
    return Number(toState(this.ctx).length);
  }

  save(): Uint8Array {
    return encodeCheckpoint(toState(this.ctx));
  }

  digestHex(): string {
    const out = new Uint8Array(32);
    this.addon.final(this.ctx, out);
    return Buffer.from(out.buffer).toString('hex');
  }
}

function createNativeEngine(addon: Addon): Sha256Engine {
  return {
    name: 'native',
    async fresh() {
      const ctx = new Uint8Array(CONTEXT_SIZE);
      addon.init(ctx);
      return new NativeHasher(addon, ctx);
    },
    async resume(checkpoint) {
      const state = decodeCheckpoint(checkpoint);
      return state ? new NativeHasher(addon, fromState(state)) : undefined;
    },
  };
}

const loaded = checkAddon();

/** The native engine, or why it is not available (the caller falls back to hash-wasm). */
export const nativeEngine: Sha256Engine | Error = loaded instanceof Error ? loaded : createNativeEngine(loaded);
