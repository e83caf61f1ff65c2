import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe as describeReply, type Channel, type OpKind, type Reply } from './http.ts';
import { newStats, World, type Failure } from './model.ts';
import { derive, Prng } from './prng.ts';
import { buildQuayside, startQuayside, type QuaysideProcess, type ServerLog } from './quayside-process.ts';
import type { CrashStorage } from './storage.ts';
import { verifyAfterRestart } from './verify.ts';
import { runLane, type EpochContext } from './workload.ts';

/*
 * Crash safety under SIGKILL, on any storage (test/crash/kill.test.ts: a filesystem root;
 * test/s3/crash.test.ts: a fresh rootdirectory on Ceph RGW). The built CLI serves the storage;
 * four lanes push in parallel (Content-Range chunks, one streamed PATCH, POST ?digest=, manifest
 * PUTs by tag and digest, deletes of blobs, manifests, tags and uploads); the planner kills the
 * child at a chosen point; a new child on the same storage must honour every acknowledgement
 * (verify.ts lists the checks).
 *
 *   QUAYSIDE_KILL_SEED=<n>     replay a run (the seed is printed; timing still varies)
 *   QUAYSIDE_KILL_POINTS=<n>   kills per run (default: the caller's, 50 on the filesystem)
 *   QUAYSIDE_KILL_TRACE=<file> append every server log line (by pid) and each kill to <file>
 */
const LANES = 4;
/** A target that never comes (no delete drawn, say) still gets its kill. */
const FALLBACK_MS = 1500;

/**
 * Invariant failures reported and not yet fixed in src/, excluded by check name (and detail), on
 * the storage named (or every storage). Every entry names the repro (seed and step) and the
 * suspected cause. Keep this list empty.
 */
// The last entries: an interrupted commit of bytes that had no checkpoint yet (GET said 0-0 after the
// restart), fixed by the commit record (uploads/commit.ts, pinned by test/uploads/interrupted-commit);
// on S3, a multipart upload a killed writer created but never recorded, which commit left behind,
// fixed by commit aborting every multipart upload at the data key (pinned by test/storage/s3-upload-writer).
export const KNOWN_ISSUES: readonly { readonly storage?: CrashStorage['name']; readonly check: string; readonly detail?: RegExp; readonly note: string }[] = [];

interface KillPlan {
  readonly target: OpKind | 'any';
  readonly nth: number;
  readonly when: 'after-start' | 'after-response';
  readonly delayMs: number;
  readonly text: string;
}

/**
 * Where to kill: the nth request of a kind (PATCH with Content-Range, streamed PATCH, PUT
 * ?digest=, POST ?digest=, manifest PUT, DELETE, or any), either 0–30 ms after it starts (mid-body,
 * between the data write and the checkpoint, mid-commit...) or the instant its response arrives.
 */
