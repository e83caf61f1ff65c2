/**
 * A resumable SHA-256 engine: start fresh, or resume from a checkpoint (sha256-checkpoint.ts),
 * feed bytes, save a checkpoint, finish. hash-wasm is the portable engine; a native engine over
 * OpenSSL's SHA256_CTX plugs in behind the same interface.
 */
export interface Sha256Hasher {
  update(bytes: Uint8Array): void;
  /** A checkpoint in the shared format; the hasher stays usable. */
  save(): Uint8Array;
  /** Bytes hashed so far. */
  readonly length: number;
  /** The final digest as lowercase hex; the hasher is spent afterwards. */
  digestHex(): string;
}

export interface Sha256Engine {
  readonly name: string;
  fresh(): Promise<Sha256Hasher>;
  /** undefined when the checkpoint cannot be loaded: the caller re-hashes from data (habit 6). */
  resume(checkpoint: Uint8Array): Promise<Sha256Hasher | undefined>;
}
