import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { bcrypt } from 'hash-wasm';
import { acceptsHtml, CONTENT_SECURITY_POLICY, matchesEtag } from '../../src/ui/handlers.ts';
import { describe, expectError, expectHeader, expectStatus, type Reply } from '../helpers/assertions.ts';
import { send } from '../helpers/oci-client.ts';
import { startRegistry } from '../helpers/registry.ts';

/**
 * The web UI over plain HTTP (issue 11, "A web page"): what `/` answers, the page and its files,
 * their CSP and caching headers, 404s and 405s, and that auth applies to the API the page reads,
 * not to the files.
 */

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';

/** The hashed names the page links to: { js, css, icon }. */
function linkedAssets(page: Reply): { js: string; css: string; icon: string } {
  const html = page.body.toString('utf8');
  const js = /<script src="(\/ui\/app\.[0-9a-f]{16}\.js)" defer><\/script>/.exec(html)?.[1];
  const css = /<link rel="stylesheet" href="(\/ui\/app\.[0-9a-f]{16}\.css)">/.exec(html)?.[1];
  const icon = /<link rel="icon" href="(\/ui\/icon\.[0-9a-f]{16}\.svg)"/.exec(html)?.[1];
  assert.ok(js && css && icon, `hashed asset links\n${describe(page)}`);
  return { js, css, icon };
}

function expectUiHeaders(reply: Reply, contentType: RegExp, cacheControl: string): void {
  expectHeader(reply, 'content-security-policy', CONTENT_SECURITY_POLICY);
  expectHeader(reply, 'content-type', contentType);
  expectHeader(reply, 'cache-control', cacheControl);
  expectHeader(reply, 'etag', /^"[0-9a-f]{32}"$/);
  expectHeader(reply, 'x-content-type-options', 'nosniff');
  expectHeader(reply, 'x-frame-options', 'DENY');
  expectHeader(reply, 'referrer-policy', 'no-referrer');
}

