import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Envelope, Event } from '../../src/notifications/event.ts';

type Hooks = { after: (fn: () => Promise<void> | void) => void };

export interface Delivery {
  readonly headers: IncomingHttpHeaders;
  readonly envelope: Envelope;
}

/**
 * A real webhook receiver on 127.0.0.1: records every POST it accepts. It can be stopped and
 * started again on the same port (the endpoint "goes down"), told to answer an error status,
 * or to hold requests without answering (a hung endpoint).
 */
export class Receiver {
  readonly deliveries: Delivery[] = [];
  /** Every POST that reached it, accepted or not. */
  attempts = 0;
  /** The headers of every POST that reached it, accepted or not. */
  readonly attemptHeaders: IncomingHttpHeaders[] = [];
  /** Answer this status instead of 200 (until set back to 200). */
  status = 200;
  /** Never answer (the registry's timeout must cut the POST). */
  hang = false;
  private server: Server | undefined;
  private port = 0;

  static async start(t: Hooks): Promise<Receiver> {
    const receiver = new Receiver();
    await receiver.listen();
    t.after(() => receiver.stop());
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/events`;
  }

  get events(): Event[] {
    return this.deliveries.flatMap((d) => [...d.envelope.events]);
  }

  /** Starts listening, on the port it had before when it had one. */
  async listen(): Promise<void> {
    const server = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (chunk: Buffer) => parts.push(chunk));
      req.on('end', () => {
        this.attempts++;
        this.attemptHeaders.push(req.headers);
        if (this.hang) return;
        if (this.status === 200) this.deliveries.push({ headers: req.headers, envelope: JSON.parse(Buffer.concat(parts).toString('utf8')) as Envelope });
        res.writeHead(this.status).end();
      });
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stops listening and drops every open connection: the endpoint is down. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.close();
    server.closeAllConnections();
    await once(server, 'close').catch(() => undefined);
  }

  /** Polls until `count` events were accepted (up to 30 s: the machine is shared); returns them. */
  async waitForEvents(count: number, timeoutMs = 30_000): Promise<Event[]> {
    await waitFor(() => this.events.length >= count, timeoutMs, () => `expected ${count} events, got ${this.events.length}: ${JSON.stringify(this.events.map((e) => `${e.action} ${e.target.repository} ${e.target.digest ?? ''} ${e.target.tag ?? ''}`))}`);
    return this.events;
  }
}

/** Polls `condition` every 20 ms until it holds or `timeoutMs` pass (then fails with `describe()`). */
export async function waitFor(condition: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
