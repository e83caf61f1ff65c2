import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { libtrustKeyId } from '../../src/auth/token.ts';
import { createPublicKey } from 'node:crypto';
import { expectError, expectHeader, expectStatus, type Reply } from '../helpers/assertions.ts';
import { pushImage, send } from '../helpers/oci-client.ts';
import { makePki, mintToken } from '../helpers/pki.ts';
import { startRegistry } from '../helpers/registry.ts';

/**
 * Docker token auth (distribution docs/spec/auth/token.md): every route with allowed and denied
 * scopes, and the challenge format docker/podman/skopeo parse.
 */
const pki = await makePki({ after });
const REALM = 'https://auth.example.test/token';
const SERVICE = 'registry.example.test';
const ISSUER = 'auth.example.test';
const tokenConfig = { realm: REALM, service: SERVICE, issuer: ISSUER, rootcertbundle: pki.signingCertPath };

// Seed content with auth off, then serve the same root with token auth on.
const open = await startRegistry({ after });
const image = await pushImage(open.url, 'team/app', 'v1');
const layer = (image.manifest['layers'] as { digest: string }[])[0]?.digest ?? '';
await open.registry.close();
const { url } = await startRegistry({ after }, { root: open.root, config: { auth: { token: tokenConfig } } });

type Access = { type: string; name: string; actions: string[] };

function token(access: Access[], overrides: Record<string, unknown> = {}, header: Record<string, unknown> = { x5c: [pki.signingCertDer] }): string {
  const now = Math.floor(Date.now() / 1000);
  return mintToken(pki.signingKey, header, { iss: ISSUER, sub: 'tester', aud: SERVICE, exp: now + 300, nbf: now - 10, iat: now, jti: String(Math.random()), access, ...overrides });
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
