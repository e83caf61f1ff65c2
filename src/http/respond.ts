import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type { RegistryError } from '../errors/registry-error.ts';
import { HEADER } from './headers.ts';

/** Every response leaves through here. HEAD gets the headers a GET would, never a body. */
export function sendEmpty(res: ServerResponse, status: number, headers: OutgoingHttpHeaders = {}): void {
  // RFC 9110 §8.6: a 204 MUST NOT carry Content-Length.
  res.writeHead(status, status === 204 ? headers : { [HEADER.contentLength]: '0', ...headers });
  res.end();
}

export function sendJson(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  const bytes = Buffer.from(JSON.stringify(body));
  sendBytes(req, res, status, bytes, { [HEADER.contentType]: 'application/json', ...headers });
}

export function sendBytes(req: IncomingMessage, res: ServerResponse, status: number, bytes: Buffer, headers: OutgoingHttpHeaders): void {
  res.writeHead(status, { ...headers, [HEADER.contentLength]: String(bytes.length) });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

/** Streams a body; a client that goes away ends the read (no leaked file handles). */
export async function sendStream(req: IncomingMessage, res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body: Readable): Promise<void> {
  res.writeHead(status, headers);
  if (req.method === 'HEAD') {
    body.destroy();
    res.end();
    return;
  }
  try {
    await pipeline(body, res);
  } catch {
    // The client closed the connection mid-body; nothing left to tell it.
    body.destroy();
  }
}

export function sendError(req: IncomingMessage, res: ServerResponse, err: RegistryError): void {
  sendJson(req, res, err.status, err.body(), err.headers);
}
