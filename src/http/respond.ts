import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type { RegistryError } from '../errors/registry-error.ts';
import { API_VERSION, HEADER } from './headers.ts';

const NO_HEADERS: OutgoingHttpHeaders = Object.freeze({});

/**
 * Every response leaves through here, so this is where every response gets the API version
 * header (spec end-1) and nosniff. HEAD gets the headers a GET would, never a body.
 *
 * All headers reach node in one writeHead object built once: a header set beforehand with
 * res.setHeader makes node validate and copy every header of the response a second time, and
 * each spread is another copy (issue 9 profile).
 */
function writeHead(res: ServerResponse, status: number, headers: OutgoingHttpHeaders, contentType: string | undefined, contentLength: number | undefined): void {
  const all: OutgoingHttpHeaders = { [HEADER.apiVersion]: API_VERSION, [HEADER.contentTypeOptions]: 'nosniff' };
  if (contentType !== undefined) all[HEADER.contentType] = contentType;
  Object.assign(all, headers);
  // RFC 9110 §8.6: a 204 MUST NOT carry Content-Length.
  if (contentLength !== undefined && status !== 204) all[HEADER.contentLength] = String(contentLength);
  res.writeHead(status, all);
}

export function sendEmpty(res: ServerResponse, status: number, headers: OutgoingHttpHeaders = NO_HEADERS): void {
  writeHead(res, status, headers, undefined, 0);
  res.end();
}

export function sendJson(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = NO_HEADERS): void {
  send(req, res, status, Buffer.from(JSON.stringify(body)), headers, 'application/json');
}

export function sendBytes(req: IncomingMessage, res: ServerResponse, status: number, bytes: Buffer, headers: OutgoingHttpHeaders): void {
  send(req, res, status, bytes, headers, undefined);
}

/** `contentType` is a default the caller's headers may override. */
function send(req: IncomingMessage, res: ServerResponse, status: number, bytes: Buffer, headers: OutgoingHttpHeaders, contentType: string | undefined): void {
  writeHead(res, status, headers, contentType, bytes.length);
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

/** Streams a body; a client that goes away ends the read (no leaked file handles). */
export async function sendStream(req: IncomingMessage, res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body: Readable): Promise<void> {
  writeHead(res, status, headers, undefined, undefined);
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
