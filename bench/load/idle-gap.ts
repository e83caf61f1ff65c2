/**
 * Why bin/quayside.cjs runs node with --no-memory-reducer (issue 9): a Quayside process that sat
 * idle for a few seconds after a push served small reads ~30 % slower for the rest of its life.
 * Each round starts Quayside twice, with the launcher's flags and with the same flags less
 * --no-memory-reducer, seeds it over HTTP (seed.ts), leaves it idle for --gap seconds, then
 * drives GET manifest by tag with wrk. Rounds interleave the two, so drift hits both.
 *
 *   node --import tsx bench/load/idle-gap.ts [--rounds 3] [--gap 12] [--duration 6]
 */
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { report, type Row } from '../lib/report.ts';
import { launcherFlags, startQuayside } from '../lib/targets.ts';
import { makeContent, PULL_ACCEPT, APP_REPO, seed } from './seed.ts';
import { runWrk } from './wrk.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    gap: { type: 'string', default: '12' },
    duration: { type: 'string', default: '6' },
  },
});
const rounds = Number(values.rounds);
const gap = Number(values.gap);
const duration = Number(values.duration);

const withFlag = launcherFlags();
const variants = [
  { name: `launcher (${withFlag.join(' ')})`, flags: withFlag },
  { name: 'without --no-memory-reducer', flags: withFlag.filter((f) => f !== '--no-memory-reducer') },
];
const request = { method: 'GET' as const, path: `/v2/${APP_REPO}/manifests/latest`, headers: { accept: PULL_ACCEPT } };
const work = join(tmpdir(), `quayside-idle-gap-${process.pid}`);
const samples = new Map<string, { rps: number; cpuUs: number }[]>();
try {
  for (let r = 0; r < rounds; r++) {
    for (const variant of r % 2 === 0 ? variants : [...variants].reverse()) {
      const root = join(work, `${r}-${samples.size}`);
      await mkdir(root, { recursive: true });
      const target = await startQuayside({ root, nodeFlags: variant.flags });
      try {
        await seed(target.url, makeContent());
        await sleep(gap * 1000);
        const cpu0 = await target.cpuSeconds();
        const result = await runWrk(target.url, request, { threads: 2, connections: 32, duration });
        const cpuUs = (((await target.cpuSeconds()) - cpu0) * 1e6) / Math.max(1, result.requests);
        if (result.non2xx > 0 || result.socketErrors > 0) throw new Error(`${variant.name}: ${result.non2xx} non-2xx, ${result.socketErrors} socket errors`);
        console.log(`idle-gap (round ${r + 1}/${rounds}): ${variant.name}: ${Math.round(result.requestsPerSecond)} req/s, ${cpuUs.toFixed(1)} µs CPU/req`);
        const list = samples.get(variant.name) ?? [];
        list.push({ rps: result.requestsPerSecond, cpuUs });
        samples.set(variant.name, list);
      } finally {
        await target.stop();
      }
    }
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
const rows: Row[] = variants.map((v) => {
  const list = samples.get(v.name) ?? [];
  const rps = list.map((s) => s.rps).sort((a, b) => a - b);
  return {
    flags: v.name,
    'req/s median': Math.round(rps[rps.length >> 1] ?? 0),
    'req/s range': `${Math.round(rps[0] ?? 0)}–${Math.round(rps.at(-1) ?? 0)}`,
    'µs CPU/req median': Number((list.map((s) => s.cpuUs).sort((a, b) => a - b)[list.length >> 1] ?? 0).toFixed(1)),
  };
});
await report('idle-gap', rows, { options: { rounds, gap, duration, route: 'GET manifest by tag', client: 'wrk 2 threads × 32 connections' } });
