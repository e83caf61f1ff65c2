import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { defaultConfig } from '../../src/config/schema.ts';
import { instanceIdOf } from '../../src/notifications/notifications.ts';
import { build, refused } from '../helpers/config.ts';

test('config notifications: absent → no endpoints; queue defaults (queuesize 10000, instanceid "", adoptafter 5m)', () => {
  assert.deepEqual(defaultConfig.notifications, { events: { includereferences: false }, endpoints: [] });
  assert.deepEqual(defaultConfig.quayside.notifications, { queuesize: 10_000, instanceid: '', adoptafter: 5 * 60_000 });
});

test('config notifications: a docker-registry config.yml endpoint is read as distribution reads it, defaults filled, no warning', () => {
  const tree = parseYaml(`
notifications:
  events:
    includereferences: true
  endpoints:
    - name: alistener
      disabled: false
      url: https://my.listener.com/event
      headers:
        Authorization: ["Bearer <your token, if needed>"]
      timeout: 500ms
      threshold: 5
      backoff: 1s
      ignoredmediatypes:
        - application/octet-stream
      ignore:
        mediatypes:
           - application/octet-stream
        actions:
           - pull
    - name: minimal
      url: http://127.0.0.1:9000/
`) as Record<string, unknown>;
  const { config, warnings } = build(tree);
  assert.deepEqual(warnings, []);
  assert.equal(config.notifications.events.includereferences, true);
  assert.deepEqual(config.notifications.endpoints, [
    { name: 'alistener', disabled: false, url: 'https://my.listener.com/event', headers: { Authorization: ['Bearer <your token, if needed>'] }, timeout: 500, threshold: 5, backoff: 1000, ignoredmediatypes: ['application/octet-stream'], ignore: { mediatypes: ['application/octet-stream'], actions: ['pull'] } },
    { name: 'minimal', disabled: false, url: 'http://127.0.0.1:9000/', headers: {}, timeout: 1000, threshold: 10, backoff: 1000, ignoredmediatypes: [], ignore: { mediatypes: [], actions: [] } },
  ]);
});

test('config notifications: a header given as one string is a one-value list; `endpoints:` with nothing after it is none', () => {
  const { config } = build({ notifications: { endpoints: [{ name: 'a', url: 'http://h/', headers: { 'X-Token': 'abc' } }] } });
  assert.deepEqual(config.notifications.endpoints[0]?.headers, { 'X-Token': ['abc'] });
  assert.deepEqual(build({ notifications: { endpoints: null } }).config.notifications.endpoints, []);
});

test('config notifications: bad values are refused with their full path', () => {
  assert.throws(() => build({ notifications: { endpoints: [{ url: 'http://h/' }] } }), refused(/notifications\.endpoints\.0\.name is required/));
  assert.throws(() => build({ notifications: { endpoints: [{ name: 'a', url: 'ftp://h/' }] } }), refused(/notifications\.endpoints\.0\.url must be an http:\/\/ or https:\/\/ URL, got "ftp:\/\/h\/"/));
  assert.throws(() => build({ notifications: { endpoints: [{ name: 'a', url: 'http://h/', timeout: 5 }] } }), refused(/notifications\.endpoints\.0\.timeout needs a unit/));
  assert.throws(() => build({ notifications: { endpoints: [{ name: 'a', url: 'http://h/', threshold: -1 }] } }), refused(/notifications\.endpoints\.0\.threshold must be a whole number/));
  assert.throws(() => build({ notifications: { endpoints: [{ name: 'a', url: 'http://h/', headers: { 'bad header': ['x'] } }] } }), refused(/notifications\.endpoints\.0\.headers must be a mapping of header names/));
  assert.throws(() => build({ notifications: { endpoints: [{ name: 'a', url: 'http://h/', ignore: { actions: 'pull' } }] } }), refused(/notifications\.endpoints\.0\.ignore\.actions must be a list of strings/));
  assert.throws(() => build({ notifications: { endpoints: [{ name: 'a', url: 'http://h/', urll: 'x' }] } }), refused(/urll/));
  assert.throws(() => build({ notifications: { endpoints: [{ name: 'a', url: 'http://h/' }, { name: 'a', url: 'http://i/' }] } }), refused(/notifications\.endpoints must give each endpoint its own name/));
  assert.throws(() => build({ notifications: { endpoints: { name: 'a' } } }), refused(/notifications\.endpoints/));
  assert.throws(() => build({ quayside: { notifications: { instanceid: '../other' } } }), refused(/quayside\.notifications\.instanceid must be letters, digits/));
  assert.throws(() => build({ quayside: { notifications: { queuesize: 'lots' } } }), refused(/quayside\.notifications\.queuesize must be a whole number/));
  assert.throws(() => build({ quayside: { notifications: { adoptafter: 'soon' } } }), refused(/quayside\.notifications\.adoptafter must be a duration/));
  assert.throws(() => build({ quayside: { notifications: { adoptafter: 30 } } }), refused(/quayside\.notifications\.adoptafter .*needs a unit/));
});

test('config notifications: REGISTRY_* overrides (distribution\'s and Quayside\'s keys)', () => {
  const { config } = build({ notifications: { endpoints: [{ name: 'a', url: 'http://h/' }] } }, {
    REGISTRY_NOTIFICATIONS_EVENTS_INCLUDEREFERENCES: 'true',
    REGISTRY_QUAYSIDE_NOTIFICATIONS_QUEUESIZE: '50',
    REGISTRY_QUAYSIDE_NOTIFICATIONS_INSTANCEID: 'replica-1',
    REGISTRY_QUAYSIDE_NOTIFICATIONS_ADOPTAFTER: '0s',
  });
  assert.equal(config.quayside.notifications.adoptafter, 0);
  assert.equal(config.notifications.events.includereferences, true);
  assert.equal(config.quayside.notifications.queuesize, 50);
  assert.equal(config.quayside.notifications.instanceid, 'replica-1');
  assert.equal(config.notifications.endpoints[0]?.name, 'a');
  const fromEnv = build({}, { REGISTRY_NOTIFICATIONS_ENDPOINTS: '[{name: e, url: "http://e/"}]' }).config;
  assert.equal(fromEnv.notifications.endpoints[0]?.url, 'http://e/');
});

test('config notifications: the default instance id is <hostname>-<port>, the same at every start; on port 0, <hostname>-0-<random>, new at each start', () => {
  const host = hostname().replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100) || 'quayside';
  const fixed = build({ http: { addr: '127.0.0.1:5123' } }).config;
  assert.equal(instanceIdOf(fixed), `${host}-5123`);
  assert.equal(instanceIdOf(fixed), instanceIdOf(fixed));
  const ephemeral = build({ http: { addr: '127.0.0.1:0' } }).config;
  const first = instanceIdOf(ephemeral);
  assert.match(first, new RegExp(`^${host.replace(/[.]/g, '\\.')}-0-[0-9a-f]{8}$`));
  assert.notEqual(instanceIdOf(ephemeral), first);
  assert.equal(instanceIdOf(build({ http: { addr: '127.0.0.1:0' }, quayside: { notifications: { instanceid: 'replica-1' } } }).config), 'replica-1');
});
