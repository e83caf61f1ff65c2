import { performance } from 'node:perf_hooks';
import { createRegistry, type StorageOption } from '../../src/index.ts';

/*
 * How long a harness waits for a library registry: createRegistry() until it answers /v2/, and
 * close(), in one warm process (the first registry, which loads the modules, is left out).
 * node --import tsx bench/library/start-close.ts [rounds]
 */
const rounds = Number(process.argv[2] ?? 20);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function once(storage: StorageOption): Promise<{ ready: number; close: number }> {
  const started = performance.now();
  const registry = await createRegistry({ storage });
  const reply = await fetch(`${registry.url}/v2/`, { headers: { connection: 'close' } });
  console.assert(reply.status === 200, `/v2/ answered ${reply.status}`);
  await reply.arrayBuffer();
  const ready = performance.now() - started;
  const closing = performance.now();
  await registry.close();
  return { ready, close: performance.now() - closing };
}

await once('inmemory');
for (const storage of ['inmemory', 'tempdir'] as const) {
  const samples = [];
  for (let i = 0; i < rounds; i++) samples.push(await once(storage));
  console.log(`${storage.padEnd(9)} ready p50 ${median(samples.map((s) => s.ready)).toFixed(1)} ms  close p50 ${median(samples.map((s) => s.close)).toFixed(1)} ms  (${rounds} rounds)`);
}
