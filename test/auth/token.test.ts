import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { libtrustKeyId } from '../../src/auth/token-keys.ts';
import { ConfigError } from '../../src/config/load.ts';
import { expectError, expectHeader, expectStatus, type Reply } from '../helpers/assertions.ts';
import { pushImage, send } from '../helpers/oci-client.ts';
import { makePki, makeTokenChains, mintToken, signJws } from '../helpers/pki.ts';
import { startRegistry } from '../helpers/registry.ts';

/**
 * Docker token auth (distribution docs/spec/auth/token.md): every route with allowed and denied
 * scopes, and the challenge format docker/podman/skopeo parse.
 */
const pki = await makePki({ after });
const chains = await makeTokenChains(pki);
const REALM = 'https://auth.example.test/token';
const SERVICE = 'registry.example.test';
const ISSUER = 'auth.example.test';
const tokenConfig = { realm: REALM, service: SERVICE, issuer: ISSUER, rootcertbundle: chains.bundlePath, jwks: chains.jwksPath };

// Seed content with auth off, then serve the same root with token auth on.
const open = await startRegistry({ after });
const image = await pushImage(open.url, 'team/app', 'v1');
const layer = (image.manifest['layers'] as { digest: string }[])[0]?.digest ?? '';
await open.registry.close();
const { url } = await startRegistry({ after }, { root: open.root, config: { auth: { token: tokenConfig } } });

type Access = { type: string; name: string; actions: string[] };

function claims(access: Access[], overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { iss: ISSUER, sub: 'tester', aud: SERVICE, exp: now + 300, nbf: now - 10, iat: now, jti: String(Math.random()), access, ...overrides };
}

function token(access: Access[], overrides: Record<string, unknown> = {}, header: Record<string, unknown> = { x5c: [pki.signingCertDer] }): string {
  return mintToken(pki.signingKey, header, claims(access, overrides));
}

function bearer(value: string): Record<string, string> {
  return { authorization: `Bearer ${value}` };
}

function expectChallenge(reply: Reply, scope: string | undefined, error?: string): void {
  expectError(reply, 401, 'UNAUTHORIZED');
  const parts = [`realm="${REALM}"`, `service="${SERVICE}"`, ...(scope ? [`scope="${scope}"`] : []), ...(error ? [`error="${error}"`] : [])];
  expectHeader(reply, 'www-authenticate', `Bearer ${parts.join(',')}`);
}

interface RouteCase {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly scope: string;
  readonly grant: Access[];
  readonly body?: string;
}

const pull = (name: string): Access => ({ type: 'repository', name, actions: ['pull'] });
const ROUTES: readonly RouteCase[] = [
  { name: 'GET manifest (end-3)', method: 'GET', path: '/v2/team/app/manifests/v1', scope: 'repository:team/app:pull', grant: [pull('team/app')] },
  { name: 'HEAD manifest (end-3)', method: 'HEAD', path: `/v2/team/app/manifests/${image.digest}`, scope: 'repository:team/app:pull', grant: [pull('team/app')] },
  { name: 'GET blob (end-2)', method: 'GET', path: `/v2/team/app/blobs/${layer}`, scope: 'repository:team/app:pull', grant: [pull('team/app')] },
  { name: 'tags list (end-8a)', method: 'GET', path: '/v2/team/app/tags/list', scope: 'repository:team/app:pull', grant: [pull('team/app')] },
  { name: 'referrers (end-12a)', method: 'GET', path: `/v2/team/app/referrers/${image.digest}`, scope: 'repository:team/app:pull', grant: [pull('team/app')] },
  { name: 'start upload (end-4a)', method: 'POST', path: '/v2/team/app/blobs/uploads/', scope: 'repository:team/app:pull,push', grant: [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }] },
  { name: 'PUT manifest (end-7)', method: 'PUT', path: '/v2/team/app/manifests/v2', scope: 'repository:team/app:pull,push', grant: [{ type: 'repository', name: 'team/app', actions: ['push', 'pull'] }], body: image.bytes.toString() },
  { name: 'DELETE manifest (end-9)', method: 'DELETE', path: '/v2/team/app/manifests/v2', scope: 'repository:team/app:delete', grant: [{ type: 'repository', name: 'team/app', actions: ['delete'] }] },
  { name: 'catalog', method: 'GET', path: '/v2/_catalog', scope: 'registry:catalog:*', grant: [{ type: 'registry', name: 'catalog', actions: ['*'] }] },
];

