import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Event } from '../../src/notifications/event.ts';
import { buildQuayside, startQuayside, type ServerLog } from '../crash/quayside-process.ts';
import { pushBlob, pushImage } from '../helpers/oci-client.ts';
import { Receiver, waitFor } from './receiver.ts';

function deduplicated(events: readonly Event[]): Event[] {
  const seen = new Set<string>();
  return events.filter((e) => !seen.has(e.id) && seen.add(e.id) !== undefined);
}

/** A config.yml (JSON is YAML) for a real `quayside serve` with one endpoint at `url`. */
async function writeConfig(dir: string, url: string): Promise<string> {
  const file = join(dir, 'config.yml');
  await writeFile(file, JSON.stringify({
    version: 0.1,
    log: { level: 'info' },
    storage: { filesystem: { rootdirectory: join(dir, 'root') } },
    notifications: { endpoints: [{ name: 'ci', url, timeout: '5s', threshold: 3, backoff: '100ms' }] },
    quayside: { notifications: { instanceid: 'crash-test' } },
  }));
  return file;
}

test('notifications crash: SIGKILL between the 201 and the delivery (the POST in flight) → after the restart every event arrives, in order', async (t) => {
  const build = await buildQuayside(t);
  const dir = await mkdtemp(join(tmpdir(), 'quayside-notify-crash-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const receiver = await Receiver.start(t);
  receiver.hang = true;
  const config = await writeConfig(dir, receiver.url);
  const log: ServerLog = { errors: [] };

  const first = await startQuayside(t, build, config, log);
  const image = await pushImage(first.url, 'crash/app', 'v1', ['layer']);
  // The first event's POST has reached the receiver, which does not answer: delivery is under way.
  await waitFor(() => receiver.attempts >= 1, 30_000, () => 'no POST reached the receiver');
  first.kill();
  await first.exited;
  assert.equal(receiver.deliveries.length, 0, 'nothing was delivered before the kill');

  receiver.hang = false;
  const second = await startQuayside(t, build, config, log);
  await waitFor(() => deduplicated(receiver.events).length >= 3, 30_000, () => `got ${receiver.events.length} events`);
  const events = deduplicated(receiver.events);
  assert.equal(events.length, 3);
  assert.deepEqual(events.map((e) => e.action), ['push', 'push', 'push']);
  assert.equal(events[2]?.target.digest, image.digest);
  assert.equal(events[2]?.target.tag, 'v1');
  assert.deepEqual(log.errors, []);
  // Stopped here, not in an after() hook: those run in order, and the root's removal comes first.
  second.kill();
  await second.exited;
});

test('notifications crash: 8 pushes, each followed at once by SIGKILL and a restart → all 8 events arrive, in order, none lost', async (t) => {
  const build = await buildQuayside(t);
  const dir = await mkdtemp(join(tmpdir(), 'quayside-notify-crash-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const receiver = await Receiver.start(t);
  const config = await writeConfig(dir, receiver.url);
  const log: ServerLog = { errors: [] };
  const pushed: string[] = [];
  for (let round = 0; round < 8; round++) {
    const server = await startQuayside(t, build, config, log);
    pushed.push(await pushBlob(server.url, 'crash/loop', `round ${round}`));
    // Killed the moment the 201 is read: the event may or may not have gone out yet.
    server.kill();
    await server.exited;
  }
  const last = await startQuayside(t, build, config, log);
  await waitFor(() => deduplicated(receiver.events).length >= pushed.length, 30_000, () => `got ${deduplicated(receiver.events).length} of ${pushed.length}`);
  assert.deepEqual(deduplicated(receiver.events).map((e) => e.target.digest), pushed);
  // At-least-once: a kill between a POST and its cursor write repeats the event, with its id.
  t.diagnostic(`deliveries ${receiver.events.length} for ${pushed.length} events`);
  assert.deepEqual(log.errors, []);
  last.kill();
  await last.exited;
});
