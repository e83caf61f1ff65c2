import type { Logger } from '../log.ts';
import { getContentIfExists, type ObjectStore } from '../storage/driver.ts';
import type { Event } from './event.ts';
import { queueLayout, segmentName } from './layout.ts';

/**
 * The durable notification queue (issue 11: "go beyond distribution, whose queue is in memory").
 *
 * An event is appended here before its request is answered, and written through the storage
 * driver (so it works on the filesystem and on S3). Writes are group commits: the events of
 * every request that arrives while one write is in flight share the next write, so a busy
 * registry pays one write per round trip of the store, not one per request. Each write is one
 * segment object (layout.ts); a segment is deleted once every endpoint has been given every
 * event in it.
 *
 * Each endpoint reads the queue in seq order from its cursor (the last seq it was given). Cursors
 * are written lazily and without fsync: a lost cursor only means events delivered again, which
 * at-least-once delivery allows (receivers dedupe on the event id). A segment is deleted only after
 * the cursors that pass it are written, so a crash never loses an undelivered event.
 *
 * Bounded: at most `limit` events are held (written or waiting to be, not yet given to every
 * endpoint). Past that a new event is dropped, counted (`dropped`) and logged: a request is never
 * refused nor held up because a receiver is down.
 */
export interface QueuedEvent {
  readonly seq: number;
  readonly event: Event;
}

interface Segment {
  readonly name: string;
  readonly lastSeq: number;
}

interface Batch {
  readonly entries: QueuedEvent[];
  readonly written: Promise<void>;
  readonly settle: () => void;
}

/** Cursors are written at most this often; what they save is only redelivery after a crash. */
const CURSOR_WRITE_DELAY_MS = 100;
/** "Dropped" is logged at most this often, with the count since. */
const DROP_LOG_INTERVAL_MS = 10_000;

export class DurableQueue {
  /** Held events in seq order: written (or failed to be) and not yet given to every consumer. */
  private entries: QueuedEvent[] = [];
  private segments: Segment[] = [];
  private readonly cursors = new Map<string, number>();
  private readonly writtenCursors = new Map<string, number>();
  private batch: Batch | undefined;
  private flushing: Promise<void> | undefined;
  private nextSeq = 1;
  private waiters: (() => void)[] = [];
  private cursorTimer: NodeJS.Timeout | undefined;
  private housekeeping: Promise<void> = Promise.resolve();
  private droppedTotal = 0;
  private droppedSinceLog = 0;
  private lastDropLog = 0;
  private closed = false;

  private constructor(
    private readonly driver: ObjectStore,
    private readonly instance: string,
    private readonly limit: number,
    private readonly log: Logger,
  ) {}

  /**
   * Opens the queue folder of `instance`, reloading what a previous run (or a killed one) left:
   * every segment, and the cursor of each of `consumers` (none yet: from the oldest event).
   */
  static async open(driver: ObjectStore, instance: string, consumers: readonly string[], limit: number, log: Logger): Promise<DurableQueue> {
    const queue = new DurableQueue(driver, instance, limit, log);
    await queue.load(consumers);
    return queue;
  }

  private async load(consumers: readonly string[]): Promise<void> {
    let maxSeq = 0;
    for (const name of await this.driver.list(queueLayout.segments(this.instance))) {
      const content = await getContentIfExists(this.driver, queueLayout.segment(this.instance, name));
      if (content === undefined) continue;
      const entries = parseSegment(content);
      const last = entries[entries.length - 1];
      if (last === undefined) {
        await this.driver.delete(queueLayout.segment(this.instance, name));
        continue;
      }
      this.entries.push(...entries);
      this.segments.push({ name, lastSeq: last.seq });
      maxSeq = Math.max(maxSeq, last.seq);
    }
    this.entries.sort((a, b) => a.seq - b.seq);
    for (const consumer of consumers) {
      const text = (await getContentIfExists(this.driver, queueLayout.cursor(this.instance, consumer)))?.toString('utf8').trim() ?? '';
      const cursor = /^\d{1,16}$/.test(text) ? Number(text) : 0;
      this.cursors.set(consumer, cursor);
      this.writtenCursors.set(consumer, cursor);
      // Seqs go on after every seq a cursor has seen, even once the segments are gone: a new
      // event numbered at or below a cursor would never be delivered.
      maxSeq = Math.max(maxSeq, cursor);
    }
    this.nextSeq = maxSeq + 1;
    this.trim();
    // Segments every cursor had passed when the last run stopped (killed between a cursor write and a delete).
    this.housekeeping = this.writeCursors();
    if (this.entries.length > 0) this.log.info({ instance: this.instance, events: this.entries.length }, 'notification queue: resuming undelivered events');
  }

  /** Events held: not yet given to every endpoint (the bound applies to this). */
  get size(): number {
    return this.entries.length + (this.batch?.entries.length ?? 0);
  }

  /** Events refused because the queue was full, since start. */
  get dropped(): number {
    return this.droppedTotal;
  }

  /** Events `consumer` has still to be given (some may be ones it ignores). */
  pending(consumer: string): number {
    const cursor = this.cursors.get(consumer) ?? 0;
    return this.entries.length - this.indexAfter(cursor) + (this.batch?.entries.length ?? 0);
  }

