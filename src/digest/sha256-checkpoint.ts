/**
 * The checkpoint format for a resumable SHA-256: Go's crypto/sha256 MarshalBinary layout, which is
 * what the reference registry writes to `_uploads/<id>/hashstates/sha256/<offset>`
 * (distribution registry/storage/blobwriter_resumable.go, storeHashState). Using it means:
 *   - docker-registry can continue an upload Quayside started, and the other way round;
 *   - both engines (OpenSSL's SHA256_CTX through the native addon, and hash-wasm) convert to and
 *     from one format, so a checkpoint is never tied to an engine or to a build of one.
 *
 *   offset  size  field
 *   0       4     magic "sha\x03"
 *   4       32    h[0..7], big-endian uint32
 *   36      64    pending block; bytes past `length % 64` are zero
 *   100     8     length in bytes hashed so far, big-endian uint64
 */
export interface Sha256State {
  /** The eight chaining words. */
  readonly h: Uint32Array;
  /** The bytes not yet compressed: `length % 64` of them. */
  readonly pending: Uint8Array;
  /** Bytes hashed so far. */
  readonly length: bigint;
}

const MAGIC = [0x73, 0x68, 0x61, 0x03]; // "sha\x03"
export const CHECKPOINT_SIZE = 108;

export function encodeCheckpoint(state: Sha256State): Uint8Array {
  const out = new Uint8Array(CHECKPOINT_SIZE);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  for (let i = 0; i < 8; i++) view.setUint32(4 + i * 4, state.h[i] ?? 0, false);
  out.set(state.pending.subarray(0, Number(state.length % 64n)), 36);
  view.setBigUint64(100, state.length, false);
  return out;
}

/** Returns undefined for anything that is not a well-formed checkpoint (never throws). */
export function decodeCheckpoint(bytes: Uint8Array): Sha256State | undefined {
  if (bytes.length !== CHECKPOINT_SIZE) return undefined;
  if (MAGIC.some((b, i) => bytes[i] !== b)) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = new Uint32Array(8);
  for (let i = 0; i < 8; i++) h[i] = view.getUint32(4 + i * 4, false);
  const length = view.getBigUint64(100, false);
  const pending = bytes.slice(36, 36 + Number(length % 64n));
  return { h, pending, length };
}
