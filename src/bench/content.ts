import { createHash, randomBytes } from 'node:crypto';

/** Bodies are produced in pieces of this size: writes stay large, memory stays one piece per stream. */
export const PIECE = 1024 * 1024;

/**
 * Distinct content for every blob of a benchmark, made without keeping any blob in memory: a
 * random pool, of which blob i's piece k is a slice stamped with (run, i, k) in its first 24 bytes.
 * No two blobs (nor two runs) share a digest, so a registry cannot answer from content it already
 * has, and a piece costs one 1 MiB copy (no quadratic concatenation). Digests are computed before
 * timing (`digestOf`).
 */
export class BlobContent {
  private readonly pool: Buffer;
  private readonly run: bigint;

  constructor(poolBytes = 64 * PIECE, run = randomBytes(8).readBigUInt64BE()) {
    this.pool = randomBytes(Math.max(poolBytes, 2 * PIECE));
    this.run = run;
  }

  /** Blob `blob`'s pieces [first, end) of a blob of `size` bytes. */
  *pieces(blob: number, size: number, first = 0, end = Math.ceil(size / PIECE)): Generator<Buffer> {
    for (let k = first; k < end; k++) {
      const length = Math.min(PIECE, size - k * PIECE);
      const start = (k * PIECE) % (this.pool.length - PIECE);
      const piece = Buffer.allocUnsafe(length);
      this.pool.copy(piece, 0, start, start + length);
      stamp(piece, this.run, blob, k);
      yield piece;
    }
  }

  /** The bytes [from, to) of blob `blob`; `from` is a multiple of PIECE (chunk sizes are whole MiB), `to` one too or the end. */
  slice(blob: number, size: number, from: number, to: number): Generator<Buffer> {
    if (from % PIECE !== 0) throw new RangeError(`slice start ${from} is not a multiple of ${PIECE}`);
    return this.pieces(blob, size, from / PIECE, Math.ceil(to / PIECE));
  }

  /** The whole blob in one buffer: for small blobs only (configs, small layers). */
  bytes(blob: number, size: number): Buffer {
    return Buffer.concat([...this.pieces(blob, size)], size);
  }

  digestOf(blob: number, size: number): string {
    const hash = createHash('sha256');
    for (const piece of this.pieces(blob, size)) hash.update(piece);
    return `sha256:${hash.digest('hex')}`;
  }
}

/** (run, blob, piece) over the first bytes the piece has room for. */
function stamp(piece: Buffer, run: bigint, blob: number, k: number): void {
  const fields = [run, BigInt(blob), BigInt(k)];
  for (let i = 0; i < fields.length && (i + 1) * 8 <= piece.length; i++) piece.writeBigUInt64BE(BigInt.asUintN(64, fields[i] ?? 0n), i * 8);
}
