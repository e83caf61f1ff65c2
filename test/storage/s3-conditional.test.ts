import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { S3Error } from '../../src/storage/s3/client.ts';
import { probeConditionalWrites } from '../../src/storage/s3/probe.ts';
import { makeS3Driver, s3Unavailable } from '../helpers/s3.ts';

// What the S3 service here honours of conditional PutObject: src/storage/s3/upload-state.ts is
// built on these answers (its header comment records them), so they are tested, not assumed.

describe('s3 conditional PutObject (the upload state depends on it)', { skip: s3Unavailable }, () => {
  test('the start-up probe finds both conditions honoured here, and leaves nothing behind', async (t) => {
    const driver = await makeS3Driver(t);
    assert.deepEqual(await probeConditionalWrites(driver), { ifNoneMatch: true, ifMatch: true });
    assert.deepEqual(await driver.list('/quayside/probe'), []);
  });

  test('If-None-Match: * creates a missing key and refuses an existing one (412)', async (t) => {
    const driver = await makeS3Driver(t);
    const key = driver.layout.key('/cond/create');
    const first = await driver.client.putObjectIf(key, Buffer.from('one'), { ifNoneMatch: '*' });
    assert.notEqual(first, 'precondition-failed');
    assert.equal(await driver.client.putObjectIf(key, Buffer.from('two'), { ifNoneMatch: '*' }), 'precondition-failed');
    assert.equal((await driver.client.getSmallObject(key))?.body.toString(), 'one');
  });

  test('If-Match: <etag> replaces only that version; a changed or missing key is refused (412)', async (t) => {
    const driver = await makeS3Driver(t);
    const key = driver.layout.key('/cond/replace');
    await driver.client.putObject(key, Buffer.from('v1'));
    const v1 = await driver.client.getSmallObject(key);
    assert.ok(v1 !== undefined && v1.etag !== '');
    const v2 = await driver.client.putObjectIf(key, Buffer.from('v2'), { ifMatch: v1.etag });
    assert.ok(v2 !== 'precondition-failed', 'If-Match on the current ETag must replace');
    assert.equal(await driver.client.putObjectIf(key, Buffer.from('v3'), { ifMatch: v1.etag }), 'precondition-failed', 'If-Match on a replaced ETag must be refused');
    assert.equal((await driver.client.getSmallObject(key))?.body.toString(), 'v2');
    assert.equal(await driver.client.putObjectIf(driver.layout.key('/cond/missing'), Buffer.from('x'), { ifMatch: v1.etag }), 'precondition-failed', 'If-Match on a missing key must be refused');
    assert.equal(await driver.client.getSmallObject(driver.layout.key('/cond/missing')), undefined);
    // The ETag a conditional PUT returns is the one the next GET sees (the CAS chain relies on it).
    assert.equal((await driver.client.getSmallObject(key))?.etag, v2.etag);
  });

  test('If-Match under contention: of 12 concurrent replacements of one version, exactly one wins (losers: 412 or 500)', async (t) => {
    const driver = await makeS3Driver(t);
    const key = driver.layout.key('/cond/race');
    for (let round = 0; round < 5; round++) {
      await driver.client.putObject(key, Buffer.from(`base-${round}`));
      const base = await driver.client.getSmallObject(key);
      assert.ok(base !== undefined);
      const bodies = Array.from({ length: 12 }, () => randomBytes(32));
      // RGW 16.2 refuses some losers with 412 and others with 500 UnknownError (its log: op
      // status=-125, ECANCELED from the RADOS guard): a loser is either; only one may succeed.
      const results = await Promise.all(bodies.map((body) => driver.client.putObjectIf(key, body, { ifMatch: base.etag }).catch((err: unknown) => {
        if (err instanceof S3Error && err.status === 500) return 'lost-with-500' as const;
        throw err;
      })));
      const winners = results.flatMap((r, i) => (typeof r === 'string' ? [] : [i]));
      assert.equal(winners.length, 1, `round ${round}: ${winners.length} winners`);
      const stored = await driver.client.getSmallObject(key);
      assert.deepEqual(stored?.body, bodies[winners[0] as number]);
    }
  });

  test('If-None-Match: * under contention: of 12 concurrent creations, exactly one wins', async (t) => {
    const driver = await makeS3Driver(t);
    for (let round = 0; round < 5; round++) {
      const key = driver.layout.key(`/cond/create-race-${round}`);
      const results = await Promise.all(Array.from({ length: 12 }, () => driver.client.putObjectIf(key, randomBytes(32), { ifNoneMatch: '*' })));
      assert.equal(results.filter((r) => r !== 'precondition-failed').length, 1, `round ${round}`);
    }
  });
});
