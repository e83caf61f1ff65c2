import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { EVENTS_MEDIA_TYPE, type Envelope, type Event } from './event.ts';
import type { DurableQueue } from './queue.ts';

export type EndpointConfig = Config['notifications']['endpoints'][number];

/** What the metrics helper reads per endpoint (plain getters; no dependency on src/metrics). */
export interface EndpointStats {
  readonly name: string;
  readonly url: string;
  /** Events queued for this endpoint and not yet delivered (or skipped by its ignore rules). */
  readonly pending: number;
  /** Failed POSTs since start: a status of 400 or more, a network error or a timeout. */
  readonly failures: number;
  /** POSTs the endpoint accepted (status 200–399, as distribution's httpSink counts them). */
  readonly successes: number;
}

/**
 * One endpoint's delivery loop, distribution's sink chain (notifications/endpoint.go NewEndpoint)
 * in one place: ignoredSink (ignore.mediatypes + ignoredmediatypes, ignore.actions) →
 * eventQueue (here the durable queue, read from this endpoint's cursor) → retryingSink with a
 * breaker → httpSink (one event per POST, `timeout` per POST, 2xx and 3xx accepted).
 *
 * Events go out strictly in order: the next is sent only when this one was accepted, and a
 * failed one is retried for as long as it takes, as distribution's RetryingSink does. The
 * breaker: after `threshold` failures in a row, one try per `backoff` until one succeeds.
 * None of this runs on a request's path: requests only append to the queue.
 */
export class EndpointDelivery implements EndpointStats {
  readonly name: string;
  readonly url: string;
  private failuresTotal = 0;
  private successesTotal = 0;
  private readonly ignoredMediaTypes: ReadonlySet<string>;
  private readonly ignoredActions: ReadonlySet<string>;
  private readonly headers: [string, string][];
  private readonly timeoutMs: number;
  private readonly threshold: number;
  private readonly backoffMs: number;
  private readonly stop = new AbortController();
  private running: Promise<void> | undefined;

  constructor(
    config: EndpointConfig,
    private readonly queue: DurableQueue,
    private readonly log: Logger,
  ) {
    this.name = config.name;
    this.url = config.url;
    this.ignoredMediaTypes = new Set([...config.ignore.mediatypes, ...config.ignoredmediatypes]);
    this.ignoredActions = new Set(config.ignore.actions);
    this.headers = Object.entries(config.headers).flatMap(([name, values]) => values.map((value): [string, string] => [name, value]));
    // distribution's EndpointConfig.defaults: 0 (or less) means the default.
    this.timeoutMs = config.timeout > 0 ? config.timeout : 1000;
    this.threshold = config.threshold > 0 ? config.threshold : 10;
    this.backoffMs = config.backoff > 0 ? config.backoff : 1000;
  }

  get pending(): number {
    return this.queue.pending(this.name);
  }

  get failures(): number {
    return this.failuresTotal;
  }

  get successes(): number {
    return this.successesTotal;
  }

  /** Whether this endpoint's ignore rules drop `event` (distribution's ignoredSink.Write). */
  ignores(event: Event): boolean {
    return (event.target.mediaType !== undefined && this.ignoredMediaTypes.has(event.target.mediaType)) || this.ignoredActions.has(event.action);
  }

  start(): void {
    this.running ??= this.run().catch((err: unknown) => this.log.error({ err, endpoint: this.name }, 'notification delivery stopped'));
  }

  /** Stops delivering; a POST in flight is abandoned and its event sent again after a restart. */
  async close(): Promise<void> {
    this.stop.abort();
    await this.running;
  }

  private async run(): Promise<void> {
    const signal = this.stop.signal;
    const stopped = aborted(signal);
    while (!signal.aborted) {
      const entry = this.queue.next(this.name);
      if (entry === undefined) {
        await Promise.race([this.queue.changed(), stopped]);
        continue;
      }
      if (!this.ignores(entry.event) && !(await this.deliver(entry.event, signal))) return;
      this.queue.acknowledge(this.name, entry.seq);
    }
  }

  /** POSTs `event` until the endpoint accepts it; false only when stopped first. */
  private async deliver(event: Event, signal: AbortSignal): Promise<boolean> {
    let failedInARow = 0;
    let lastFailure = 0;
    for (;;) {
      if (failedInARow >= this.threshold) await sleep(lastFailure + this.backoffMs - Date.now(), signal);
      if (signal.aborted) return false;
      const outcome = await this.post({ events: [event] }, signal);
      if (outcome === 'accepted') {
        this.successesTotal++;
        return true;
      }
      if (signal.aborted) return false;
      this.failuresTotal++;
      failedInARow++;
      lastFailure = Date.now();
      if (failedInARow === this.threshold) this.log.warn({ endpoint: this.name, url: this.url, failures: failedInARow, reason: outcome, backoffMs: this.backoffMs }, 'notification endpoint failing; retrying once per backoff');
    }
  }

  /** One POST; 'accepted' for 2xx–3xx (redirects are not followed, as they count as accepted). */
  private async post(envelope: Envelope, stop: AbortSignal): Promise<'accepted' | string> {
    const headers = new Headers(this.headers);
    headers.set('content-type', EVENTS_MEDIA_TYPE);
    try {
      const response = await fetch(this.url, {
        method: 'POST',
        headers,
        body: JSON.stringify(envelope),
        redirect: 'manual',
        signal: AbortSignal.any([stop, AbortSignal.timeout(this.timeoutMs)]),
      });
      await response.arrayBuffer().catch(() => undefined);
      return response.status >= 200 && response.status < 400 ? 'accepted' : `status ${response.status}`;
    } catch (err) {
      return (err as Error).name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : String((err as Error & { cause?: Error }).cause?.message ?? (err as Error).message);
    }
  }
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