test('GET /ui/: the page, with a strict CSP, no-cache + ETag, and hashed links to its script, stylesheet and icon', async (t) => {
  const { url } = await startRegistry(t);
  const page = await send(url, '/ui/');
  expectStatus(page, 200);
  expectUiHeaders(page, /^text\/html; charset=utf-8$/, 'no-cache');
  assert.equal(CONTENT_SECURITY_POLICY, "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
  const html = page.body.toString('utf8');
  // Nothing the CSP would refuse: no inline script, no inline style, no event-handler attributes.
  assert.doesNotMatch(html, /<script(?![^>]*\ssrc=)[^>]*>/i, 'inline <script>');
  assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=/i, 'inline style or handler');
  // Nothing from outside the registry.
  assert.doesNotMatch(html, /(?:src|href)="(?:https?:)?\/\//i);
  linkedAssets(page);
});

test('UI assets: hashed names, immutable caching, the right types, CSP, and a 304 for a matching If-None-Match', async (t) => {
  const { url } = await startRegistry(t);
  const page = await send(url, '/ui/');
  const { js, css, icon } = linkedAssets(page);
  for (const [path, type] of [[js, /^text\/javascript; charset=utf-8$/], [css, /^text\/css; charset=utf-8$/], [icon, /^image\/svg\+xml$/]] as const) {
    const reply = await send(url, path);
    expectStatus(reply, 200);
    expectUiHeaders(reply, type, 'public, max-age=31536000, immutable');
    // The name carries the bytes' hash: the first 16 hex of their SHA-256.
    const { createHash } = await import('node:crypto');
    assert.equal(path.split('.').at(-2), createHash('sha256').update(reply.body).digest('hex').slice(0, 16));
    const etag = reply.headers.get('etag') ?? '';
    for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const cached = await send(url, path, { headers: { 'if-none-match': ifNoneMatch } });
      expectStatus(cached, 304);
      assert.equal(cached.body.length, 0);
      expectHeader(cached, 'etag', etag);
      expectHeader(cached, 'cache-control', 'public, max-age=31536000, immutable');
      expectHeader(cached, 'content-security-policy', CONTENT_SECURITY_POLICY);
    }
    expectStatus(await send(url, path, { headers: { 'if-none-match': '"something-else"' } }), 200);
    const head = await send(url, path, { method: 'HEAD' });
    expectStatus(head, 200);
    assert.equal(head.body.length, 0);
    expectHeader(head, 'content-length', String(reply.body.length));
  }
  // The page revalidates too.
  const etag = page.headers.get('etag') ?? '';
  expectStatus(await send(url, '/ui/', { headers: { 'if-none-match': etag } }), 304);
  // The script fetches nothing but this registry's /v2/ (relative paths only).
  const script = (await send(url, js)).body.toString('utf8');
  assert.ok(!/fetch\(\s*['"`]https?:/.test(script), 'a fetch of an absolute URL');
  // Pushed names and annotations never become markup or code.
  const unsafe = /\.(?:inner|outer)HTML\s*=|insertAdjacentHTML\(|document\.write\(|\beval\(|new Function\(|setAttribute\(\s*['"]style/.exec(script);
  assert.equal(unsafe, null, `unsafe DOM use: ${unsafe?.[0]}`);
});

test('GET /: a browser (Accept: text/html) is redirected to /ui/; API clients get the 404 / has always answered', async (t) => {
  const { url } = await startRegistry(t);
  for (const accept of [BROWSER_ACCEPT, 'text/html', 'TEXT/HTML; q=0.5']) {
    for (const method of ['GET', 'HEAD']) {
      const reply = await send(url, '/', { method, headers: { accept } });
      expectStatus(reply, 302);
      expectHeader(reply, 'location', '/ui/');
      expectHeader(reply, 'vary', 'Accept');
    }
  }
  // What / answers without text/html is what any path that is no route answers: 404 ROUTE_UNKNOWN.
  const unrouted = await send(url, '/no-such-path');
  expectError(unrouted, 404, 'UNSUPPORTED');
  for (const headers of [{}, { accept: '*/*' }, { accept: 'application/json' }, { accept: 'application/vnd.oci.image.manifest.v1+json' }, { accept: 'text/html;q=0' }, { accept: 'text/*' }]) {
    const reply = await send(url, '/', { headers });
    expectError(reply, 404, 'UNSUPPORTED');
    expectHeader(reply, 'content-type', unrouted.headers.get('content-type') ?? '');
    assert.equal(reply.headers.get('location'), null);
    expectHeader(reply, 'vary', 'Accept');
  }
  expectStatus(await send(url, '/', { method: 'HEAD' }), 404);
  // /ui without its slash: to the page.
  const bare = await send(url, '/ui');
  expectStatus(bare, 301);
  expectHeader(bare, 'location', '/ui/');
});

test('UI paths that are not the page or a current asset: 404; other methods: 405; nothing UI on /v2/', async (t) => {
  const { url } = await startRegistry(t);
  for (const path of ['/ui/app.js', '/ui/app.css', '/ui/index.html', '/ui/app.0000000000000000.js', '/ui/nope', '/ui/a/b', '/ui//', '/ui/%2e%2e/v2/', '/uix', '/ui/app.js?v=1']) {
    expectError(await send(url, path), 404, 'UNSUPPORTED');
  }
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    expectError(await send(url, '/ui/', { method }), 405, 'UNSUPPORTED');
    expectError(await send(url, '/', { method }), 405, 'UNSUPPORTED');
  }
  // Query strings don't change the page.
  expectStatus(await send(url, '/ui/?x=1'), 200);
  // The API's responses carry none of the UI's headers (nothing was added to the /v2 path).
  const base = await send(url, '/v2/', { headers: { accept: BROWSER_ACCEPT } });
  expectStatus(base, 200);
  assert.equal(base.headers.get('content-security-policy'), null);
  assert.equal(base.headers.get('location'), null);
});

test('UI under storage.maintenance.readonly: the page is served (reads go on)', async (t) => {
  const { url } = await startRegistry(t, { maintenance: { readonly: { enabled: true } } });
  expectStatus(await send(url, '/ui/'), 200);
});

async function htpasswdFile(t: TestContext, user: string, password: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'quayside-ui-htpasswd-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const hash = await bcrypt({ password, salt: randomBytes(16), costFactor: 5 });
  const file = join(dir, 'htpasswd');
  await writeFile(file, `${user}:${hash.replace(/^\$2[ab]\$/, '$2y$')}\n`);
  return file;
}

test('UI under auth.htpasswd: the page and its files need no login (they hold no data); the API it reads asks for one as always; / still 404s for API clients', async (t) => {
  const path = await htpasswdFile(t, 'alice', 's3cret');
  const { url } = await startRegistry(t, { config: { auth: { htpasswd: { realm: 'Quayside UI', path } } } });
  const page = await send(url, '/ui/');
  expectStatus(page, 200);
  const { js, css } = linkedAssets(page);
  expectStatus(await send(url, js), 200);
  expectStatus(await send(url, css), 200);
  const redirect = await send(url, '/', { headers: { accept: BROWSER_ACCEPT } });
  expectStatus(redirect, 302);
  // As before the UI existed: a path that is no route is a 404 before any auth.
  expectError(await send(url, '/'), 404, 'UNSUPPORTED');
  // The data: the browser gets the Basic challenge it answers with its login prompt.
  for (const api of ['/v2/', '/v2/_catalog', '/v2/acme/web/tags/list']) {
    const reply = await send(url, api, { headers: { accept: 'application/json' } });
    expectError(reply, 401, 'UNAUTHORIZED');
    expectHeader(reply, 'www-authenticate', 'Basic realm="Quayside UI"');
  }
  const authorization = `Basic ${Buffer.from('alice:s3cret').toString('base64')}`;
  expectStatus(await send(url, '/v2/_catalog', { headers: { authorization } }), 200);
});

test('acceptsHtml: only an explicit text/html with q > 0', () => {
  assert.equal(acceptsHtml(BROWSER_ACCEPT), true);
  assert.equal(acceptsHtml('application/json, text/html;q=0.1'), true);
  assert.equal(acceptsHtml(' text/html ; charset=utf-8'), true);
  for (const accept of [undefined, '', '*/*', 'text/*', 'text/html;q=0', 'text/html;q=0.0', 'application/xhtml+xml', 'text/htmlx']) {
    assert.equal(acceptsHtml(accept), false, String(accept));
  }
});

test('matchesEtag: RFC 9110 If-None-Match, weak comparison', () => {
  assert.equal(matchesEtag('"a"', '"a"'), true);
  assert.equal(matchesEtag('W/"a"', '"a"'), true);
  assert.equal(matchesEtag('"b", "a"', '"a"'), true);
  assert.equal(matchesEtag('*', '"a"'), true);
  assert.equal(matchesEtag(undefined, '"a"'), false);
  assert.equal(matchesEtag('"b"', '"a"'), false);
  assert.equal(matchesEtag('a', '"a"'), false);
});