for (const route of ROUTES) {
  test(`auth.token: ${route.name} — no token → challenge with scope; granted → through; too little → insufficient_scope`, async () => {
    const body = route.body === undefined ? {} : { body: route.body, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } };
    expectChallenge(await send(url, route.path, { method: route.method, ...body }), route.scope);
    const allowed = await send(url, route.path, { method: route.method, ...body, headers: { ...body.headers, ...bearer(token(route.grant)) } });
    assert.ok(allowed.status < 400, `${route.name}: ${allowed.status} ${allowed.body.toString()}`);
    // The same actions on another repository, or one action short, are not enough.
    const elsewhere = route.grant.map((g) => ({ ...g, name: g.type === 'registry' ? 'other' : 'team/other' }));
    expectChallenge(await send(url, route.path, { method: route.method, ...body, headers: { ...body.headers, ...bearer(token(elsewhere)) } }), route.scope, 'insufficient_scope');
    if ((route.grant[0]?.actions.length ?? 0) > 1) {
      const fewer = route.grant.map((g) => ({ ...g, actions: g.actions.slice(0, 1) }));
      expectChallenge(await send(url, route.path, { method: route.method, ...body, headers: { ...body.headers, ...bearer(token(fewer)) } }), route.scope, 'insufficient_scope');
    }
  });
}

test('auth.token: /v2/ wants any valid token and no scope', async () => {
  expectChallenge(await send(url, '/v2/'), undefined);
  expectStatus(await send(url, '/v2/', { headers: bearer(token([])) }), 200);
});

test('auth.token: a "*" action grants everything on that repository', async () => {
  const all = token([{ type: 'repository', name: 'team/app', actions: ['*'] }]);
  expectStatus(await send(url, '/v2/team/app/blobs/uploads/', { method: 'POST', headers: bearer(all) }), 202);
});

test('auth.token: bad tokens → 401 invalid_token (signature, expiry, issuer, audience, key, shape)', async () => {
  const grant = [pull('team/app')];
  const now = Math.floor(Date.now() / 1000);
  const good = token(grant);
  const tampered = `${good.slice(0, good.lastIndexOf('.'))}.${Buffer.from('nope').toString('base64url')}`;
  const bad = [
    tampered,
    token(grant, { exp: now - 3600 }),
    token(grant, { nbf: now + 3600 }),
    token(grant, { iss: 'someone else' }),
    token(grant, { aud: 'another service' }),
    token(grant, {}, { kid: 'AAAA:BBBB' }),
    token(grant, {}, {}),
    'not.a.jwt.at-all',
    'garbage',
  ];
  for (const value of bad) expectChallenge(await send(url, '/v2/team/app/tags/list', { headers: bearer(value) }), 'repository:team/app:pull', 'invalid_token');
});

