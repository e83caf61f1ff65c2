import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Counter, type Registry } from 'prom-client';
import type { Route } from '../routing/routes.ts';
import { SeriesHistogram, type HistogramSeries } from './series-histogram.ts';

/**
 * Requests on the main port, as distribution's instrumented handlers count them (docker/go-metrics
 * NewDefaultHttpMetrics under the `registry_http` namespace): `requests_total`,
 * `request_duration_seconds`, `request_size_bytes`, `response_size_bytes`. Labels: `handler`, the
 * route id of routing/routes.ts (`end-3`, `end-5`..., `-` when no route matched), `method`, and
 * `code`, the status class (`2xx`... `5xx`), or `closed` when the client went away before an
 * answer. Classes, not codes, and route ids, not paths: every label has a handful of values.
 */
export type RequestLabels = 'handler' | 'method' | 'code';

/** Status class slots: index = status / 100; 0 is "closed" (no answer was sent). */
const CODE_LABELS = ['closed', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;
const CLOSED = 0;

/**
 * distribution's duration buckets (go-metrics defaultDurationBuckets, 5 ms to 60 s) with three
 * below them: a manifest GET answered from memory takes tens of microseconds, a blob HEAD about
 * as long, and all of them would sit in the first bucket.
 */
const DURATION_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60];
/** distribution's size buckets: prometheus.ExponentialBuckets(1024, 2, 22), 1 KiB to 2 GiB. */
const SIZE_BUCKETS = Array.from({ length: 22 }, (_, i) => 1024 * 2 ** i);

/** Methods a route can have; anything else is counted as `other` (the label stays small). */
const KNOWN_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE', 'OPTIONS']);

/** The three series a request lands in, per (route, method, code). */
interface RequestSeries {
  readonly duration: HistogramSeries<RequestLabels>;
  readonly received: HistogramSeries<RequestLabels>;
  readonly sent: HistogramSeries<RequestLabels>;
}

/** A socket's byte counters as last seen: a request is charged the difference (see observe). */
interface SocketMark {
  read: number;
  written: number;
}

/** What server.ts calls once per request; present only when metrics are on. */
export interface RequestObserver {
  /**
   * The request is over (answered, or the client went away when `closed`). `startedNs` is its
   * process.hrtime.bigint() at arrival; `route` is undefined when no route matched.
   */
  observe(req: IncomingMessage, res: ServerResponse, route: Route | undefined, startedNs: bigint, closed: boolean): void;
}

export class RequestMetrics implements RequestObserver {
  readonly #duration: SeriesHistogram<RequestLabels>;
  readonly #received: SeriesHistogram<RequestLabels>;
  readonly #sent: SeriesHistogram<RequestLabels>;
  /** Per route object (each has one method), the series per code slot, made on first use. */
  readonly #byRoute = new Map<Route, (RequestSeries | undefined)[]>();
  /** Requests no route matched, per method. */
  readonly #unrouted = new Map<string, (RequestSeries | undefined)[]>();
  /** Byte counters per connection: keep-alive sockets carry many requests. */
  readonly #sockets = new WeakMap<Socket, SocketMark>();

  constructor(registry: Registry) {
    this.#duration = new SeriesHistogram('registry_http_request_duration_seconds', 'The HTTP request latencies in seconds.', ['handler', 'method', 'code'], DURATION_BUCKETS);
    this.#received = new SeriesHistogram('registry_http_request_size_bytes', 'The HTTP request sizes in bytes (headers and body, as read from the connection).', ['handler', 'method', 'code'], SIZE_BUCKETS);
    this.#sent = new SeriesHistogram('registry_http_response_size_bytes', 'The HTTP response sizes in bytes (headers and body, as written to the connection).', ['handler', 'method', 'code'], SIZE_BUCKETS);
    const durations = this.#duration;
    // The count is the duration histogram's: nothing more per request, filled in at scrape time.
    const requests = new Counter<RequestLabels>({
      name: 'registry_http_requests_total',
      help: 'Total number of HTTP requests made.',
      labelNames: ['handler', 'method', 'code'],
      registers: [],
      collect() {
        this.reset();
        for (const { labels, count } of durations.allSeries()) if (count > 0) this.inc(labels, count);
      },
    });
    for (const metric of [requests, this.#duration, this.#received, this.#sent]) registry.registerMetric(metric);
  }

  observe(req: IncomingMessage, res: ServerResponse, route: Route | undefined, startedNs: bigint, closed: boolean): void {
    // A streamed answer may still be writing when the handler returns: count it when it is done.
    if (!closed && !res.writableEnded) {
      res.once('close', () => this.#record(req, res, route, startedNs, !res.writableFinished));
      return;
    }
    this.#record(req, res, route, startedNs, closed);
  }

  #record(req: IncomingMessage, res: ServerResponse, route: Route | undefined, startedNs: bigint, closed: boolean): void {
    const slot = closed ? CLOSED : Math.min(5, Math.max(1, Math.floor(res.statusCode / 100)));
    const series = this.#seriesFor(route, req.method ?? 'GET', slot);
    series.duration.observe(Number(process.hrtime.bigint() - startedNs) / 1e9);
    // The connection's counters since the previous request on it: headers and body as they went
    // over the wire (a chunked PATCH has no Content-Length to read). node counts bytes queued
    // for writing in bytesWritten, so a response just ended is all in it.
    const socket = res.socket ?? req.socket;
    if (!socket) return;
    let mark = this.#sockets.get(socket);
    if (!mark) {
      mark = { read: 0, written: 0 };
      this.#sockets.set(socket, mark);
    }
    const read = socket.bytesRead;
    const written = socket.bytesWritten;
    series.received.observe(read - mark.read);
    series.sent.observe(written - mark.written);
    mark.read = read;
    mark.written = written;
  }

  #seriesFor(route: Route | undefined, method: string, slot: number): RequestSeries {
    let slots: (RequestSeries | undefined)[] | undefined;
    let methodLabel: string;
    if (route) {
      methodLabel = route.method;
      slots = this.#byRoute.get(route);
      if (!slots) this.#byRoute.set(route, (slots = []));
    } else {
      methodLabel = KNOWN_METHODS.has(method) ? method : 'other';
      slots = this.#unrouted.get(methodLabel);
      if (!slots) this.#unrouted.set(methodLabel, (slots = []));
    }
    let series = slots[slot];
    if (!series) {
      const labels = { handler: route?.id ?? '-', method: methodLabel, code: CODE_LABELS[slot] ?? 'closed' };
      series = { duration: this.#duration.series(labels), received: this.#received.series(labels), sent: this.#sent.series(labels) };
      slots[slot] = series;
    }
    return series;
  }
}
