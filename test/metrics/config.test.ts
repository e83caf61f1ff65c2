import assert from 'node:assert/strict';
import { test } from 'node:test';
import { build, refused } from '../helpers/config.ts';

test('config http.debug and health.storagedriver: defaults are distribution\'s (no debug server, metrics off, check off, 10s, 3)', () => {
  const { config, warnings } = build({});
  assert.deepEqual(config.http.debug, { prometheus: { enabled: false, path: '/metrics' } });
  assert.deepEqual(config.health, { storagedriver: { enabled: false, interval: 10_000, threshold: 3 } });
  assert.deepEqual(warnings, []);
});

test('config http.debug and health.storagedriver are read from YAML and REGISTRY_* overrides', () => {
  const yaml = { http: { debug: { addr: '127.0.0.1:5001', prometheus: { enabled: true, path: '/prom' } } }, health: { storagedriver: { enabled: true, interval: '30s', threshold: 5 } } };
  const { config, warnings } = build(yaml);
  assert.deepEqual(config.http.debug, { addr: '127.0.0.1:5001', prometheus: { enabled: true, path: '/prom' } });
  assert.deepEqual(config.health.storagedriver, { enabled: true, interval: 30_000, threshold: 5 });
  assert.deepEqual(warnings, []);
  const env = build({}, {
    REGISTRY_HTTP_DEBUG_ADDR: ':5001',
    REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED: 'true',
    REGISTRY_HEALTH_STORAGEDRIVER_ENABLED: 'true',
    REGISTRY_HEALTH_STORAGEDRIVER_INTERVAL: '250ms',
    REGISTRY_HEALTH_STORAGEDRIVER_THRESHOLD: '1',
  }).config;
  assert.equal(env.http.debug.addr, ':5001');
  assert.equal(env.http.debug.prometheus.enabled, true);
  assert.equal(env.http.debug.prometheus.path, '/metrics');
  assert.deepEqual(env.health.storagedriver, { enabled: true, interval: 250, threshold: 1 });
});

test('config bad http.debug and health values are refused with their key', () => {
  assert.throws(() => build({ http: { debug: { addr: 'nope' } } }), refused(/^http\.debug\.addr must be host:port/));
  assert.throws(() => build({ http: { debug: { prometheus: { enabled: 'yes' } } } }), refused(/^http\.debug\.prometheus\.enabled must be true or false, got "yes"$/));
  assert.throws(() => build({ http: { debug: { prometheus: { path: 'metrics' } } } }), refused(/^http\.debug\.prometheus\.path must be a path starting with \/, got "metrics"$/));
  assert.throws(() => build({ http: { debug: { prometheus: { path: '/a b' } } } }), refused(/http\.debug\.prometheus\.path/));
  assert.throws(() => build({ health: { storagedriver: { interval: 0 } } }), refused(/^health\.storagedriver\.interval must be more than 0/));
  assert.throws(() => build({ health: { storagedriver: { interval: 10 } } }), refused(/^health\.storagedriver\.interval needs a unit/));
  assert.throws(() => build({ health: { storagedriver: { threshold: -1 } } }), refused(/^health\.storagedriver\.threshold must be a whole number/));
  assert.throws(() => build({ health: { storagedriver: { threshold: 1.5 } } }), refused(/health\.storagedriver\.threshold/));
  assert.throws(() => build({}, { REGISTRY_HEALTH_STORAGEDRIVER_INTERVAL: 'soon' }), refused(/^REGISTRY_HEALTH_STORAGEDRIVER_INTERVAL \(health\.storagedriver\.interval\) must be a duration/));
  assert.throws(() => build({ health: { storagedriver: { intervall: '1s' } } }), refused(/health\.storagedriver\.intervall .*did you mean health\.storagedriver\.interval/));
  assert.throws(() => build({ http: { debug: { prometheus: { enable: true } } } }), refused(/http\.debug\.prometheus\.enable /));
});

test('config distribution\'s other health checkers (file, http, tcp) are warned about and ignored', () => {
  const { config, warnings } = build({ health: { storagedriver: { enabled: true }, file: [{ file: '/tmp/x' }], http: [{ uri: 'http://x' }], tcp: [{ addr: 'x:1' }] } });
  assert.equal(config.health.storagedriver.enabled, true);
  assert.deepEqual(warnings.map((w) => w.split(' ')[0]), ['health.file', 'health.http', 'health.tcp']);
});
