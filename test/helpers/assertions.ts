import assert from 'node:assert/strict';

/** A response read whole, so a failed assertion can print all of it. */
export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Buffer;
  readonly method: string;
  readonly url: string;
}

export function describe(reply: Reply): string {
  const headers = [...reply.headers.entries()].map(([k, v]) => `  ${k}: ${v}`).join('\n');
  const text = reply.body.length > 2000 ? `${reply.body.subarray(0, 2000).toString()}…` : reply.body.toString();
  return `${reply.method} ${reply.url} → ${reply.status}\n${headers}\n\n${text}`;
}

/** Asserts the status; on failure prints the whole response (distribution's maybeDumpResponse). */
export function expectStatus(reply: Reply, status: number): void {
  assert.equal(reply.status, status, `expected ${status}\n${describe(reply)}`);
}

/** Asserts an OCI error body `{"errors":[{"code",...}]}` with exactly these codes, and its status. */
export function expectError(reply: Reply, status: number, ...codes: string[]): void {
  expectStatus(reply, status);
  if (reply.method === 'HEAD') return;
  const body = JSON.parse(reply.body.toString()) as { errors?: { code: string; message: unknown }[] };
  assert.ok(Array.isArray(body.errors), `no errors array\n${describe(reply)}`);
  assert.deepEqual(
    body.errors.map((e) => e.code),
    codes,
    describe(reply),
  );
  for (const e of body.errors) assert.equal(typeof e.message, 'string');
}

export function expectHeader(reply: Reply, name: string, value: string | RegExp): void {
  const actual = reply.headers.get(name);
  if (value instanceof RegExp) assert.match(actual ?? '', value, `header ${name}\n${describe(reply)}`);
  else assert.equal(actual, value, `header ${name}\n${describe(reply)}`);
}