  /**
   * Queues `event`; the promise resolves once it is written (or its write failed, which is
   * logged): the request answers after that. undefined when the queue is full and the event
   * was dropped.
   */
  append(event: Event): Promise<void> | undefined {
    if (this.closed || this.size >= this.limit) {
      this.noteDropped(event);
      return undefined;
    }
    const batch = (this.batch ??= newBatch());
    batch.entries.push({ seq: this.nextSeq++, event });
    // setImmediate, not a microtask: the other requests of this turn of the event loop join the write.
    this.flushing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.flush());
    return batch.written;
  }

  /** Writes batches one at a time until none is waiting: one write in flight, the next one gathering. */
  private async flush(): Promise<void> {
    try {
      for (let batch = this.batch; batch !== undefined; batch = this.batch) {
        this.batch = undefined;
        await this.write(batch.entries);
        batch.settle();
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async write(entries: QueuedEvent[]): Promise<void> {
    const first = entries[0];
    const last = entries[entries.length - 1];
    if (first === undefined || last === undefined) return;
    const name = segmentName(first.seq);
    const body = entries.map((entry) => JSON.stringify(entry)).join('\n') + '\n';
    try {
      await this.driver.putContent(queueLayout.segment(this.instance, name), body);
      this.segments.push({ name, lastSeq: last.seq });
    } catch (err) {
      // The request's own write succeeded; failing it now would tell the client its push did
      // not happen. The events are still delivered from memory, only not durably.
      this.log.error({ err, events: entries.length }, 'notification queue: cannot write events to storage; they are delivered but would not survive a restart');
    }
    this.entries.push(...entries);
    this.wake();
  }

  /** The first held event after `cursor`, or undefined when there is none yet. */
  next(consumer: string): QueuedEvent | undefined {
    return this.entries[this.indexAfter(this.cursors.get(consumer) ?? 0)];
  }

  /** Resolves when events are added (or the queue closes). */
  changed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** `consumer` has been given every event up to `seq` (or chose to skip it: an ignore rule). */
  acknowledge(consumer: string, seq: number): void {
    if (seq <= (this.cursors.get(consumer) ?? 0)) return;
    this.cursors.set(consumer, seq);
    this.trim();
    this.cursorTimer ??= setTimeout(() => {
      this.cursorTimer = undefined;
      this.housekeeping = this.housekeeping.then(() => this.writeCursors());
    }, CURSOR_WRITE_DELAY_MS);
  }

  /** Stops taking events, writes what is gathering and the cursors, and wakes every waiting consumer. */
  async close(): Promise<void> {
    this.closed = true;
    this.wake();
    await this.flushing;
    clearTimeout(this.cursorTimer);
    this.cursorTimer = undefined;
    await (this.housekeeping = this.housekeeping.then(() => this.writeCursors()));
  }

  /** Writes the cursors that moved, then deletes the segments every written cursor has passed. */
  private async writeCursors(): Promise<void> {
    for (const [consumer, cursor] of this.cursors) {
      if (this.writtenCursors.get(consumer) === cursor) continue;
      try {
        await this.driver.putContent(queueLayout.cursor(this.instance, consumer), String(cursor), { durable: false });
        this.writtenCursors.set(consumer, cursor);
      } catch (err) {
        this.log.warn({ err, endpoint: consumer }, 'notification queue: cannot write a cursor; its events may be delivered again after a restart');
      }
    }
    const done = Math.min(...this.writtenCursors.values());
    while (this.segments[0] !== undefined && this.segments[0].lastSeq <= done) {
      const segment = this.segments[0];
      try {
        await this.driver.delete(queueLayout.segment(this.instance, segment.name));
      } catch (err) {
        this.log.warn({ err, segment: segment.name }, 'notification queue: cannot delete a delivered segment; retried later');
        return;
      }
      this.segments.shift();
    }
  }

  /** Drops from memory the events every consumer has been given. */
  private trim(): void {
    const done = Math.min(...this.cursors.values());
    const keepFrom = this.indexAfter(done);
    if (keepFrom > 0) this.entries = this.entries.slice(keepFrom);
  }

  /** Index of the first held event whose seq is above `cursor` (binary search: entries are in seq order). */
  private indexAfter(cursor: number): number {
    let low = 0;
    let high = this.entries.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.entries[mid]?.seq ?? Infinity) <= cursor) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  private noteDropped(event: Event): void {
    this.droppedTotal++;
    this.droppedSinceLog++;
    const now = Date.now();
    if (now - this.lastDropLog < DROP_LOG_INTERVAL_MS) return;
    this.log.warn({ dropped: this.droppedSinceLog, droppedTotal: this.droppedTotal, limit: this.limit, action: event.action, repository: event.target.repository }, this.closed ? 'notification queue closed; event dropped' : 'notification queue full (quayside.notifications.queuesize); new events are dropped');
    this.lastDropLog = now;
    this.droppedSinceLog = 0;
  }
}

function newBatch(): Batch {
  let settle!: () => void;
  const written = new Promise<void>((resolve) => (settle = resolve));
  return { entries: [], written, settle };
}

/** A segment's lines; one that does not parse (never written by us) is skipped, not fatal. */
function parseSegment(content: Buffer): QueuedEvent[] {
  const entries: QueuedEvent[] = [];
  for (const line of content.toString('utf8').split('\n')) {
    if (line === '') continue;
    try {
      const entry = JSON.parse(line) as Partial<QueuedEvent>;
      if (typeof entry.seq === 'number' && Number.isSafeInteger(entry.seq) && typeof entry.event === 'object' && entry.event !== null) entries.push({ seq: entry.seq, event: entry.event });
    } catch {
      // A torn or foreign line: the rest of the segment still counts.
    }
  }
  return entries;
}
