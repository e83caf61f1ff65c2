import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseChallenges } from '../../src/proxy/challenge.ts';
import { Remotes } from '../../src/proxy/remotes.ts';
import { build, refused } from '../helpers/config.ts';

test('config proxy: distribution\'s keys (remoteurl, username, password, ttl default 168h), and REGISTRY_PROXY_* overrides', () => {
  const { config, warnings } = build({ proxy: { remoteurl: 'https://registry-1.docker.io', username: 'me', password: 'secret' } });
  assert.deepEqual(warnings, []);
  assert.equal(config.proxy?.remoteurl, 'https://registry-1.docker.io');
  assert.equal(config.proxy?.username, 'me');
  assert.equal(config.proxy?.password, 'secret');
  assert.equal(config.proxy?.ttl, 168 * 3_600_000);
  assert.equal(build({}).config.proxy, undefined);
  // Env: one key each; a password YAML would read as a number stays as written.
  const env = build({}, { REGISTRY_PROXY_REMOTEURL: 'http://127.0.0.1:5001', REGISTRY_PROXY_TTL: '10m', REGISTRY_PROXY_USERNAME: '007', REGISTRY_PROXY_PASSWORD: '0123' }).config.proxy;
  assert.deepEqual(env, { remoteurl: 'http://127.0.0.1:5001', username: '007', password: '0123', ttl: 600_000, remotes: {} });
  // ttl 0: every tag pull asks upstream (distribution's tag lookups always do).
  assert.equal(build({ proxy: { remoteurl: 'http://a:1', ttl: 0 } }).config.proxy?.ttl, 0);
});

test('config proxy.remotes: prefixes to upstreams, each with its own credentials and optional ttl', () => {
  const { config } = build({
    proxy: {
      ttl: '1h',
      remotes: {
        'docker.io/': { remoteurl: 'https://registry-1.docker.io', username: 'hub', password: 'x' },
        'ghcr.io/team/': { remoteurl: 'https://ghcr.io/', ttl: '5m' },
      },
    },
  });
  assert.deepEqual(config.proxy?.remotes, {
    'docker.io/': { remoteurl: 'https://registry-1.docker.io', username: 'hub', password: 'x' },
    'ghcr.io/team/': { remoteurl: 'https://ghcr.io', ttl: 300_000 },
  });
  assert.equal(config.proxy?.remoteurl, undefined);
});

test('config proxy: bad upstream URLs, prefixes, ttls and typos are refused at start with their key', () => {
  assert.throws(() => build({ proxy: { remoteurl: 'ftp://mirror' } }), refused(/^proxy\.remoteurl must be an http:\/\/ or https:\/\/ URL, got scheme ftp:/));
  assert.throws(() => build({ proxy: { remoteurl: 'registry-1.docker.io' } }), refused(/^proxy\.remoteurl must be an http:\/\/ or https:\/\/ URL/));
  assert.throws(() => build({ proxy: { remoteurl: 'not a url' } }), refused(/^proxy\.remoteurl must be an http/));
  assert.throws(() => build({ proxy: { remoteurl: 'https://host/v2/' } }), refused(/^proxy\.remoteurl must be the registry's base URL, without a path/));
  assert.throws(() => build({ proxy: { remoteurl: 'https://host?x=1' } }), refused(/^proxy\.remoteurl must be the registry's base URL/));
  assert.throws(() => build({ proxy: { remoteurl: 'https://user:pw@host' } }), refused(/^proxy\.remoteurl must not hold credentials/));
  assert.throws(() => build({ proxy: { remoteurl: 42 } }), refused(/^proxy\.remoteurl must be an http/));
  assert.throws(() => build({ proxy: { remoteurl: 'https://h', ttl: 5 } }), refused(/^proxy\.ttl needs a unit/));
  assert.throws(() => build({ proxy: { remoteurl: 'https://h', ttl: '-1h' } }), refused(/^proxy\.ttl must not be negative/));
  assert.throws(() => build({ proxy: { remoteurl: 'https://h', remoteURL: 'https://h' } }), refused(/proxy\.remoteURL is not a Quayside setting/));
  assert.throws(() => build({ proxy: {} }), refused(/^proxy needs remoteurl or remotes/));
  assert.throws(() => build({ proxy: { remotes: { 'docker.io': { remoteurl: 'https://h' } } } }), refused(/^proxy\.remotes\.docker\.io must be repository path components, each followed by \//));
  assert.throws(() => build({ proxy: { remotes: { 'Docker.IO/': { remoteurl: 'https://h' } } } }), refused(/must be repository path components/));
  assert.throws(() => build({ proxy: { remotes: { 'docker.io/': { remoteurl: 'gopher://h' } } } }), refused(/^proxy\.remotes\.docker\.io\/\.remoteurl must be an http/));
  assert.throws(() => build({ proxy: { remotes: { 'docker.io/': {} } } }), refused(/^proxy\.remotes\.docker\.io\/\.remoteurl is required/));
  assert.throws(() => build({ proxy: { remotes: { 'docker.io/': { remoteurl: 'https://h', usernme: 'x' } } } }), refused(/usernme/));
});

test('config proxy: the password never appears in a message', () => {
  assert.throws(() => build({ proxy: { remoteurl: 'https://h', password: ['s3cr3t'] } }), (err: unknown) => {
    assert.doesNotMatch(String(err), /s3cr3t/);
    return refused(/^proxy\.password must be a string/)(err);
  });
});

test('proxy Remotes: the longest prefix wins, remoteurl takes the rest, Docker Hub names gain library/', () => {
  const remotes = new Remotes(build({ proxy: { remotes: { 'docker.io/': { remoteurl: 'https://registry-1.docker.io' }, 'ghcr.io/': { remoteurl: 'https://ghcr.io' }, 'ghcr.io/special/': { remoteurl: 'https://special.example' } } } }).config.proxy ?? assert.fail());
  assert.equal(remotes.resolve('docker.io/alpine')?.name, 'library/alpine');
  assert.equal(remotes.resolve('docker.io/bitnami/redis')?.name, 'bitnami/redis');
  assert.equal(remotes.resolve('ghcr.io/special/tool')?.remote.client.host, 'special.example');
  assert.equal(remotes.resolve('ghcr.io/special/tool')?.name, 'tool');
  assert.equal(remotes.resolve('ghcr.io/team/tool')?.remote.client.host, 'ghcr.io');
  assert.equal(remotes.resolve('team/app'), undefined);
  assert.equal(remotes.covers('docker.iox/app'), false);
  const all = new Remotes(build({ proxy: { remoteurl: 'http://up:5000', remotes: { 'docker.io/': { remoteurl: 'https://registry-1.docker.io' } } } }).config.proxy ?? assert.fail());
  assert.equal(all.resolve('team/app')?.remote.client.host, 'up:5000');
  assert.equal(all.resolve('team/app')?.name, 'team/app');
  assert.equal(all.resolve('docker.io/alpine')?.remote.client.host, 'registry-1.docker.io');
  for (const remote of [...remotes.all, ...all.all]) remote.client.close();
});

test('proxy challenge parsing: Bearer with quoted params (commas inside), Basic, several challenges', () => {
  assert.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull,push' } },
  ]);
  assert.deepEqual(parseChallenges('Basic realm="Registry Realm"'), [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
  assert.deepEqual(parseChallenges(['Basic realm="a"', 'Bearer realm="https://t/token"']).map((c) => c.scheme), ['basic', 'bearer']);
  assert.deepEqual(parseChallenges(undefined), []);
});
