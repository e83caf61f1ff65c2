/**
 * What sending upload parts costs the event loop, signed (SigV4 hashes the body: the default of
 * aws4 for s3) against UNSIGNED-PAYLOAD (what src/storage/s3/client.ts sends for parts and
 * tails), interleaved rounds on one RGW. CPU is this process's (user + system, every thread) per
 * GiB sent; `loop` is the main thread's busy time per GiB (event loop utilization).
 *
 * Issue 10 asks which is cheaper: bytes leaving for S3 from the event loop (what Quayside does:
 * the worker hashes the same batches) or from a worker. The third variant sends UNSIGNED-PAYLOAD
 * parts from a worker thread, each part handed over as a transferred ArrayBuffer, as a batch
 * would be.
 *
 *   node --import tsx bench/micro/s3-part-cost.ts [--parts 32] [--rounds 3]
 *
 * Uses the RGW of S3_* when set, else starts one with scripts/s3-ceph.sh (bench/lib/s3.ts).
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { S3Driver } from '../../src/storage/s3/driver.ts';
import type { S3Params } from '../../src/storage/s3/params.ts';
import { acquireS3 } from '../lib/s3.ts';

type Variant = 'signed' | 'unsigned' | 'unsigned-worker';
const LABEL: Readonly<Record<Variant, string>> = { signed: 'signed payload, event loop  ', unsigned: 'UNSIGNED-PAYLOAD, event loop', 'unsigned-worker': 'UNSIGNED-PAYLOAD, worker    ' };

interface PartMessage {
  readonly partNumber: number;
  readonly bytes: ArrayBuffer;
}

/** The worker: sends each part it is handed with its own S3 client, answers with the part number. */
async function serveParts(params: S3Params, key: string, uploadId: string): Promise<void> {
  const driver = new S3Driver(params);
  parentPort?.on('message', (message: PartMessage | 'close') => {
    if (message === 'close') {
      driver.close();
      parentPort?.close();
      return;
    }
    void driver.client.uploadPart(key, uploadId, message.partNumber, Buffer.from(message.bytes)).then(() => parentPort?.postMessage(message.partNumber));
  });
  // Loaded and listening: the worker's start (tsx compiling this file) is not part of the figure.
  parentPort?.postMessage('ready');
}

if (!isMainThread) {
  const { params, key, uploadId } = workerData as { params: S3Params; key: string; uploadId: string };
  await serveParts(params, key, uploadId);
}

if (!isMainThread) await new Promise<never>(() => undefined);
const { values } = parseArgs({ options: { parts: { type: 'string', default: '32' }, rounds: { type: 'string', default: '3' } } });
const PART = 10 * 1024 * 1024;
const parts = Number(values.parts);
const service = await acquireS3((text) => console.log(text));
const params: S3Params = { ...service.params, rootdirectory: `/bench-part-cost-${randomBytes(4).toString('hex')}` };
const driver = new S3Driver(params);
const body = randomBytes(PART);

/** A worker thread running this file under tsx (a worker cannot load a .ts entry itself: STYLE §6.2). */
function startWorker(params: S3Params, key: string, uploadId: string): Worker {
  const entry = new URL(import.meta.url).href;
  return new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); })`, { eval: true, workerData: { params, key, uploadId } });
}

/** Sends the parts from a worker: the main thread only copies each into a transferable buffer. */
async function sendFromWorker(worker: Worker): Promise<void> {
  for (let n = 1; n <= parts; n++) {
    const bytes = new ArrayBuffer(PART);
    body.copy(new Uint8Array(bytes));
    const sent = once(worker, 'message');
    worker.postMessage({ partNumber: n, bytes } satisfies PartMessage, [bytes]);
    await sent;
  }
}

async function round(variant: Variant): Promise<{ cpuPerGiB: number; loopPerGiB: number; mibPerSec: number }> {
  const key = driver.layout.key('/part-cost');
  const uploadId = await driver.client.createMultipartUpload(key);
  const worker = variant === 'unsigned-worker' ? startWorker(params, key, uploadId) : undefined;
  if (worker) await once(worker, 'message');
  const cpu = process.cpuUsage();
  const loop = performance.eventLoopUtilization();
  const started = performance.now();
  if (worker) await sendFromWorker(worker);
  else {
    for (let n = 1; n <= parts; n++) {
      // The signed path is the client's own request with the body hash left to aws4.
      if (variant === 'signed') await driver.client.uploadPartSigned(key, uploadId, n, body);
      else await driver.client.uploadPart(key, uploadId, n, body);
    }
  }
  const used = process.cpuUsage(cpu);
  const busy = performance.eventLoopUtilization(loop);
  const seconds = (performance.now() - started) / 1000;
  worker?.postMessage('close');
  await driver.client.abortMultipartUpload(key, uploadId);
  const gib = (parts * PART) / 2 ** 30;
  return { cpuPerGiB: (used.user + used.system) / 1e6 / gib, loopPerGiB: busy.active / 1000 / gib, mibPerSec: (parts * PART) / 2 ** 20 / seconds };
}

try {
  for (let r = 1; r <= Number(values.rounds); r++) {
    for (const variant of ['signed', 'unsigned', 'unsigned-worker'] as const) {
      const result = await round(variant);
      console.log(`round ${r} ${LABEL[variant]}: ${result.cpuPerGiB.toFixed(2)} CPU-s/GiB (all threads), loop busy ${result.loopPerGiB.toFixed(2)} s/GiB, ${result.mibPerSec.toFixed(0)} MiB/s`);
    }
  }
} finally {
  driver.close();
  await service.release();
}
