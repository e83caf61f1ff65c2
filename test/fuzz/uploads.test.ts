import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { describe } from '../helpers/assertions.ts';
import { pushBlobMonolithic } from '../helpers/manifest-fixtures.ts';
import { sha256, startUpload } from '../helpers/oci-client.ts';
import { headerJunk } from './generators.ts';
import { checkProperty, checkReply, codeOf, expectAlive, expectOutcome, fire, fireChecked, fireRaw, openStalled, startFuzzRegistry, type RawReply } from './harness.ts';

/*
 * Property-based tests of byte ranges and lengths: Range on blob GET/HEAD (RFC 9110), chunked
 * uploads driven against a model (Content-Range end-5, status end-13, PUT end-6, cancel), and
 * Content-Length that disagrees with the body on the wire (a bare socket).
 */

const { url, tally } = await startFuzzRegistry('uploads');

const BLOBS = [Buffer.alloc(0), Buffer.from('x'), Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 31) & 0xff))];
const blobDigests = await Promise.all(BLOBS.map((b) => pushBlobMonolithic(url, 'app', b)));

/** Numbers a range may carry: small, at the edges of the 1000-byte blob, and past every integer limit. */
const offset = fc.oneof(
  { weight: 4, arbitrary: fc.nat(1100) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 998, 999, 1000, 1001, 2 ** 31, 2 ** 32, 2 ** 53 - 1, 2 ** 53 + 1, 1e16) },
);
const bigDigits = fc.constantFrom('9999999999999999', '99999999999999999', '18446744073709551616', '1'.repeat(60), '00000000000000000000001', '-0', '+5', '0x10', '1e3', '1.5');
const rangeHeader = fc.oneof(
  fc.tuple(offset, offset).map(([a, b]) => `bytes=${a}-${b}`),
  offset.map((a) => `bytes=${a}-`),
  offset.map((s) => `bytes=-${s}`),
  fc.tuple(offset, offset, offset, offset).map(([a, b, c, d]) => `bytes=${a}-${b},${c}-${d}`),
  fc.tuple(offset, offset).map(([a, b]) => `bytes=${a}-${b - 2 * a}`),
  fc.tuple(bigDigits, fc.oneof(bigDigits, offset.map(String))).map(([a, b]) => `bytes=${a}-${b}`),
  fc.tuple(fc.constantFrom('Bytes', 'BYTES', 'items', 'bytes ', ' bytes', 'bytes=bytes'), offset, offset).map(([u, a, b]) => `${u}=${a}-${b}`),
  fc.tuple(offset, offset).map(([a, b]) => `bytes=-${a}-${b}`),
  fc.constantFrom('bytes=', 'bytes=-', 'bytes=--', 'bytes=0--1', 'bytes=,', 'bytes=0-0,', '=', '', ' ', 'bytes=\t0-1', 'bytes=0-1 ', 'bytes = 0-1'),
  headerJunk(30),
);

