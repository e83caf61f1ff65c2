import { test } from 'node:test';
import { runCrash } from '../crash/run.ts';
import { s3Storage } from '../crash/storage.ts';
import { freshRoot, s3TestParams, s3Unavailable } from '../helpers/s3.ts';

/*
 * The SIGKILL crash run of test/crash/kill.test.ts against Ceph RGW (issue 10): the built CLI
 * serves a distribution-style `storage.s3` section on a fresh rootdirectory, and verify.ts reads
 * the blobs through an S3Driver and each open upload's progress from its state object
 * (`_uploads/<id>/state`: offset, committing). Parts are 5 MiB (S3's least), so the few blobs of
 * 4–6 MiB cross a part boundary and a kill can land between UploadPart and the state's CAS.
 * 15 kill points by default (about a minute on 2 cores); QUAYSIDE_KILL_POINTS overrides. The
 * rootdirectory (and any multipart upload left open) is removed afterwards.
 */
const MiB = 1024 * 1024;

test('s3 crash: SIGKILL at random points of parallel pushes, manifest PUTs and deletes on RGW; each restart honours every acknowledgement', { skip: s3Unavailable }, async (t) => {
  await runCrash(t, { storage: () => s3Storage(s3TestParams(freshRoot(), { chunksize: 5 * MiB })), killPoints: 15, replay: 's3/crash' });
});