function planKill(prng: Prng): KillPlan {
  const target = prng.weighted({ patch: 5, stream: 3, commit: 4, monolithic: 2, manifest: 3, delete: 2, any: 1 });
  const when = prng.chance(0.25) ? 'after-response' : 'after-start';
  const nth = prng.int(1, target === 'delete' || target === 'stream' ? 2 : 4);
  const delayMs = when === 'after-start' ? Math.round(prng.float() * 300) / 10 : 0;
  const text = when === 'after-start' ? `${delayMs} ms after the start of ${target} #${nth}` : `on the response to ${target} #${nth}`;
  return { target, nth, when, delayMs, text };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

type Hooks = { after: (fn: () => Promise<void> | void) => void };

export interface CrashRun {
  /** Made once the run has a temp directory: the storage the child serves (cleaned up at the end). */
  readonly storage: (dir: string) => CrashStorage;
  /** Kills when QUAYSIDE_KILL_POINTS is not set. */
  readonly killPoints: number;
  /** How to replay a seed: the `npm test --` filter of the calling file. */
  readonly replay: string;
}

/**
 * The whole run: build, serve, `killPoints` kills each followed by a restart and verify.ts's checks;
 * fails with every invariant failure (seed, step, kill point, check).
 */
export async function runCrash(t: Hooks, run: CrashRun): Promise<void> {
  const KILL_POINTS = Number(process.env['QUAYSIDE_KILL_POINTS'] ?? run.killPoints);
  const seed = process.env['QUAYSIDE_KILL_SEED'] !== undefined ? Number(process.env['QUAYSIDE_KILL_SEED']) >>> 0 : randomInt(2 ** 31);
  const began = performance.now();
  const dir = await mkdtemp(join(tmpdir(), 'quayside-crash-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const storage = run.storage(join(dir, 'root'));
  const tag = storage.name === 'filesystem' ? 'crash' : `crash (${storage.name})`;
  console.log(`${tag}: seed ${seed} (replay: QUAYSIDE_KILL_SEED=${seed} npm test -- ${run.replay})`);
  let server: QuaysideProcess | undefined;
  t.after(async () => {
    // The child first (a run that failed half-way left it up): nothing may write while we clean.
    if (server !== undefined) {
      server.kill();
      await server.exited;
    }
    const note = await storage.cleanUp();
    if (note !== undefined) console.log(`${tag}: clean-up: ${note}`);
  });
  const build = await buildQuayside(t);
  const config = join(dir, 'config.yml');
  await writeFile(config, ['version: 0.1', 'log:', '  level: info', 'storage:', ...storage.yaml, ''].join('\n'));

  const world = new World(seed, LANES);
  const stats = newStats();
  const failures: Failure[] = [];
  const log: ServerLog = { errors: [] };
  const blobCache = new Map<string, string>();
  let loggedErrors = 0;
  const seen = (step: number, plan: () => string) => (reply: Reply) => {
    if (reply.status < 500) return;
    stats.fiveHundreds++;
    failures.push({ step, plan: plan(), check: '5xx', detail: describeReply(reply) });
  };
  server = await startQuayside(t, build, config, log);

  for (let step = 0; step < KILL_POINTS; step++) {
    const plan = planKill(new Prng(derive(seed, 'kill', step)));
    let down = false;
    let firedBy = plan.text;
    let count = 0;
    let onKilled: () => void = () => undefined;
    const killed = new Promise<void>((resolve) => (onKilled = resolve));
    const victim = server;
    const kill = (why: string): void => {
      if (down) return;
      down = true; // before the signal: a request failing from here on is the kill's doing
      firedBy = why;
      victim.kill();
      if (process.env['QUAYSIDE_KILL_TRACE']) appendFileSync(process.env['QUAYSIDE_KILL_TRACE'], `KILL step ${step} pid ${victim.pid}: ${why}\n`);
      stats.kills++;
      onKilled();
    };
    const fallback = setTimeout(() => kill(`${plan.text}: never came, killed after ${FALLBACK_MS} ms`), FALLBACK_MS);
    const hit = (kind: OpKind): boolean => (plan.target === 'any' || plan.target === kind) && ++count === plan.nth;
    const ch: Channel = {
      base: server.url,
      isDown: () => down,
      started: (kind) => {
        if (plan.when === 'after-start' && hit(kind)) setTimeout(() => kill(plan.text), plan.delayMs);
      },
      responded: (kind) => {
        if (plan.when === 'after-response' && hit(kind)) kill(plan.text);
      },
      seen: seen(step, () => firedBy),
    };
    const fail = (check: string, detail: string): void => {
      failures.push({ step, plan: firedBy, check, detail });
    };
    const ctx: EpochContext = { ch, world, stats, fail };
    const lanes = world.lanes.map((lane) => runLane(ctx, lane, new Prng(derive(seed, 'lane', lane.index, step))));
    await killed;
    clearTimeout(fallback);
    await withTimeout(Promise.all(lanes), 15_000, `step ${step}: lanes still running 15 s after the kill`);
    await victim.exited;

    server = await startQuayside(t, build, config, log);
    const verifyChannel: Channel = { base: server.url, isDown: () => false, seen: seen(step, () => `${firedBy} (restart checks)`) };
    await verifyAfterRestart(
      { ch: verifyChannel, world, stats, storage, step, prng: new Prng(derive(seed, 'verify', step)), final: step === KILL_POINTS - 1, fail },
      blobCache,
    );
    for (const line of log.errors.slice(loggedErrors)) fail('server-error-logged', line);
    loggedErrors = log.errors.length;
    // The final sweep finished or lost every upload: nothing may be left of any of them.
    if (step === KILL_POINTS - 1 && world.lanes.every((lane) => lane.uploads.size === 0)) {
      const { leaked, kept } = await storage.leftovers();
      for (const leftover of leaked) fail('multipart-upload-leaked', leftover);
      stats.uploadsKeptForPurge = kept;
    }
  }
  server.kill();
  await server.exited;

  const seconds = ((performance.now() - began) / 1000).toFixed(1);
  console.log(
    `${tag}: seed ${seed}, kill points ${stats.kills}, acknowledged objects verified ${stats.verifiedObjects.size} (${stats.checks} checks), ` +
      `uploads resumed ${stats.resumed}, uploads gone ${stats.gone}, 5xx ${stats.fiveHundreds} (server log ${log.errors.length}), ${seconds} s`,
  );
  const list = (m: Map<string, number>): string => [...m].map(([k, v]) => `${k} ${v}`).join(', ');
  console.log(
    `${tag}: cut short by kills: ${list(stats.cutShort)}; open uploads found: ${list(stats.uploadStates)}; ` +
      `uncertain blobs/manifests found present ${stats.uncertainFoundPresent}, absent ${stats.uncertainFoundAbsent}; uploads gone unprompted ${stats.goneUnexplained}; temp files left in blobs/ ${stats.leftoverTemps}` +
        (storage.name === 's3' ? `; unknown uploads' multipart uploads left for the purge ${stats.uploadsKeptForPurge}` : ''),
  );

  const known = (f: Failure): boolean =>
    KNOWN_ISSUES.some((k) => (k.storage === undefined || k.storage === storage.name) && k.check === f.check && (k.detail === undefined || k.detail.test(f.detail)));
  const excluded = failures.filter(known);
  if (excluded.length > 0) console.log(`${tag}: ${excluded.length} failure(s) excluded as KNOWN_ISSUES: ${[...new Set(excluded.map((f) => f.check))].join(', ')}`);
  for (const f of excluded) console.log(`${tag}: known: step ${f.step} [${f.plan}] ${f.check}: ${f.detail}`);
  const real = failures.filter((f) => !known(f));
  const report = real.slice(0, 20).map((f) => `  ${storage.name} seed ${seed} step ${f.step} [${f.plan}] ${f.check}: ${f.detail}`);
  assert.equal(real.length, 0, `${real.length} crash invariant failure(s) (QUAYSIDE_KILL_SEED=${seed}):\n${report.join('\n')}`);
  assert.ok(stats.kills >= KILL_POINTS, `only ${stats.kills} kill points`);
}