/** What RFC 9110 §14 allows for one `bytes=first-last`, `bytes=first-` or `bytes=-suffix` on `size` bytes. */
function allowedRange(header: string, size: number): { start: number; end: number } | 'unsatisfiable' | 'unusable' {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return 'unusable';
  if (match[1] === '') {
    const suffix = Number(match[2]);
    return suffix === 0 || size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const first = Number(match[1]);
  const last = match[2] === '' ? Infinity : Number(match[2]);
  if (last < first) return 'unusable';
  if (first >= size) return 'unsatisfiable';
  return { start: first, end: Math.min(last, size - 1) };
}

test('fuzz uploads (end-2): Range on a blob GET/HEAD → 200 whole, 206 exactly the range asked for, or 416 only when nothing of it exists', async () => {
  const input = fc.record({ method: fc.constantFrom('GET', 'HEAD'), blob: fc.constantFrom(0, 1, 2, 2, 2), range: rangeHeader });
  await checkProperty(tally, 'Range', input, 300, async ({ method, blob, range }) => {
    const bytes = BLOBS[blob] as Buffer;
    const reply = await fireChecked(url, tally, { method, path: `/v2/app/blobs/${blobDigests[blob]}`, headers: { range } });
    const allowed = allowedRange(range, bytes.length);
    const why = `Range ${JSON.stringify(range)} on ${bytes.length} bytes (RFC 9110 reading: ${JSON.stringify(allowed)})`;
    if (reply.status === 200) {
      assert.equal(reply.headers.get('content-length'), String(bytes.length), `${why}\n${describe(reply)}`);
      if (method === 'GET') assert.ok(reply.body.equals(bytes), `${why}: 200 body is not the blob`);
    } else if (reply.status === 206) {
      assert.ok(typeof allowed === 'object', `${why}: 206 for a range the RFC does not satisfy\n${describe(reply)}`);
      assert.equal(reply.headers.get('content-range'), `bytes ${allowed.start}-${allowed.end}/${bytes.length}`, `${why}\n${describe(reply)}`);
      assert.equal(reply.headers.get('content-length'), String(allowed.end - allowed.start + 1), `${why}\n${describe(reply)}`);
      if (method === 'GET') assert.ok(reply.body.equals(bytes.subarray(allowed.start, allowed.end + 1)), `${why}: 206 body is not the range`);
    } else {
      expectOutcome(reply, 416, 'BLOB_UNKNOWN', why);
      assert.equal(allowed, 'unsatisfiable', `${why}: 416 for a satisfiable or unusable range\n${describe(reply)}`);
      assert.equal(reply.headers.get('content-range'), `bytes */${bytes.length}`, `${why}\n${describe(reply)}`);
    }
  });
  await expectAlive(url, tally);
});

/** One step of a chunked upload. */
type Step =
  | { kind: 'patch'; length: number; range: RangeChoice }
  | { kind: 'status' }
  | { kind: 'put'; length: number; range: RangeChoice; digest: 'right' | 'wrong' | 'sha512' }
  | { kind: 'cancel' };
/** Content-Range of a chunk: none, right, moved off the upload's size, right start with a length that is not the body's, or junk. */
type RangeChoice = { kind: 'none' } | { kind: 'exact'; rfc: boolean } | { kind: 'shifted'; by: number } | { kind: 'resized'; by: number } | { kind: 'raw'; value: string };

const rangeChoice: fc.Arbitrary<RangeChoice> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: 'none' } as const) },
  { weight: 4, arbitrary: fc.boolean().map((rfc) => ({ kind: 'exact', rfc }) as const) },
  { weight: 2, arbitrary: fc.oneof(fc.integer({ min: -20, max: 20 }), fc.constantFrom(2 ** 40, -(2 ** 20))).filter((by) => by !== 0).map((by) => ({ kind: 'shifted', by }) as const) },
  { weight: 2, arbitrary: fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom(2 ** 40, 2 ** 53)).filter((by) => by !== 0).map((by) => ({ kind: 'resized', by }) as const) },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc.constantFrom('-1', '-5-3', '0-', '-', '5-2', '0-99999999999999999999', '99999999999999999-99999999999999999', '0-0/0', 'bytes 0-0/*', 'bytes=0-0', 'bytes */0', '0 - 0', '00-00', '+0-+0', '0x0-0x0', '0-1,2-3'),
        headerJunk(20),
      )
      .map((value) => ({ kind: 'raw', value }) as const),
  },
);
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('patch' as const), length: fc.oneof(fc.nat(64), fc.constant(0), fc.integer({ min: 1000, max: 70_000 })), range: rangeChoice }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'status' } as const) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('put' as const), length: fc.oneof(fc.constant(0), fc.nat(32)), range: rangeChoice, digest: fc.constantFrom('right', 'right', 'wrong', 'sha512') }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'cancel' } as const) },
);

function contentRange(choice: RangeChoice, offset: number, length: number): string | undefined {
  if (choice.kind === 'none') return undefined;
  if (choice.kind === 'raw') return choice.value;
  const start = choice.kind === 'shifted' ? offset + choice.by : offset;
  const end = start + length - 1 + (choice.kind === 'resized' ? choice.by : 0);
  const text = `${start}-${end}`;
  return choice.kind === 'exact' && choice.rfc ? `bytes ${text}/*` : text;
}

/**
 * Whether a chunk must be taken (true), must be refused (false), or either is defensible: a
 * Content-Range in both spellings that starts at the upload's size and spans the body is taken;
 * one that starts elsewhere or spans another length is refused (end-5: 416).
 */
function rangeAccepted(choice: RangeChoice, length: number): boolean | 'either' {
  if (choice.kind === 'none') return true;
  if (choice.kind === 'raw' || length === 0) return 'either';
  return choice.kind === 'exact';
}

function bodyOf(length: number, seed: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => (i * 131 + seed * 17) & 0xff));
}

