import { parentPort, workerData } from 'node:worker_threads';
import { BenchClient, type ClientOptions } from './http-client.ts';
import { readLoops, type SmallImage, type SmallRead } from './small-reads.ts';

/**
 * A thread of small-read loops (small-reads.ts): one event loop of ours tops out near 10 000
 * requests/s, below what a registry serves, so the reads are spread over threads and the client
 * stays out of the figure. Each thread has its own client and connections.
 */
export interface ReadWorkerData {
  readonly url: string;
  readonly client: ClientOptions;
  readonly image: SmallImage;
  readonly kind: SmallRead;
  readonly loops: number;
}

/** Sent by the lead once every thread is loaded: read until this Date.now() ms. */
export interface ReadWorkerStart {
  readonly deadline: number;
}

export interface ReadWorkerResult {
  readonly latenciesMs: number[];
  readonly errors: Record<string, number>;
  readonly firstError: string | undefined;
}

const port = parentPort;
if (port !== null && workerData !== null) {
  const data = workerData as ReadWorkerData;
  const image: SmallImage = { ...data.image, manifest: Buffer.from(data.image.manifest) };
  const client = new BenchClient(data.url, data.client);
  // Loading a thread takes longer than a short run: the clock starts when all are ready.
  port.once('message', (start: ReadWorkerStart) => {
    void readLoops(client, image, data.kind, data.loops, start.deadline).then((outcomes) => {
      client.close();
      const result: ReadWorkerResult = { latenciesMs: outcomes.latenciesMs, errors: outcomes.errors, firstError: outcomes.firstError };
      port.postMessage(result);
    });
  });
  port.postMessage('ready');
}
