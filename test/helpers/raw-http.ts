import { connect } from 'node:net';
import type { Reply } from './assertions.ts';

/** Everything the server wrote on one connection until it closed, split at the first header block. */
export interface RawExchange {
  /** The first response, parsed; `body` is every byte the server wrote after its header block. */
  readonly reply: Reply;
  /** The bytes as they came off the socket. */
  readonly raw: Buffer;
}

/**
 * Writes `request` (whole, as bytes) on a fresh connection and reads until the server closes it.
 * Node's own HTTP client drops any body that follows a HEAD response, so only a raw socket can
 * show that the server sent none; the request should carry `Connection: close`.
 */
export async function rawExchange(base: string, request: string | Buffer, label: { method: string; path: string }, timeoutMs = 30_000): Promise<RawExchange> {
  const { hostname, port } = new URL(base);
  const raw = await new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    const socket = connect(Number(port), hostname, () => socket.write(request));
    const timer = setTimeout(() => socket.destroy(new Error(`no close after ${label.method} ${label.path} within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', (chunk: Buffer) => parts.push(chunk));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(parts));
    });
  });
  return { reply: parseResponse(raw, label), raw };
}

/** `METHOD path` with Host and Connection: close, and any extra header lines. */
export function rawRequest(method: string, path: string, base: string, headers: readonly string[] = []): string {
  return [`${method} ${path} HTTP/1.1`, `Host: ${new URL(base).host}`, ...headers, 'Connection: close', '', ''].join('\r\n');
}

function parseResponse(raw: Buffer, label: { method: string; path: string }): Reply {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`no complete header block in ${JSON.stringify(raw.toString('latin1').slice(0, 500))}`);
  const [statusLine = '', ...lines] = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = /^HTTP\/1\.1 (\d{3})/.exec(statusLine);
  if (!status) throw new Error(`not an HTTP/1.1 status line: ${statusLine}`);
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return { status: Number(status[1]), headers, body: raw.subarray(end + 4), method: label.method, url: label.path };
}
