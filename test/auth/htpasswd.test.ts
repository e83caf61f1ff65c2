import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { bcrypt } from 'hash-wasm';
import { parseHtpasswd } from '../../src/auth/htpasswd.ts';
import { expectError, expectHeader, expectStatus, type Reply } from '../helpers/assertions.ts';
import { send, sha256 } from '../helpers/oci-client.ts';
import { startRegistry } from '../helpers/registry.ts';

/** htpasswd text as `htpasswd -B` writes it ($2y$ bcrypt), with lines of other kinds that are skipped. */
async function htpasswdText(users: Record<string, string>, costFactor = 5): Promise<string> {
  const lines = ['# users'];
  for (const [user, password] of Object.entries(users)) {
    const hash = await bcrypt({ password, salt: randomBytes(16), costFactor });
    lines.push(`${user}:${hash.replace(/^\$2[ab]\$/, '$2y$')}`);
  }
  return `${lines.join('\n')}\nbroken line\nmd5user:$apr1$abc$def\n`;
}

/** An htpasswd file of `users` in a fresh temp directory. */
async function htpasswdFile(t: { after: (fn: () => Promise<void>) => void }, users: Record<string, string>, costFactor = 5): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'quayside-htpasswd-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'htpasswd');
  await writeFile(file, await htpasswdText(users, costFactor));
  return file;
}

const basic = (user: string, password: string): Record<string, string> => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

test('auth.htpasswd: no credentials → 401 UNAUTHORIZED with a Basic challenge, on /v2/ and every route', async (t) => {
  const path = await htpasswdFile(t, { alice: 's3cret' });
  const { url } = await startRegistry(t, { config: { auth: { htpasswd: { realm: 'Quayside Test', path } } } });
  for (const [method, route] of [['GET', '/v2/'], ['GET', '/v2/_catalog'], ['GET', '/v2/a/tags/list'], ['POST', '/v2/a/blobs/uploads/'], ['HEAD', `/v2/a/blobs/${sha256('x')}`]] as const) {
    const reply = await send(url, route, { method });
    expectError(reply, 401, 'UNAUTHORIZED');
    expectHeader(reply, 'www-authenticate', 'Basic realm="Quayside Test"');
  }
  for (const headers of [basic('alice', 'wrong'), basic('bob', 's3cret'), { authorization: 'Basic !!!' }, { authorization: 'Bearer x' }]) {
    expectError(await send(url, '/v2/', { headers }), 401, 'UNAUTHORIZED');
  }
});

test('auth.htpasswd: the right password gets through everything, a push included', async (t) => {
  const path = await htpasswdFile(t, { alice: 's3cret', carol: 'pa:ss' });
  const { url } = await startRegistry(t, { config: { auth: { htpasswd: { realm: 'r', path } } } });
  const headers = basic('alice', 's3cret');
  expectStatus(await send(url, '/v2/', { headers }), 200);
  const body = Buffer.from('layer');
  const pushed = await send(url, `/v2/team/app/blobs/uploads/?digest=${sha256(body)}`, { method: 'POST', headers: { ...headers, 'content-length': body.length }, body });
  expectStatus(pushed, 201);
  expectStatus(await send(url, `/v2/team/app/blobs/${sha256(body)}`, { headers }), 200);
  // A password may contain ':' (only the first one separates the user).
  expectStatus(await send(url, '/v2/', { headers: basic('carol', 'pa:ss') }), 200);
});

