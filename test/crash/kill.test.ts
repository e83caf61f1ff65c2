import { test } from 'node:test';
import { runCrash } from './run.ts';
import { filesystemStorage } from './storage.ts';

/*
 * Crash safety under SIGKILL on a filesystem root: 50 kill points of parallel pushes, manifest
 * PUTs and deletes (run.ts), each restart checked against every acknowledgement (verify.ts).
 * The same run on S3: test/s3/crash.test.ts.
 */
test('crash: SIGKILL at random points of parallel pushes, manifest PUTs and deletes; each restart honours every acknowledgement', async (t) => {
  await runCrash(t, { storage: filesystemStorage, killPoints: 50, replay: 'crash/kill' });
});
