/**
 * node:http hands every body chunk over in a Buffer of its own (llhttp's body callback copies it
 * out of the socket's read buffer, ≤ 64 KiB each). Their bytes live outside V8's heap and are
 * freed only when the small JS object owning them is collected: when the young generation fills,
 * or once ~64 MiB of external memory has piled up since the last full collection. At hundreds of
 * MiB/s of uploads the second comes first, so up to 64 MiB of dead chunk buffers sit in the
 * process at any time. A young-generation collection after every `RECLAIM_EVERY` bytes of upload
 * body frees them early: the chunks are already copied into batch buffers, so nearly all of the
 * young generation is dead and the scavenge costs well under a millisecond.
 *
 * 4 MiB, measured at 8 × 2 GiB streamed and chunked (bench/RESULTS.md): glibc's main heap peaked
 * at 42 MiB with a 16 MiB window and 24 MiB with 4 (27 with 2), peak RSS 159/167 → 150/150 MiB,
 * CPU per GiB unchanged (1.89/1.86 vs 2.02/1.86). Chunks die as soon as they are copied (they
 * are read from 'data' events, batch-reader.ts), so a smaller window frees them sooner.
 */
const RECLAIM_EVERY = 4 * 1024 * 1024;

/**
 * The collector the process was started with: `--expose-gc` is passed by bin/quayside.cjs (its
 * shebang) and `npm start`. Node documents turning V8 flags on at run time (v8.setFlagsFromString)
 * as unsafe after start-up, so without the flag (the registry embedded, or the tests under tsx)
 * there is simply no reclaim: only peak RSS differs, by the 8 × 2 GiB figures above.
 */
const collect = typeof globalThis.gc === 'function' ? globalThis.gc : undefined;
let sinceCollect = 0;

/** Counts upload body bytes read; every RECLAIM_EVERY of them, a minor collection. */
export function bodyBytesRead(bytes: number): void {
  if (!collect) return;
  sinceCollect += bytes;
  if (sinceCollect < RECLAIM_EVERY) return;
  sinceCollect = 0;
  collect({ type: 'minor' });
}
