/**
 * What sending upload parts costs the event loop, signed (SigV4 hashes the body: the default of
 * aws4 for s3) against UNSIGNED-PAYLOAD (what src/storage/s3/client.ts sends for parts and
 * tails), interleaved rounds on one RGW. CPU is this process's (user + system) per GiB sent.
 *
 *   node --import tsx bench/micro/s3-part-cost.ts [--parts 32] [--rounds 3]
 *
 * Uses the RGW of S3_* when set, else starts one with scripts/s3-ceph.sh (bench/lib/s3.ts).
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { S3Driver } from '../../src/storage/s3/driver.ts';
import { acquireS3 } from '../lib/s3.ts';

const { values } = parseArgs({ options: { parts: { type: 'string', default: '32' }, rounds: { type: 'string', default: '3' } } });
const PART = 10 * 1024 * 1024;
const parts = Number(values.parts);
const service = await acquireS3((text) => console.log(text));
const driver = new S3Driver({ ...service.params, rootdirectory: `/bench-part-cost-${randomBytes(4).toString('hex')}` });
const body = randomBytes(PART);

async function round(signed: boolean): Promise<{ cpuPerGiB: number; mibPerSec: number }> {
  const key = driver.layout.key('/part-cost');
  const uploadId = await driver.client.createMultipartUpload(key);
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let n = 1; n <= parts; n++) {
    // The signed path is the client's own request with the body hash left to aws4.
    if (signed) await driver.client.uploadPartSigned(key, uploadId, n, body);
    else await driver.client.uploadPart(key, uploadId, n, body);
  }
  const used = process.cpuUsage(cpu);
  const seconds = (performance.now() - started) / 1000;
  await driver.client.abortMultipartUpload(key, uploadId);
  const gib = (parts * PART) / 2 ** 30;
  return { cpuPerGiB: (used.user + used.system) / 1e6 / gib, mibPerSec: (parts * PART) / 2 ** 20 / seconds };
}

try {
  for (let r = 1; r <= Number(values.rounds); r++) {
    for (const signed of [true, false]) {
      const result = await round(signed);
      console.log(`round ${r} ${signed ? 'signed payload  ' : 'UNSIGNED-PAYLOAD'}: ${result.cpuPerGiB.toFixed(2)} CPU-s/GiB on the event loop, ${result.mibPerSec.toFixed(0)} MiB/s`);
    }
  }
} finally {
  driver.close();
  await service.release();
}