test('fuzz uploads (end-5, end-6, end-13): chunk sequences with every kind of Content-Range and Content-Length follow the upload model', async () => {
  const input = fc.array(step, { minLength: 1, maxLength: 6 });
  await checkProperty(tally, 'upload sequences', input, 60, async (steps) => {
    const location = await startUpload(url, 'app');
    const model = { open: true, data: Buffer.alloc(0) };
    for (const [i, s] of steps.entries()) {
      const why = `step ${i} ${JSON.stringify(s)} at offset ${model.data.length}`;
      if (s.kind === 'status') {
        const reply = await fireChecked(url, tally, { method: 'GET', path: location });
        if (!model.open) expectOutcome(reply, 404, 'BLOB_UPLOAD_UNKNOWN', why);
        else {
          assert.equal(reply.status, 204, `${why}\n${describe(reply)}`);
          assert.equal(reply.headers.get('range'), `0-${Math.max(0, model.data.length - 1)}`, `${why}\n${describe(reply)}`);
        }
        continue;
      }
      if (s.kind === 'cancel') {
        const reply = await fireChecked(url, tally, { method: 'DELETE', path: location });
        if (!model.open) expectOutcome(reply, 404, 'BLOB_UPLOAD_UNKNOWN', why);
        else assert.equal(reply.status, 204, `${why}\n${describe(reply)}`);
        model.open = false;
        continue;
      }
      const body = bodyOf(s.length, i);
      const range = contentRange(s.range, model.data.length, body.length);
      const headers: Record<string, string> = { 'content-type': 'application/octet-stream', ...(range !== undefined ? { 'content-range': range } : {}) };
      if (s.kind === 'patch') {
        // Content-Length here always matches the body (node:http sets it); a wire length that lies is the bare-socket property below.
        const reply = await fireChecked(url, tally, { method: 'PATCH', path: location, headers, body });
        if (!model.open) {
          expectOutcome(reply, 404, 'BLOB_UPLOAD_UNKNOWN', why);
          continue;
        }
        const accepted = rangeAccepted(s.range, body.length);
        if (reply.status === 202) {
          assert.notEqual(accepted, false, `${why}: a chunk at the wrong offset was taken\n${describe(reply)}`);
          model.data = Buffer.concat([model.data, body]);
          assert.equal(reply.headers.get('range'), `0-${Math.max(0, model.data.length - 1)}`, `${why}\n${describe(reply)}`);
        } else {
          assert.notEqual(accepted, true, `${why}: an in-order chunk was refused\n${describe(reply)}`);
          assert.ok(reply.status === 416 || reply.status === 400, `${why}\n${describe(reply)}`);
        }
        continue;
      }
      // PUT: the last chunk (maybe empty) and the digest of everything.
      const all = Buffer.concat([model.data, body]);
      const digest = s.digest === 'right' ? sha256(all) : s.digest === 'sha512' ? `sha512:${createHash('sha512').update(all).digest('hex')}` : sha256(Buffer.concat([all, Buffer.from('x')]));
      const reply = await fireChecked(url, tally, { method: 'PUT', path: `${location}?digest=${digest}`, headers, body });
      if (!model.open) {
        expectOutcome(reply, 404, 'BLOB_UPLOAD_UNKNOWN', why);
        continue;
      }
      const accepted = rangeAccepted(s.range, body.length);
      if (reply.status === 201) {
        assert.notEqual(accepted, false, `${why}: a last chunk at the wrong offset was taken\n${describe(reply)}`);
        assert.notEqual(s.digest, 'wrong', `${why}: a wrong digest was accepted\n${describe(reply)}`);
        const blob = await fireChecked(url, tally, { method: 'GET', path: `/v2/app/blobs/${digest}` });
        assert.equal(blob.status, 200, describe(blob));
        assert.ok(blob.body.equals(all), `${why}: the stored blob is not what was uploaded`);
        model.open = false;
      } else if (reply.status === 400 && codeOf(reply) === 'DIGEST_INVALID') {
        assert.equal(s.digest, 'wrong', `${why}: a right digest was refused\n${describe(reply)}`);
        // The last chunk is appended before the digest is checked, and stays: the upload goes on from there.
        const status = await fireChecked(url, tally, { method: 'GET', path: location });
        assert.equal(status.status, 204, `${why}: the upload is gone after a refused PUT\n${describe(status)}`);
        const size = body.length === 0 && model.data.length === 0 ? 0 : Number((status.headers.get('range') ?? '').split('-')[1]) + 1;
        const expected = accepted === true ? [all.length] : accepted === false ? [model.data.length] : [model.data.length, all.length];
        assert.ok(expected.includes(size), `${why}: upload holds ${size} bytes after a refused PUT, expected ${expected.join(' or ')}\n${describe(status)}`);
        model.data = size === all.length ? all : model.data;
      } else {
        // A last chunk whose Content-Range is not the upload's next bytes: 416 (end-6), or a 400 that says why.
        assert.ok(reply.status === 416 || reply.status === 400, `${why}\n${describe(reply)}`);
        assert.notEqual(accepted, true, `${why}: an in-order last chunk was refused\n${describe(reply)}`);
      }
    }
    if (model.open) await fire(url, tally, { method: 'DELETE', path: location });
  });
  await expectAlive(url, tally);
});

