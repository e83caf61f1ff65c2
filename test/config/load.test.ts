import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildConfig, ConfigError, loadConfig, parseAddr, parseDuration } from '../../src/config/load.ts';

test('config: defaults serve 127.0.0.1:5000 from ./data with deletes off', () => {
  const config = buildConfig({});
  assert.equal(config.http.addr, '127.0.0.1:5000');
  assert.equal(config.storage.filesystem?.rootdirectory, './data');
  assert.equal(config.storage.delete.enabled, false);
  assert.equal(config.log.level, 'info');
});

test('config: a distribution config.yml is read with its own keys; REGISTRY_* env overrides win', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'quayside-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.yml');
  await writeFile(
    file,
    ['version: 0.1', 'log:', '  level: debug', 'storage:', '  filesystem:', '    rootdirectory: /var/lib/registry', '  delete:', '    enabled: true', 'http:', '  addr: :5000', '  headers:', '    X-Content-Type-Options: [nosniff]'].join('\n'),
  );
  const fromFile = await loadConfig(file, {});
  assert.equal(fromFile.storage.filesystem?.rootdirectory, '/var/lib/registry');
  assert.equal(fromFile.storage.delete.enabled, true);
  assert.equal(fromFile.http.addr, ':5000');
  assert.equal(fromFile.log.level, 'debug');

  const overridden = await loadConfig(file, {
    REGISTRY_HTTP_ADDR: '0.0.0.0:6000',
    REGISTRY_STORAGE_DELETE_ENABLED: 'false',
    REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/srv/reg',
    REGISTRY_LOG_LEVEL: 'warn',
    REGISTRY_QUAYSIDE_WORKERS: '1',
    QUAYSIDE_HASH_ENGINE: 'wasm',
    UNRELATED: 'x',
  });
  assert.equal(overridden.quayside.workers, 1);
  assert.equal(overridden.quayside.hashengine, 'wasm');
  assert.equal(overridden.http.addr, '0.0.0.0:6000');
  assert.equal(overridden.storage.delete.enabled, false);
  assert.equal(overridden.storage.filesystem?.rootdirectory, '/srv/reg');
  assert.equal(overridden.log.level, 'warn');
});

test('config: bad values are ConfigErrors that name the key', async () => {
  assert.throws(() => buildConfig({ storage: { delete: { enabled: 'yes please' } } }), (e: unknown) => e instanceof ConfigError && /storage\.delete\.enabled/.test(e.message));
  assert.throws(() => buildConfig({ log: { level: 'loud' } }), ConfigError);
  assert.throws(() => buildConfig({ quayside: { workers: -1 } }), /quayside\.workers/);
  assert.throws(() => buildConfig({ quayside: { hashengine: 'fast' } }), /hashengine/);
  assert.throws(() => buildConfig({ http: { addr: 'nope' } }), ConfigError);
  assert.throws(() => buildConfig({}, { REGISTRY_HTTP_ADDR: 'host:99999' }), ConfigError);
  await assert.rejects(loadConfig('/nonexistent/config.yml', {}), ConfigError);
});

test('config: storage.maintenance keys as distribution spells them, durations as Go writes them', () => {
  const config = buildConfig({ storage: { maintenance: { uploadpurging: { enabled: false, age: '1h30m', interval: '90s', dryrun: true }, readonly: { enabled: true } } } });
  assert.deepEqual(config.storage.maintenance, { uploadpurging: { enabled: false, age: 5_400_000, interval: 90_000, dryrun: true }, readonly: { enabled: true } });
  assert.equal(buildConfig({}).storage.maintenance.uploadpurging.age, 168 * 3_600_000);
  assert.equal(buildConfig({}, { REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED: 'true' }).storage.maintenance.readonly.enabled, true);
  assert.equal(parseDuration('250ms'), 250);
  for (const bad of ['', '10', 'h', '1d', '1h junk']) assert.equal(parseDuration(bad), undefined, bad);
  assert.throws(() => buildConfig({ storage: { maintenance: { uploadpurging: { age: 'forever' } } } }), /uploadpurging\.age/);
});

test('config: auth and http.tls as distribution spells them; one scheme only; required keys named', () => {
  const config = buildConfig({
    http: { tls: { certificate: '/c.pem', key: '/k.pem', clientcas: ['/ca.pem'] } },
    auth: { token: { realm: 'https://auth/token', service: 'reg', issuer: 'auth', rootcertbundle: '/b.pem' } },
  });
  assert.deepEqual(config.http.tls, { certificate: '/c.pem', key: '/k.pem', clientcas: ['/ca.pem'] });
  assert.deepEqual(config.auth, { token: { realm: 'https://auth/token', service: 'reg', issuer: 'auth', rootcertbundle: '/b.pem' } });
  assert.deepEqual(buildConfig({ auth: { htpasswd: { path: '/h' } } }).auth, { htpasswd: { realm: 'basic-realm', path: '/h' } });
  assert.throws(() => buildConfig({ auth: { htpasswd: { path: '/h' }, token: {} } }), /one auth scheme/);
  assert.throws(() => buildConfig({ auth: { silly: {} } }), /auth\.silly/);
  assert.throws(() => buildConfig({ auth: { htpasswd: { realm: 'r' } } }), /auth\.htpasswd\.path is required/);
  assert.throws(() => buildConfig({ auth: { token: { realm: 'r', service: 's', issuer: 'i' } } }), /rootcertbundle or jwks/);
  assert.throws(() => buildConfig({ http: { tls: { certificate: '/c' } } }), /http\.tls\.key is required/);
});

test('parseAddr: host:port, :port and [v6]:port', () => {
  assert.deepEqual(parseAddr('127.0.0.1:5000'), { host: '127.0.0.1', port: 5000 });
  assert.deepEqual(parseAddr(':5000'), { host: undefined, port: 5000 });
  assert.deepEqual(parseAddr('[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(parseAddr('localhost:80'), { host: 'localhost', port: 80 });
});