test('auth.token: a key named by its libtrust kid (how distribution matches rootcertbundle keys) is accepted', async () => {
  const kid = libtrustKeyId(createPublicKey(pki.signingKey));
  assert.match(kid, /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
  expectStatus(await send(url, '/v2/team/app/tags/list', { headers: bearer(token([pull('team/app')], {}, { kid })) }), 200);
});

test('auth.token: mount (end-11) needs pull on the source; without it the POST falls back to an upload', async () => {
  const target = { type: 'repository', name: 'team/copy', actions: ['pull', 'push'] };
  const withSource = await send(url, `/v2/team/copy/blobs/uploads/?mount=${layer}&from=team/app`, { method: 'POST', headers: bearer(token([target, pull('team/app')])) });
  expectStatus(withSource, 201);
  const withoutSource = await send(url, `/v2/team/other/blobs/uploads/?mount=${layer}&from=team/app`, {
    method: 'POST',
    headers: bearer(token([{ ...target, name: 'team/other' }])),
  });
  expectStatus(withoutSource, 202);
  expectError(await send(url, `/v2/team/other/blobs/${layer}`, { headers: bearer(token([pull('team/other')])) }), 404, 'BLOB_UNKNOWN');
});

const TAGS = '/v2/team/app/tags/list';
const TAGS_SCOPE = 'repository:team/app:pull';

/** A refusal: the invalid_token challenge, and the reason in the detail (so it is refused for that reason). */
async function expectRefused(value: string, reason: RegExp): Promise<void> {
  const reply = await send(url, TAGS, { headers: bearer(value) });
  expectChallenge(reply, TAGS_SCOPE, 'invalid_token');
  const detail = (JSON.parse(reply.body.toString()) as { errors: { detail: { reason: string } }[] }).errors[0]?.detail;
  assert.match(detail?.reason ?? '', reason);
}

test('auth.token: an x5c chain leaf → intermediate CA → rootcertbundle root is accepted (RFC 7515 §4.1.6)', async () => {
  const signed = mintToken(chains.leafKey, { x5c: chains.good }, claims([pull('team/app')]));
  expectStatus(await send(url, TAGS, { headers: bearer(signed) }), 200);
});

const CHAIN_REFUSALS: readonly { readonly name: string; readonly x5c: () => string[]; readonly reason: RegExp }[] = [
  { name: 'an expired intermediate', x5c: () => chains.expiredIntermediate, reason: /expired-int.*expired/ },
  { name: 'a leaf not valid yet', x5c: () => chains.notYetValidLeaf, reason: /leaf-future.*not valid before/ },
  { name: 'an intermediate that is not a CA (basicConstraints CA:FALSE)', x5c: () => chains.nonCaIntermediate, reason: /nonca-int.*not a CA/ },
  { name: 'a chain to a root outside rootcertbundle', x5c: () => chains.foreignRoot, reason: /does not lead to rootcertbundle/ },
  { name: 'a chain out of order (intermediate first)', x5c: () => [...chains.good].reverse(), reason: /not a CA|not issued by the next/ },
  { name: 'an entry that is not a certificate', x5c: () => ['bm90IGEgY2VydA=='], reason: /does not parse/ },
];

for (const refusal of CHAIN_REFUSALS) {
  test(`auth.token: x5c with ${refusal.name} → 401 invalid_token with the challenge (issue 9)`, async () => {
    await expectRefused(mintToken(chains.leafKey, { x5c: refusal.x5c() }, claims([pull('team/app')])), refusal.reason);
  });
}

test('auth.token: jwks keys named by kid verify with the algorithm of their curve (ES256, ES384, EdDSA) and a key\'s own alg (PS256)', async () => {
  const grant = [pull('team/app')];
  const cases: [string, string, KeyObject][] = [
    ['ES256', 'es256', chains.jwkPrivate.es256],
    ['ES384', 'es384', chains.jwkPrivate.es384],
    ['EdDSA', 'ed25519', chains.jwkPrivate.ed25519],
    ['PS256', 'rs-only-ps256', chains.jwkPrivate.rsOnlyPs256],
  ];
  for (const [alg, kid, key] of cases) expectStatus(await send(url, TAGS, { headers: bearer(signJws(alg, key, { kid }, claims(grant))) }), 200);
});

test('auth.token: alg is bound to the key — a header naming another algorithm is refused (issue 9)', async () => {
  const grant = [pull('team/app')];
  // An RS256 signature under an ES256 header: the key is RSA, so only RS*/PS* may verify.
  await expectRefused(signJws('ES256', pki.signingKey, { x5c: [pki.signingCertDer] }, claims(grant)), /alg.*not allowed/);
  // A P-256 key asked to verify a SHA-384 signature.
  await expectRefused(signJws('ES384', chains.jwkPrivate.es256, { kid: 'es256' }, claims(grant)), /alg.*not allowed/);
  // The JWK says alg PS256: RS256 with the same RSA key is refused.
  await expectRefused(signJws('RS256', chains.jwkPrivate.rsOnlyPs256, { kid: 'rs-only-ps256' }, claims(grant)), /alg.*not allowed/);
  await expectRefused(signJws('EdDSA', chains.jwkPrivate.es256, { kid: 'es256' }, claims(grant)), /alg.*not allowed/);
});

test('auth.token: HS256 keyed with the public key\'s PEM (the RS256→HS256 confusion attack) is refused, by x5c and by kid', async () => {
  const grant = [pull('team/app')];
  const publicPem = Buffer.from(createPublicKey(pki.signingKey).export({ type: 'spki', format: 'pem' }));
  const certPem = await readFile(pki.signingCertPath);
  const kid = libtrustKeyId(createPublicKey(pki.signingKey));
  for (const secret of [publicPem, certPem]) {
    await expectRefused(signJws('HS256', secret, { x5c: [pki.signingCertDer] }, claims(grant)), /alg.*not allowed/);
    await expectRefused(signJws('HS256', secret, { kid }, claims(grant)), /alg.*not allowed/);
    await expectRefused(signJws('HS512', secret, { kid }, claims(grant)), /alg.*not allowed/);
  }
});

test('auth.token: alg "none" (an unsigned token) is refused, whatever key it names', async () => {
  const grant = [pull('team/app')];
  const kid = libtrustKeyId(createPublicKey(pki.signingKey));
  for (const header of [{ x5c: [pki.signingCertDer] }, { kid }, { kid: 'es256' }, {}]) {
    const unsigned = signJws('none', Buffer.alloc(0), header, claims(grant));
    const reply = await send(url, TAGS, { headers: bearer(unsigned) });
    expectChallenge(reply, TAGS_SCOPE, 'invalid_token');
  }
});

test('auth.token: a token without exp, iss or aud is refused (jwt.md: all three are required)', async () => {
  const grant = [pull('team/app')];
  for (const missing of ['exp', 'iss', 'aud']) {
    const partial = claims(grant);
    delete partial[missing];
    await expectRefused(mintToken(pki.signingKey, { x5c: [pki.signingCertDer] }, partial), new RegExp(missing));
  }
});

const BAD_JWKS: readonly { readonly name: string; readonly text: string; readonly message: RegExp }[] = [
  { name: 'not JSON', text: '{"keys": [', message: /not JSON/ },
  { name: 'no keys list', text: '{"kty":"EC"}', message: /no "keys"/ },
  { name: 'an empty keys list', text: '{"keys":[]}', message: /no "keys"/ },
  { name: 'a key without kid', text: JSON.stringify({ keys: [{ ...createPublicKey(chains.jwkPrivate.es256).export({ format: 'jwk' }) }] }), message: /needs a "kid"/ },
  { name: 'a key that cannot be imported', text: JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA', kid: 'broken' }] }), message: /cannot be imported/ },
  { name: 'a symmetric key', text: JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'hmac' }] }), message: /symmetric/ },
  { name: 'an alg its key cannot use', text: JSON.stringify({ keys: [{ ...createPublicKey(chains.jwkPrivate.es256).export({ format: 'jwk' }), kid: 'x', alg: 'RS256' }] }), message: /alg "RS256"/ },
];

for (const bad of BAD_JWKS) {
  test(`auth.token: a jwks file with ${bad.name} → ConfigError at start (issue 9)`, async (t) => {
    const path = join(pki.dir, `bad-jwks-${BAD_JWKS.indexOf(bad)}.json`);
    await writeFile(path, bad.text);
    await assert.rejects(startRegistry(t, { config: { auth: { token: { realm: REALM, service: SERVICE, issuer: ISSUER, jwks: path } } } }), (err: unknown) => {
      assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
      assert.match(err.message, bad.message);
      return true;
    });
  });
}