/** A request as bytes on the wire, with a Content-Length that need not match the body. */
interface WireInput {
  readonly target: 'patch' | 'put-upload' | 'post-digest' | 'put-manifest';
  readonly framing: 'short-then-pipelined' | 'short-then-garbage' | 'long-then-eof' | 'long-held-open' | 'bad-length' | 'length-and-chunked';
  readonly length: number;
  readonly delta: number;
  readonly badLength: string;
  readonly garbage: string;
}

const wireInput: fc.Arbitrary<WireInput> = fc.record({
  target: fc.constantFrom('patch', 'patch', 'put-upload', 'post-digest', 'put-manifest'),
  framing: fc.constantFrom('short-then-pipelined', 'short-then-pipelined', 'short-then-garbage', 'long-then-eof', 'long-then-eof', 'long-held-open', 'bad-length', 'length-and-chunked'),
  length: fc.integer({ min: 1, max: 5000 }),
  delta: fc.oneof(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 11, max: 100_000 })),
  badLength: fc.constantFrom('-1', 'abc', '1e3', '0x10', '5, 5', '5,6', '99999999999999999999', '+5', ' ', '5 5'),
  garbage: fc.oneof(headerJunk(30), fc.constantFrom('GARBAGE\r\n\r\n', 'HTTP/1.1 200 OK\r\n\r\n', '\r\n\r\n', 'G')),
});

test('fuzz uploads: Content-Length that disagrees with the bytes sent → never a 5xx or a hang, and the upload stays usable', async () => {
  await checkProperty(tally, 'Content-Length on the wire', wireInput, 70, async (w) => {
    const location = await startUpload(url, 'app');
    const body = bodyOf(w.length, w.delta);
    const path =
      w.target === 'patch' ? location
      : w.target === 'put-upload' ? `${location}?digest=${sha256(body)}`
      : w.target === 'post-digest' ? `/v2/app/blobs/uploads/?digest=${sha256(body)}`
      : '/v2/app/manifests/wire';
    const method = w.target === 'patch' ? 'PATCH' : w.target === 'post-digest' ? 'POST' : 'PUT';
    const declared =
      w.framing === 'bad-length' ? w.badLength
      : w.framing.startsWith('short') ? String(Math.max(0, w.length - w.delta))
      : String(w.length + w.delta);
    const head = [`${method} ${path} HTTP/1.1`, 'Host: fuzz', 'Content-Type: application/octet-stream', `Content-Length: ${declared}`];
    if (w.framing === 'length-and-chunked') head.push('Transfer-Encoding: chunked');
    // Pipelined: exactly Content-Length bytes, then a whole request. Garbage: the whole body, whose excess and the junk after it are no request.
    const sent = w.framing === 'short-then-pipelined' ? body.subarray(0, Number(declared)) : body;
    const trailing = w.framing === 'short-then-pipelined' ? 'GET /v2/ HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n' : w.framing === 'short-then-garbage' ? w.garbage : '';
    const bytes = Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), sent, Buffer.from(trailing, 'latin1')]);

    if (w.framing === 'long-held-open') {
      // The client stalls mid-body and keeps the connection. Another request on the same upload must still get an answer.
      const stalled = await openStalled(url, bytes);
      try {
        await new Promise((resolve) => setTimeout(resolve, 50));
        await fireChecked(url, tally, { method: 'PATCH', path: location, headers: { 'content-range': '0-2' }, body: 'xyz' });
      } finally {
        stalled.close();
      }
      await expectAlive(url, tally);
      return;
    }
    const replies = await fireRaw(url, tally, bytes, {
      method,
      path,
      // Only a body cut short ends with our FIN. After a complete request a FIN makes node abort it
      // unanswered (http.Server's httpAllowHalfOpen is false), which is node's choice, not under test here.
      halfClose: w.framing === 'long-then-eof',
      expectReplies: w.framing === 'short-then-pipelined' ? 2 : 1,
    });
    // A body cut short by the client's FIN is an abort: node closes the socket (httpAllowHalfOpen
    // is false) and there is nobody left to answer. Everything else gets a reply.
    assert.ok(replies.length > 0 || w.framing === 'long-then-eof', `no reply at all to ${JSON.stringify(w)}`);
    for (const reply of replies) checkRawReply(reply);
    if (w.framing === 'short-then-pipelined') {
      // The first request got exactly Content-Length bytes; the rest was the next request.
      assert.equal(replies.length, 2, `pipelined GET /v2/ unanswered for ${JSON.stringify(w)}`);
      assert.equal(replies[1]?.status, 200, describe(replies[1] ?? replies[0] as RawReply));
      if (w.target === 'patch' && replies[0]?.status === 202) assert.equal(replies[0].headers.get('range'), `0-${Math.max(0, Number(declared) - 1)}`, describe(replies[0]));
    }
    // The upload is not wedged: it answers its status, and a DELETE (which takes the upload's lock) answers in time.
    if (w.target === 'patch' || w.target === 'put-upload') {
      const status = await fireChecked(url, tally, { method: 'GET', path: location });
      assert.ok(status.status === 204 || status.status === 404, describe(status));
      const cancel = await fireChecked(url, tally, { method: 'DELETE', path: location });
      assert.ok(cancel.status === 204 || cancel.status === 404, describe(cancel));
    }
    await expectAlive(url, tally);
  });
});