/** Asks `/v2/` as `user` until the status is `status` (the file is looked at again once a second): the replies on the way. */
async function statusBecomes(url: string, user: string, password: string, status: number, timeoutMs = 15_000): Promise<number[]> {
  const seen: number[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reply = await send(url, '/v2/', { headers: basic(user, password) });
    seen.push(reply.status);
    if (reply.status === status) return seen;
    assert.ok(Date.now() < deadline, `${user}: expected ${status}, got ${seen.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('auth.htpasswd: the file is read again when it changes, as distribution does: a user added, a password changed and a user removed take effect without a restart, cached outcomes included', async (t) => {
  const path = await htpasswdFile(t, { alice: 'old', bob: 'bobs' });
  const { url } = await startRegistry(t, { config: { auth: { htpasswd: { realm: 'r', path } } } });
  // Both outcomes cached before the change: alice's right password and carol's unknown user.
  expectStatus(await send(url, '/v2/', { headers: basic('alice', 'old') }), 200);
  expectStatus(await send(url, '/v2/', { headers: basic('bob', 'bobs') }), 200);
  expectError(await send(url, '/v2/', { headers: basic('carol', 'new') }), 401, 'UNAUTHORIZED');

  // Rewritten in place (truncate and write, as `htpasswd -B file user` does).
  await writeFile(path, await htpasswdText({ alice: 'changed', bob: 'bobs', carol: 'new' }));
  const carol = await statusBecomes(url, 'carol', 'new', 200);
  assert.ok(carol.slice(0, -1).every((status) => status === 401), `carol before the reload: ${carol.join(', ')}`);
  expectError(await send(url, '/v2/', { headers: basic('alice', 'old') }), 401, 'UNAUTHORIZED');
  expectStatus(await send(url, '/v2/', { headers: basic('alice', 'changed') }), 200);
  expectStatus(await send(url, '/v2/', { headers: basic('bob', 'bobs') }), 200);

  // Replaced by rename (an atomic writer): bob is gone, his cached success with him.
  await writeFile(`${path}.new`, await htpasswdText({ alice: 'changed', carol: 'new' }));
  await rename(`${path}.new`, path);
  await statusBecomes(url, 'bob', 'bobs', 401);
  expectStatus(await send(url, '/v2/', { headers: basic('alice', 'changed') }), 200);
});

test('auth.htpasswd: a file that disappears admits nobody (fail closed), and its users are back once it is', async (t) => {
  const path = await htpasswdFile(t, { alice: 's3cret' });
  const { url } = await startRegistry(t, { config: { auth: { htpasswd: { realm: 'r', path } } } });
  expectStatus(await send(url, '/v2/', { headers: basic('alice', 's3cret') }), 200);
  const text = await htpasswdText({ alice: 's3cret' });
  await rm(path);
  await statusBecomes(url, 'alice', 's3cret', 401);
  const refused = await send(url, '/v2/_catalog', { headers: basic('alice', 's3cret') });
  expectError(refused, 401, 'UNAUTHORIZED');
  expectHeader(refused, 'www-authenticate', 'Basic realm="r"');
  await writeFile(path, text);
  await statusBecomes(url, 'alice', 's3cret', 200);
});

test('parseHtpasswd: bcrypt entries only; comments, blanks and other hash kinds skipped', () => {
  const users = parseHtpasswd('# c\n\nalice:$2y$05$abcdefghijklmnopqrstuu5Qz6Y8m2v6V1eS4o7a0i8m0i8m0i8m0\nbob:{SHA}xyz\ncarol:$apr1$x$y\nnocolon\n');
  assert.deepEqual([...users.keys()], ['alice']);
});

test('auth.htpasswd: outcomes are cached per user and password — a wrong password after the right one is refused, the right one after wrong ones accepted', async (t) => {
  const path = await htpasswdFile(t, { alice: 's3cret', bob: 'other' });
  const { url } = await startRegistry(t, { config: { auth: { htpasswd: { realm: 'r', path } } } });
  for (let round = 0; round < 2; round++) {
    expectStatus(await send(url, '/v2/', { headers: basic('alice', 's3cret') }), 200);
    expectError(await send(url, '/v2/', { headers: basic('alice', 's3cret ') }), 401, 'UNAUTHORIZED');
    expectError(await send(url, '/v2/', { headers: basic('alice', 'S3cret') }), 401, 'UNAUTHORIZED');
    expectError(await send(url, '/v2/', { headers: basic('bob', 's3cret') }), 401, 'UNAUTHORIZED');
    expectStatus(await send(url, '/v2/', { headers: basic('bob', 'other') }), 200);
  }
});

/** Requests sent at once; `done` counts the replies so far. */
function flood(url: string, passwords: readonly string[]): { replies: Promise<Reply[]>; first: Promise<unknown>; done: () => number } {
  let done = 0;
  const pending = passwords.map((password) =>
    send(url, '/v2/', { headers: basic('alice', password) }).then((reply) => {
      done++;
      return reply;
    }),
  );
  return { replies: Promise.all(pending), first: Promise.race(pending), done: () => done };
}

test('auth.htpasswd: while a flood of wrong passwords is in flight, an authorized blob GET and the anonymous /v2/ 401 still answer (issue 9)', async (t) => {
  // Cost 10: each compare is tens of ms, as in a real htpasswd file.
  const path = await htpasswdFile(t, { alice: 's3cret' }, 10);
  const { url } = await startRegistry(t, { config: { auth: { htpasswd: { realm: 'r', path } } } });
  const headers = basic('alice', 's3cret');
  const layer = Buffer.from('a layer read during the flood');
  const digest = sha256(layer);
  expectStatus(await send(url, `/v2/team/app/blobs/uploads/?digest=${digest}`, { method: 'POST', headers: { ...headers, 'content-length': layer.length }, body: layer }), 201);
  const attack = flood(url, Array.from({ length: 48 }, (_, i) => `wrong-${i}`));
  await attack.first;
  const [authorized, anonymous] = await Promise.all([send(url, `/v2/team/app/blobs/${digest}`, { headers }), send(url, '/v2/')]);
  const doneWhenAnswered = attack.done();
  expectStatus(authorized, 200);
  assert.deepEqual(authorized.body, layer);
  expectError(anonymous, 401, 'UNAUTHORIZED');
  const replies = await attack.replies;
  assert.ok(doneWhenAnswered < replies.length, `the flood was over (${doneWhenAnswered} of ${replies.length} answered) before the authorized GET was`);
  // Every wrong password is refused: 401, or 429 (code-14) when too many checks already wait.
  for (const reply of replies) {
    if (reply.status === 429) {
      expectError(reply, 429, 'TOOMANYREQUESTS');
      expectHeader(reply, 'retry-after', '1');
    } else expectError(reply, 401, 'UNAUTHORIZED');
  }
  expectStatus(await send(url, '/v2/', { headers }), 200);
});

test('auth.htpasswd: a repeated wrong password costs one bcrypt compare — 48 at once are all refused with 401, none turned away with 429', async (t) => {
  const path = await htpasswdFile(t, { alice: 's3cret' }, 10);
  const { url } = await startRegistry(t, { config: { auth: { htpasswd: { realm: 'r', path } } } });
  const replies = await flood(url, Array.from({ length: 48 }, () => 'always-the-same')).replies;
  for (const reply of replies) expectError(reply, 401, 'UNAUTHORIZED');
  expectStatus(await send(url, '/v2/', { headers: basic('alice', 's3cret') }), 200);
});
