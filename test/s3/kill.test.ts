import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { S3Params } from '../../src/storage/s3/params.ts';
import { buildQuayside, startQuayside } from '../crash/quayside-process.ts';
import { expectStatus } from '../helpers/assertions.ts';
import { patchChunk, putUpload, send, sha256, startUpload } from '../helpers/oci-client.ts';
import { startS3Registry } from '../helpers/s3-registry.ts';
import { freshRoot, s3TestParams, s3Unavailable } from '../helpers/s3.ts';

/*
 * The built CLI on S3 (`quayside serve` with a distribution-style storage.s3 config), killed with
 * SIGKILL in the middle of a streamed PATCH: the other replica reports exactly the acknowledged
 * bytes and the upload goes on there (issue 10).
 */
const skip = s3Unavailable;
const MiB = 1024 * 1024;

function s3Yaml(s3: S3Params): string {
  const lines = ['version: 0.1', 'log:', '  level: info', 'storage:', '  s3:'];
  for (const [key, value] of Object.entries(s3)) if (value !== undefined) lines.push(`    ${key}: ${JSON.stringify(value)}`);
  lines.push('  redirect:', '    disable: true', '  delete:', '    enabled: true', '');
  return lines.join('\n');
}

async function configFile(t: { after: (fn: () => Promise<void>) => void }, s3: S3Params): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'quayside-s3-kill-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.yml');
  await writeFile(file, s3Yaml(s3));
  return file;
}

test('s3: SIGKILL replica A in the middle of a streamed PATCH; replica B reports the acknowledged bytes and the upload is finished on B', { skip }, async (t) => {
  const b = await startS3Registry(t, { s3: { chunksize: 5 * MiB } });
  const build = await buildQuayside(t);
  const log = { errors: [] as string[] };
  const a = await startQuayside(t, build, await configFile(t, { ...b.s3, chunksize: 5 * MiB }), log);
  const bytes = randomBytes(24 * MiB + 333);
  const location = await startUpload(a.url, 'kill/s3');
  const acknowledged = 7 * MiB + 1; // a whole part on S3 and a tail
  expectStatus(await patchChunk(a.url, location, bytes.subarray(0, acknowledged), 0), 202);

  // A streamed PATCH (no length, no range): 12 MiB go out, then A is killed while more is due.
  const { url } = a;
  const patch = request(`${url}${location}`, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' } });
  const answered = new Promise<number | 'cut'>((resolve) => {
    patch.once('response', (res) => resolve(res.statusCode ?? 0));
    patch.once('error', () => resolve('cut'));
  });
  for (let at = acknowledged; at < acknowledged + 12 * MiB; at += MiB) {
    if (!patch.write(bytes.subarray(at, at + MiB))) await new Promise((resolve) => patch.once('drain', resolve));
  }
  await sleep(300);
  a.kill();
  await a.exited;
  assert.equal(await answered, 'cut', 'the killed replica never answered the PATCH');

  const status = await send(b.url, location);
  expectStatus(status, 204);
  assert.equal(status.headers.get('range'), `0-${acknowledged - 1}`, 'exactly the acknowledged bytes: nothing of the unanswered PATCH, nothing lost');
  expectStatus(await patchChunk(b.url, location, bytes.subarray(acknowledged), acknowledged), 202);
  expectStatus(await putUpload(b.url, location, sha256(bytes)), 201);
  assert.equal(sha256((await send(b.url, `/v2/kill/s3/blobs/${sha256(bytes)}`)).body), sha256(bytes));
  assert.deepEqual(log.errors, []);
});

test('s3: `quayside serve` on a bucket that does not exist stops at start-up with S3\'s reason in one line', { skip }, async (t) => {
  const build = await buildQuayside(t);
  const file = await configFile(t, s3TestParams(freshRoot(), { bucket: 'quayside-no-such-bucket' }));
  const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = execFile(process.execPath, [build.cli, 'serve', file], { env: { ...process.env, REGISTRY_HTTP_ADDR: '127.0.0.1:0' }, timeout: 20_000 }, (_err, _stdout, stderr) => resolve({ code: child.exitCode, stderr }));
  });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^quayside: cannot open storage \(s3 bucket=quayside-no-such-bucket [^\n]*\): S3 HeadBucket: NoSuchBucket[^\n]*\n$/);
  assert.ok(!result.stderr.includes(s3TestParams('/').secretkey ?? 'never'), 'the secret key is never printed');
});
