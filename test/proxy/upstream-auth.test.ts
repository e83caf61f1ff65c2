import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { expectError, expectStatus } from '../helpers/assertions.ts';
import { sha256 } from '../helpers/oci-client.ts';
import { peersSkipReason } from '../helpers/peers.ts';
import { makePki, mintToken, type Pki } from '../helpers/pki.ts';
import { startRegistry } from '../helpers/registry.ts';
import { cached, get, htpasswdFile, pushRandomImage, startCountingProxy, startUpstream } from './upstreams.ts';

/**
 * Upstream auth against the reference registry: docker-registry with htpasswd (HTTP Basic), and
 * docker-registry with auth.token trusting a tiny token issuer this test runs (the Docker token
 * flow: 401 Bearer realm/service/scope → GET realm?service=&scope= → retry with the token).
 * Content is pushed through a second docker-registry without auth on the same root.
 */
const skip = await peersSkipReason();
const USER = 'cache';
const PASSWORD = 'pull-secret';

test('proxy upstream auth: htpasswd (Basic) upstream with proxy.username/password; wrong password → uncached is 404 naming the refusal', { skip }, async (t) => {
  const seed = await startUpstream(t);
  const image = await pushRandomImage(seed.url, 'team/app', 'v1', 20_000);
  const upstream = await startUpstream(t, { root: seed.root, auth: { htpasswd: { realm: 'upstream', path: await htpasswdFile(t, USER, PASSWORD) } } });
  expectError(await get(upstream.url, '/v2/team/app/manifests/v1'), 401, 'UNAUTHORIZED');

  const cache = await startRegistry(t, { config: { proxy: { remoteurl: upstream.url, username: USER, password: PASSWORD } } });
  const manifest = await get(cache.url, '/v2/team/app/manifests/v1');
  expectStatus(manifest, 200);
  assert.deepEqual(manifest.body, image.manifest.bytes);
  for (const blob of [image.config, ...image.layers]) assert.equal(sha256((await get(cache.url, `/v2/team/app/blobs/${blob.digest}`)).body), blob.digest);
  await cached(cache.root, [image.config, ...image.layers].map((b) => b.digest));

  const wrong = await startRegistry(t, { config: { proxy: { remoteurl: upstream.url, username: USER, password: 'wrong' } } });
  const refused = await get(wrong.url, '/v2/team/app/manifests/v1');
  expectError(refused, 404, 'MANIFEST_UNKNOWN');
  assert.match(refused.body.toString(), /refused our credentials/);
});

interface TokenIssuer {
  readonly url: string;
  /** `scope` of every token request that was answered with a token. */
  readonly issued: string[];
}

const SERVICE = 'upstream.test';
const ISSUER = 'issuer.test';

/** A token server: Basic-authenticated GET ?service=&scope= → an RS256 JWT (x5c) granting the scope's actions. */
async function startTokenIssuer(t: { after: (fn: () => Promise<void>) => void }, pki: Pki, expiresIn: number): Promise<TokenIssuer> {
  const issued: string[] = [];
  const expected = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://issuer');
    if (req.headers.authorization !== expected || url.searchParams.get('service') !== SERVICE) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
      return;
    }
    const scope = url.searchParams.get('scope') ?? '';
    const [type, name, actions] = scope.split(':');
    const now = Math.floor(Date.now() / 1000);
    const token = mintToken(pki.signingKey, { x5c: [pki.signingCertDer] }, {
      iss: ISSUER,
      sub: USER,
      aud: SERVICE,
      // Valid for a minute whatever expires_in says: the cache must go by expires_in, and a slow machine must not see it lapse.
      exp: now + Math.max(expiresIn, 60),
      nbf: now - 10,
      iat: now,
      jti: String(Math.random()),
      access: type && name && actions ? [{ type, name, actions: actions.split(',') }] : [],
    });
    issued.push(scope);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: expiresIn, issued_at: new Date().toISOString() }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`, issued };
}

const pki = await makePki({ after });

test('proxy upstream auth: token-auth upstream (docker-registry auth.token): challenge → token → retry; one token per scope, reused until it expires', { skip }, async (t) => {
  const issuer = await startTokenIssuer(t, pki, 300);
  const seed = await startUpstream(t);
  const app = await pushRandomImage(seed.url, 'team/app', 'v1', 20_000);
  const tool = await pushRandomImage(seed.url, 'team/tool', 'v1');
  const upstream = await startUpstream(t, { root: seed.root, auth: { token: { realm: issuer.url, service: SERVICE, issuer: ISSUER, rootcertbundle: pki.signingCertPath } } });
  expectError(await get(upstream.url, '/v2/team/app/manifests/v1'), 401, 'UNAUTHORIZED');
  const counter = await startCountingProxy(t, upstream.url);

  const cache = await startRegistry(t, { config: { proxy: { remoteurl: counter.url, username: USER, password: PASSWORD } } });
  const manifest = await get(cache.url, '/v2/team/app/manifests/v1');
  expectStatus(manifest, 200);
  assert.deepEqual(manifest.body, app.manifest.bytes);
  for (const blob of [app.config, ...app.layers]) assert.equal(sha256((await get(cache.url, `/v2/team/app/blobs/${blob.digest}`)).body), blob.digest);
  // One token for team/app, reused by the blob GETs: one challenge answered, then Bearer up front.
  assert.deepEqual(issuer.issued, ['repository:team/app:pull']);
  assert.equal(counter.requests.length, 4, counter.requests.join('\n'));
  // Another repository, another scope, another token.
  expectStatus(await get(cache.url, '/v2/team/tool/manifests/v1'), 200);
  assert.equal(sha256((await get(cache.url, `/v2/team/tool/blobs/${tool.config.digest}`)).body), tool.config.digest);
  assert.deepEqual(issuer.issued, ['repository:team/app:pull', 'repository:team/tool:pull']);
  await cached(cache.root, [...app.blobs.filter((b) => b !== app.manifest), tool.config].map((b) => b.digest));
});

test('proxy upstream auth: a token that expires is fetched again; a token issuer refusing us leaves uncached content 404', { skip }, async (t) => {
  // expires_in 1 s: renewed before every use (the cache renews up to 10 % of a token's life early).
  const issuer = await startTokenIssuer(t, pki, 1);
  const seed = await startUpstream(t);
  const image = await pushRandomImage(seed.url, 'team/app', 'v1');
  const upstream = await startUpstream(t, { root: seed.root, auth: { token: { realm: issuer.url, service: SERVICE, issuer: ISSUER, rootcertbundle: pki.signingCertPath } } });
  const cache = await startRegistry(t, { config: { proxy: { remoteurl: upstream.url, username: USER, password: PASSWORD } } });
  expectStatus(await get(cache.url, '/v2/team/app/manifests/v1'), 200);
  const first = issuer.issued.length;
  await new Promise((resolve) => setTimeout(resolve, 1100));
  assert.equal(sha256((await get(cache.url, `/v2/team/app/blobs/${image.config.digest}`)).body), image.config.digest);
  assert.ok(issuer.issued.length > first, 'an expired token was reused');
  await cached(cache.root, [image.config.digest]);

  const refused = await startRegistry(t, { config: { proxy: { remoteurl: upstream.url, username: USER, password: 'wrong' } } });
  const reply = await get(refused.url, '/v2/team/app/manifests/v1');
  expectError(reply, 404, 'MANIFEST_UNKNOWN');
  assert.match(reply.body.toString(), /token request .* answered 401/);
});
