// Cost of notifications on the push path: the same pushes (POST + PUT ?digest=, small blobs) with
// notifications off, and on with a receiver answering 200, side by side, several rounds.
// node --import tsx bench/notifications/push-cost.ts [pushes per round] [concurrency]
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig } from '../../src/config/load.ts';
import { createRegistry } from '../../src/registry.ts';
import { send, sha256 } from '../../test/helpers/oci-client.ts';

const pushes = Number(process.argv[2] ?? 300);
const concurrency = Number(process.argv[3] ?? 8);
const receiver = createServer((req, res) => req.resume().on('end', () => res.end()));
receiver.listen(0, '127.0.0.1');
await once(receiver, 'listening');
const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`;

async function round(notify: boolean, n: number): Promise<number> {
  const root = await mkdtemp(join(tmpdir(), 'quayside-bench-notify-'));
  const config = buildConfig({
    log: { level: 'error' },
    http: { addr: '127.0.0.1:0' },
    storage: { filesystem: { rootdirectory: root } },
    ...(notify ? { notifications: { endpoints: [{ name: 'bench', url: hook }] } } : {}),
  });
  const registry = await createRegistry(config, { workers: 1 });
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < pushes) {
      const body = Buffer.from(`blob ${n} ${next++} ${Math.random()}`);
      const reply = await send(registry.url, `/v2/bench/blobs/uploads/?digest=${sha256(body)}`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'content-length': body.length }, body });
      if (reply.status !== 201) throw new Error(`push: ${reply.status}`);
    }
  }));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  await registry.close();
  await rm(root, { recursive: true, force: true });
  return ms;
}

const results: { off: number; on: number }[] = [];
for (let n = 0; n < 5; n++) results.push({ off: await round(false, n), on: await round(true, n) });
const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const off = median(results.map((r) => r.off));
const on = median(results.map((r) => r.on));
console.table(results.map((r) => ({ off_ms: Math.round(r.off), on_ms: Math.round(r.on) })));
console.log(`${pushes} pushes, ${concurrency} at once: median off ${(off / pushes).toFixed(2)} ms/push, on ${(on / pushes).toFixed(2)} ms/push (${((on / off - 1) * 100).toFixed(1)} %)`);
receiver.close();
