import type { IncomingMessage } from 'node:http';
import { RegistryError } from '../errors/registry-error.ts';

/** Reads a small body (manifests) whole, refusing more than `limit` bytes without buffering them. */
export async function readBounded(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) {
    req.resume();
    throw new RegistryError('MANIFEST_TOO_LARGE', { limit, size: declared });
  }
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      req.resume();
      throw new RegistryError('MANIFEST_TOO_LARGE', { limit });
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts, total);
}

/** True when the request carries a body (a length above 0, or chunked transfer coding). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}
