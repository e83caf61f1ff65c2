import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

/**
 * The notification event, field for field distribution's (notifications/event.go Event), so a
 * receiver written for docker-registry reads ours unchanged. Optional fields are left out when
 * empty, as Go's `omitempty` does; `request.id`, `method` and `useragent` are always there.
 */
export const EVENTS_MEDIA_TYPE = 'application/vnd.docker.distribution.events.v2+json';

export const EVENT_ACTIONS = ['push', 'pull', 'mount', 'delete'] as const;
export type EventAction = (typeof EVENT_ACTIONS)[number];

/** distribution answers a blob's Stat with this type; the manifest alone says what a blob is. */
export const BLOB_MEDIA_TYPE = 'application/octet-stream';

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
}

export interface EventTarget {
  readonly mediaType?: string;
  readonly digest?: string;
  readonly size?: number;
  /** Same as size: distribution keeps it for receivers written before `size` existed. */
  readonly length?: number;
  readonly repository: string;
  /** Mounts: where the blob came from. */
  readonly fromRepository?: string;
  readonly url?: string;
  readonly tag?: string;
  /** notifications.events.includereferences: what the manifest references. */
  readonly references?: readonly Descriptor[];
}

export interface RequestRecord {
  readonly id: string;
  readonly addr?: string;
  readonly host?: string;
  readonly method: string;
  readonly useragent: string;
}

export interface Event {
  /** A UUID: the receiver's key for deduplication, since delivery is at-least-once. */
  readonly id: string;
  readonly timestamp: string;
  readonly action: EventAction;
  readonly target: EventTarget;
  readonly request: RequestRecord;
  readonly actor: { readonly name?: string };
  readonly source: { readonly addr?: string; readonly instanceID?: string };
}

/** What every POST carries (distribution's Envelope). */
export interface Envelope {
  readonly events: readonly Event[];
}

/** One id per request, shared by every event it causes (a PUT with several ?tag=). */
const requestIds = new WeakMap<IncomingMessage, string>();

/**
 * distribution's NewRequestRecord. `addr` is requestutil.RemoteAddr: the first X-Forwarded-For
 * entry, else X-Real-Ip, else the peer's address:port.
 */
export function requestRecord(req: IncomingMessage): RequestRecord {
  let id = requestIds.get(req);
  if (id === undefined) requestIds.set(req, (id = randomUUID()));
  const forwarded = firstValue(req.headers['x-forwarded-for'])?.split(',')[0]?.trim();
  const realIp = firstValue(req.headers['x-real-ip'])?.trim();
  const peer = req.socket?.remoteAddress === undefined ? undefined : joinHostPort(req.socket.remoteAddress, req.socket.remotePort ?? 0);
  const addr = forwarded || realIp || peer;
  return {
    id,
    ...(addr ? { addr } : {}),
    ...(req.headers.host ? { host: req.headers.host } : {}),
    method: req.method ?? 'GET',
    useragent: req.headers['user-agent'] ?? '',
  };
}

/**
 * The absolute URL of a blob or manifest, as distribution's URLBuilder makes it from the request:
 * X-Forwarded-Proto / X-Forwarded-Host when a proxy sets them, else this connection's scheme and Host.
 */
export function targetUrl(req: IncomingMessage, repository: string, kind: 'blobs' | 'manifests', digest: string): string {
  const proto = firstValue(req.headers['x-forwarded-proto'])?.split(',')[0]?.trim() || ((req.socket as TLSSocket | null)?.encrypted ? 'https' : 'http');
  const host = firstValue(req.headers['x-forwarded-host'])?.split(',')[0]?.trim() || req.headers.host || 'localhost';
  return `${proto}://${host}/v2/${repository}/${kind}/${digest}`;
}

function firstValue(header: string | string[] | undefined): string | undefined {
  return Array.isArray(header) ? header[0] : header;
}

function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
