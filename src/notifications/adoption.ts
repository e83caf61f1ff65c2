import type { Logger } from '../log.ts';
import type { ObjectStore } from '../storage/driver.ts';
import { EndpointDelivery, type EndpointConfig } from './endpoint.ts';
import { queueLayout } from './layout.ts';
import { DurableQueue } from './queue.ts';

/** Longest pause between two heartbeats, and between two looks for orphaned queues. */
const HEARTBEAT_MAX_MS = 30_000;
const SCAN_MAX_MS = 60_000;
/** How often an adoption checks whether every endpoint has been given every adopted event. */
const DRAINED_POLL_MS = 500;

export interface AdoptionStats {
  /** Looks at the other instances' queues since start. */
  readonly scans: number;
  /** Queues of other instances delivered to the end and removed, since start. */
  readonly adopted: number;
}

/**
 * Queues whose process is gone for good (quayside.notifications.adoptafter).
 *
 * Each process owns the queue folder of its instance id (layout.ts). On stateless replicas the
 * id of a process often never comes back (a rescheduled pod has a new hostname), and its
 * undelivered events would wait in the bucket for ever. So every process rewrites
 * `<its folder>/alive` every adoptafter/3 (at most 30 s), and looks at the other folders every
 * adoptafter/2 (at most 60 s). A folder whose `alive` is older than adoptafter, by the store's own
 * timestamps (its `alive` against ours, written just before: no clock of two machines is
 * compared), is adopted: this process keeps its `alive` fresh (so other replicas leave it alone),
 * delivers its events from its cursors to this process's endpoints, in its order, then removes it.
 *
 * Fail-safe by construction: a queue is only removed through the queue's own rule (a segment
 * goes once every endpoint's written cursor passed it). Two adopters at once, or an owner that
 * comes back during an adoption, mean some events delivered twice, which at-least-once allows
 * (receivers dedupe on the event id); never one lost.
 */
export class OrphanAdoption implements AdoptionStats {
  private scansTotal = 0;
  private adoptedTotal = 0;
  private readonly adopting = new Map<string, Promise<void>>();
  private readonly stop = new AbortController();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private scanTimer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> = Promise.resolve();

  constructor(
    private readonly driver: ObjectStore,
    private readonly self: string,
    private readonly endpoints: readonly EndpointConfig[],
    private readonly adoptAfterMs: number,
    private readonly log: Logger,
  ) {}

  get scans(): number {
    return this.scansTotal;
  }

  get adopted(): number {
    return this.adoptedTotal;
  }

  /** Writes this process's first heartbeat, then keeps beating and, unless adoptafter is 0, scanning. */
  async start(): Promise<void> {
    await this.beat(this.self);
    const heartbeatMs = Math.min(HEARTBEAT_MAX_MS, Math.max(100, this.adoptAfterMs / 3 || HEARTBEAT_MAX_MS));
    this.heartbeatTimer = setInterval(() => void this.beat(this.self), heartbeatMs).unref();
    if (this.adoptAfterMs === 0) return;
    const scanMs = Math.min(SCAN_MAX_MS, Math.max(100, this.adoptAfterMs / 2));
    this.scanTimer = setInterval(() => {
      this.scanning = this.scanning.then(() => this.scan());
    }, scanMs).unref();
  }

  /** Stops beating and scanning; an adoption under way stops with its cursors written (the rest is adopted later). */
  async close(): Promise<void> {
    clearInterval(this.heartbeatTimer);
    clearInterval(this.scanTimer);
    this.stop.abort();
    await this.scanning;
    await Promise.all(this.adopting.values());
  }

  private async beat(instance: string): Promise<void> {
    try {
      await this.driver.putContent(queueLayout.alive(instance), new Date().toISOString(), { durable: false });
    } catch (err) {
      this.log.warn({ err, instance }, 'notification queue: cannot write the heartbeat; another replica may adopt this queue (events delivered twice at worst)');
    }
  }

  /** One look at every other instance's folder; adopts each that is stale. */
  private async scan(): Promise<void> {
    if (this.stop.signal.aborted) return;
    try {
      const own = await this.driver.stat(queueLayout.alive(this.self));
      if (own === undefined) return;
      for (const instance of await this.driver.list(queueLayout.all())) {
        if (instance === this.self || this.adopting.has(instance) || this.stop.signal.aborted) continue;
        const lastSeen = await this.lastSeen(instance);
        if (lastSeen === undefined || own.modifiedAt.getTime() - lastSeen.getTime() <= this.adoptAfterMs) continue;
        const adoption = this.adopt(instance).finally(() => this.adopting.delete(instance));
        this.adopting.set(instance, adoption);
      }
    } catch (err) {
      this.log.warn({ err }, 'notification queue: cannot look for the queues of stopped replicas; trying again later');
    } finally {
      this.scansTotal++;
    }
  }

  /**
   * When `instance` last showed a sign of life: its heartbeat, or for a folder without one (a
   * process from before heartbeats) its newest segment. undefined: nothing there to deliver.
   */
  private async lastSeen(instance: string): Promise<Date | undefined> {
    const segments = (await this.driver.list(queueLayout.segments(instance))).sort();
    const newest = segments[segments.length - 1];
    if (newest === undefined) return undefined;
    const alive = await this.driver.stat(queueLayout.alive(instance));
    return (alive ?? (await this.driver.stat(queueLayout.segment(instance, newest))))?.modifiedAt;
  }

  private async adopt(instance: string): Promise<void> {
    let lastBeat = this.beat(instance);
    await lastBeat;
    const beating = setInterval(() => (lastBeat = this.beat(instance)), Math.min(HEARTBEAT_MAX_MS, Math.max(100, this.adoptAfterMs / 3))).unref();
    const queue = await DurableQueue.open(this.driver, instance, this.endpoints.map((e) => e.name), Number.MAX_SAFE_INTEGER, this.log);
    const deliveries = this.endpoints.map((endpoint) => new EndpointDelivery(endpoint, queue, this.log));
    const held = queue.size;
    this.log.warn({ instance, events: held, adoptAfterMs: this.adoptAfterMs }, 'notification queue: adopting the queue of a replica that stopped (quayside.notifications.adoptafter)');
    try {
      for (const delivery of deliveries) delivery.start();
      const drained = await this.drained(deliveries);
      await Promise.all(deliveries.map((delivery) => delivery.close()));
      await queue.close();
      if (drained && (await this.driver.list(queueLayout.segments(instance))).length === 0) {
        // Everything was delivered and its segments are gone: its cursors and heartbeat go, after
        // the last heartbeat written for it, which would otherwise come back. Named objects only,
        // never the folder: a segment the owner wrote after that list, come back to life, stays.
        clearInterval(beating);
        await lastBeat;
        for (const endpoint of this.endpoints) await this.driver.delete(queueLayout.cursor(instance, endpoint.name));
        await this.driver.delete(queueLayout.alive(instance));
        this.adoptedTotal++;
        this.log.info({ instance, events: held }, 'notification queue: adopted queue delivered and removed');
      }
    } catch (err) {
      this.log.warn({ err, instance }, 'notification queue: adoption stopped; tried again later');
    } finally {
      clearInterval(beating);
    }
  }

  /** Resolves true once every endpoint was given every adopted event, false when stopped first. */
  private async drained(deliveries: readonly EndpointDelivery[]): Promise<boolean> {
    while (!this.stop.signal.aborted) {
      if (deliveries.every((delivery) => delivery.pending === 0)) return true;
      await new Promise((resolve) => setTimeout(resolve, DRAINED_POLL_MS).unref());
    }
    return false;
  }
}
