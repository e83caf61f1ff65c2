import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import type { Reply } from './assertions.ts';

/**
 * One request with the path sent byte for byte. `new URL()` (and so fetch) resolves `..`, `.` and
 * `%2e%2e` segments before anything leaves the client, which would hide exactly the input the
 * bad-input tests exist to send; node:http's `path` option does not touch it.
 */
export interface RawOptions {
  readonly method?: string;
  readonly headers?: OutgoingHttpHeaders;
  readonly body?: Buffer | string;
}

export async function sendRaw(base: string, rawPath: string, options: RawOptions = {}): Promise<Reply> {
  const { hostname, port } = new URL(base);
  const method = options.method ?? 'GET';
  return new Promise<Reply>((resolve, reject) => {
    const req = httpRequest({ hostname, port, path: rawPath, method, headers: options.headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
        resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(parts), method, url: rawPath });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}
