import { paths } from '../storage/paths.ts';

/**
 * Where the durable notification queue lives, beside distribution's layout (storage/paths.ts),
 * which neither distribution nor our garbage collection walks (they list blobs/ and repositories/):
 *
 *   <root>/docker/registry/v2/notifications/<instance id>/
 *   ├── segments/<first seq, 16 digits>      one group commit: JSON lines {"seq":n,"event":{...}}
 *   ├── cursors/<endpoint name, %-encoded>   last seq delivered to that endpoint (decimal)
 *   └── alive                                the owner's heartbeat (adoption.ts)
 *
 * One folder per process (its instance id, quayside.notifications.instanceid), so live replicas on
 * one S3 bucket never read each other's events; a folder whose heartbeat stopped is adopted. Segment names sort in seq order because they are
 * zero-padded. The instance id is checked by the schema ([A-Za-z0-9._-], not "." or ".."), and
 * endpoint names are %-encoded, so nothing built here leaves the folder.
 */
export const queueLayout = {
  all: () => `${paths.root}/notifications`,
  dir: (instance: string) => `${paths.root}/notifications/${instance}`,
  segments: (instance: string) => `${paths.root}/notifications/${instance}/segments`,
  segment: (instance: string, name: string) => `${paths.root}/notifications/${instance}/segments/${name}`,
  /** Rewritten by the owner (or an adopter) every few seconds: adoption.ts. */
  alive: (instance: string) => `${paths.root}/notifications/${instance}/alive`,
  cursor: (instance: string, endpoint: string) => `${paths.root}/notifications/${instance}/cursors/${cursorFileName(endpoint)}`,
};

export function segmentName(firstSeq: number): string {
  return String(firstSeq).padStart(16, '0');
}

/** Every character but [A-Za-z0-9_-] %-encoded: no '/', no '.', nothing a driver could misread. */
function cursorFileName(endpoint: string): string {
  return Array.from(Buffer.from(endpoint, 'utf8'), (byte) => (/[A-Za-z0-9_-]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}