/** checkReply for raw-socket replies: node's parser refusals too must carry an OCI body now. */
function checkRawReply(reply: RawReply): void {
  checkReply(reply);
}

/** One request of a burst fired at a single upload all at once. */
type RaceOp = { kind: 'patch-at-0'; length: number } | { kind: 'patch-append'; length: number } | { kind: 'put'; length: number } | { kind: 'status' } | { kind: 'cancel' };
const raceOp: fc.Arbitrary<RaceOp> = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 5000 }).map((length) => ({ kind: 'patch-at-0', length }) as const) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 5000 }).map((length) => ({ kind: 'patch-append', length }) as const) },
  { weight: 1, arbitrary: fc.nat(100).map((length) => ({ kind: 'put', length }) as const) },
  { weight: 1, arbitrary: fc.constant({ kind: 'status' } as const) },
  { weight: 1, arbitrary: fc.constant({ kind: 'cancel' } as const) },
);

test('fuzz uploads: a burst of concurrent PATCH, PUT, GET and DELETE on one upload → no 5xx, one winner per offset, and a size that adds up', async () => {
  await checkProperty(tally, 'concurrent bursts', fc.array(raceOp, { minLength: 2, maxLength: 6 }), 40, async (ops) => {
    const location = await startUpload(url, 'app');
    const replies = await Promise.all(
      ops.map((op, i) => {
        if (op.kind === 'status') return fireChecked(url, tally, { method: 'GET', path: location });
        if (op.kind === 'cancel') return fireChecked(url, tally, { method: 'DELETE', path: location });
        const body = bodyOf(op.length, 100 + i);
        if (op.kind === 'put') return fireChecked(url, tally, { method: 'PUT', path: `${location}?digest=${sha256(body)}`, body });
        const headers: Record<string, string> = op.kind === 'patch-at-0' ? { 'content-range': `0-${op.length - 1}` } : {};
        return fireChecked(url, tally, { method: 'PATCH', path: location, headers, body });
      }),
    );
    const why = `burst ${JSON.stringify(ops)} → ${replies.map((r) => r.status).join(' ')}`;
    const accepted = ops.filter((op, i) => op.kind.startsWith('patch') && replies[i]?.status === 202);
    const atZero = ops.filter((op, i) => op.kind === 'patch-at-0' && replies[i]?.status === 202);
    assert.ok(atZero.length <= 1, `${why}: two chunks both accepted at offset 0`);
    const ended = ops.some((op, i) => (op.kind === 'cancel' && replies[i]?.status === 204) || (op.kind === 'put' && replies[i]?.status === 201));
    const status = await fireChecked(url, tally, { method: 'GET', path: location });
    if (ended) return expectOutcome(status, 404, 'BLOB_UPLOAD_UNKNOWN', `${why}: cancelled or committed, yet still there`);
    assert.equal(status.status, 204, `${why}\n${describe(status)}`);
    const size = accepted.reduce((sum, op) => sum + (op.kind === 'put' || op.kind === 'status' || op.kind === 'cancel' ? 0 : op.length), 0);
    // Refused PUTs append their body before the digest check (see the sequence property): count them as they are.
    const puts = ops.filter((op, i) => op.kind === 'put' && replies[i]?.status === 400).reduce((sum, op) => sum + (op.kind === 'put' ? op.length : 0), 0);
    const range = status.headers.get('range') ?? '';
    const held = size + puts === 0 ? '0-0' : `0-${size + puts - 1}`;
    assert.equal(range, held, `${why}: the upload holds another size than the accepted chunks add up to\n${describe(status)}`);
    await fire(url, tally, { method: 'DELETE', path: location });
  });
  await expectAlive(url, tally);
});
