import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig, parseDuration } from '../../src/config/load.ts';
import { envNameFor, type Config } from '../../src/config/schema.ts';
import { build, refused } from '../helpers/config.ts';

test('config REGISTRY_STORAGE=filesystem selects the driver and keeps the YAML rootdirectory and delete.enabled (issue 9)', () => {
  const yaml = { storage: { filesystem: { rootdirectory: '/var/lib/registry' }, delete: { enabled: true }, maintenance: { readonly: { enabled: true } } } };
  const { config } = build(yaml, { REGISTRY_STORAGE: 'filesystem' });
  assert.equal(config.storage.filesystem?.rootdirectory, '/var/lib/registry');
  assert.equal(config.storage.delete.enabled, true);
  assert.equal(config.storage.maintenance.readonly.enabled, true);
  // Applied in name order as in distribution: the driver choice first, then its keys.
  const both = build(yaml, { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/srv', REGISTRY_STORAGE: 'filesystem' }).config;
  assert.equal(both.storage.filesystem?.rootdirectory, '/srv');
  assert.equal(both.storage.delete.enabled, true);
  // YAML's scalar form selects the same way.
  assert.equal(build({ storage: 'filesystem' }).config.storage.filesystem?.rootdirectory, './data');
});

test('config REGISTRY_STORAGE switching from another driver drops that driver\'s parameters, keeps delete', () => {
  const { config } = build({ storage: { s3: { bucket: 'b', region: 'r' }, delete: { enabled: true } } }, { REGISTRY_STORAGE: 'filesystem', REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/srv' });
  assert.equal(config.storage.filesystem?.rootdirectory, '/srv');
  assert.equal(config.storage.delete.enabled, true);
});

test('config REGISTRY_STORAGE=s3 over a filesystem file selects s3, which then needs its region and bucket: never silently ./data', () => {
  assert.throws(() => build({ storage: { filesystem: { rootdirectory: '/r' } } }, { REGISTRY_STORAGE: 's3' }), refused(/^REGISTRY_STORAGE \(storage\.s3\.region\) is required; REGISTRY_STORAGE \(storage\.s3\.bucket\) is required$/));
  assert.throws(() => build({ storage: { s3: { bucket: 'b' } } }), refused(/^storage\.s3\.region is required$/));
  assert.throws(() => build({}, { REGISTRY_STORAGE: 'azure' }), refused(/^REGISTRY_STORAGE \(storage\.azure\): the azure storage driver is not implemented \(Quayside has: filesystem, s3, inmemory\)$/));
  assert.throws(() => build({}, { REGISTRY_STORAGE: 'filesytem' }), refused(/REGISTRY_STORAGE \(storage\.filesytem\)/, /did you mean storage\.filesystem\?/));
  assert.throws(() => build({}, { REGISTRY_STORAGE: '42' }), refused(/REGISTRY_STORAGE must name one storage driver/));
});

test('config a typo under a section Quayside implements is a ConfigError with the full path and a did-you-mean', () => {
  assert.throws(() => build({ storage: { filesytem: { rootdirectory: '/x' } } }), refused(/^storage\.filesytem is not a Quayside setting \(did you mean storage\.filesystem\?\)$/));
  assert.throws(() => build({ storage: { filesystem: { rootdirectroy: '/x' } } }), refused(/storage\.filesystem\.rootdirectroy/, /did you mean storage\.filesystem\.rootdirectory/));
  assert.throws(() => build({ http: { adr: ':5000' } }), refused(/^http\.adr is not a Quayside setting \(did you mean http\.addr\?\)$/));
  assert.throws(() => build({ quayside: { wrokers: 1 } }), refused(/quayside\.wrokers .*did you mean quayside\.workers/));
  assert.throws(() => build({ quayside: { limits: { uploadsise: '1GiB' } } }), refused(/quayside\.limits\.uploadsise .*quayside\.limits\.uploadsize/));
  assert.throws(() => build({ storgae: {} }), refused(/^storgae is not a Quayside setting \(did you mean storage\?\)$/));
  assert.throws(() => build({ auth: { htpasswd: { path: '/h', relam: 'r' } } }), refused(/auth\.htpasswd\.relam/));
  // From the environment: the variable and the key.
  assert.throws(() => build({}, { REGISTRY_HTTP_ADR: ':1' }), refused(/^REGISTRY_HTTP_ADR \(http\.adr\) is not a Quayside setting \(did you mean http\.addr\?\)$/));
});

test('config sections distribution has and Quayside does not implement are warnings naming the full path, then ignored', () => {
  const { config, warnings } = build({
    log: { level: 'debug', formatter: 'json', fields: { service: 'registry' } },
    http: { addr: ':5000', secret: 's', headers: { 'X-Content-Type-Options': ['nosniff'] }, debug: { addr: ':5001' } },
    storage: { filesystem: { rootdirectory: '/r', maxthreads: 100 }, cache: { blobdescriptor: 'inmemory' }, redirect: { disable: true } },
    redis: { addrs: ['localhost:6379'] },
    notifications: { endpoints: [] },
    health: { storagedriver: { enabled: true } },
    validation: {},
  });
  assert.equal(config.log.level, 'debug');
  assert.equal(config.http.addr, ':5000');
  assert.equal(config.storage.filesystem?.rootdirectory, '/r');
  // storage.redirect is a Quayside key now (it matters for s3): read, not warned about.
  assert.equal(config.storage.redirect.disable, true);
  // http.debug and health are Quayside keys now (src/metrics): read, not warned about.
  assert.equal(config.http.debug.addr, ':5001');
  assert.equal(config.health.storagedriver.enabled, true);
  for (const path of ['log.formatter', 'log.fields', 'http.secret', 'http.headers', 'storage.filesystem.maxthreads', 'storage.cache', 'redis', 'validation']) {
    assert.ok(warnings.some((w) => w.startsWith(`${path} is a distribution setting Quayside does not implement`)), `no warning for ${path}: ${warnings.join(' | ')}`);
  }
  assert.equal(warnings.length, 8);
  // The same from the environment names the variable; a distribution-only key set by env is not applied.
  assert.deepEqual(build({}, { REGISTRY_REDIS_ADDRS: '[a:1]' }).warnings, ['redis (REGISTRY_REDIS_ADDRS) is a distribution setting Quayside does not implement; ignored']);
});

test('config REGISTRY_* variables outside every section (Kubernetes service variables) are warned about, not fatal', () => {
  const { config, warnings } = build({}, { REGISTRY_PORT: 'tcp://10.0.0.1:5000', REGISTRY_SERVICE_HOST: '10.0.0.1', REGISTRY_HTTP_ADDR: ':6000' });
  assert.equal(config.http.addr, ':6000');
  assert.deepEqual(warnings, ['ignoring REGISTRY_PORT: port is not a configuration section', 'ignoring REGISTRY_SERVICE_HOST: service is not a configuration section']);
});

test('config keys distribution has that Quayside refuses (auth schemes, algorithm restrictions) are ConfigErrors: fail closed', () => {
  assert.throws(() => build({ auth: { silly: { realm: 'r', service: 's' } } }), refused(/^auth\.silly: /));
  assert.throws(() => build({ auth: { token: { realm: 'r', service: 's', issuer: 'i', jwks: '/j', signingalgorithms: ['EdDSA'] } } }), refused(/auth\.token\.signingalgorithms/));
  assert.throws(() => build({ auth: { htpasswd: { path: '/h' }, token: { realm: 'r' } } }), refused(/^auth must configure one auth scheme, got htpasswd, token$/));
  // `htpasswd:` with nothing after it still turns auth on, and so still needs its path.
  assert.throws(() => build({ auth: { htpasswd: null } }), refused(/^auth\.htpasswd\.path is required$/));
  assert.throws(() => build({ http: { tls: null } }), refused(/http\.tls\.certificate is required/));
  // REGISTRY_AUTH selects the scheme as REGISTRY_STORAGE selects the driver.
  assert.deepEqual(build({ auth: { htpasswd: { path: '/h', realm: 'mine' } } }, { REGISTRY_AUTH: 'htpasswd' }).config.auth, { htpasswd: { realm: 'mine', path: '/h' } });
  assert.deepEqual(build({}, { REGISTRY_AUTH: 'htpasswd', REGISTRY_AUTH_HTPASSWD_PATH: '/h' }).config.auth, { htpasswd: { realm: 'basic-realm', path: '/h' } });
});

test('config a bad YAML value is a ConfigError naming the key and the value, never a parser message', () => {
  assert.throws(() => build({ storage: { delete: { enabled: 'yes please' } } }), refused(/^storage\.delete\.enabled must be true or false, got "yes please"$/));
  assert.throws(() => build({ quayside: { workers: 1.5 } }), refused(/^quayside\.workers must be a whole number from 0 to 256, got 1\.5$/));
  assert.throws(() => build({ quayside: { limits: { manifestreferences: -1 } } }), refused(/^quayside\.limits\.manifestreferences must be a whole number, 0 or more, got -1$/));
  assert.throws(() => build({ http: { addr: ['a'] } }), refused(/^http\.addr must be host:port/));
  assert.throws(() => build({ http: 'everywhere' }), refused(/^http must be a mapping$/));
  assert.throws(() => build({ storage: { delete: { enabled: 'x' } }, log: { level: 'loud' } }), refused(/log\.level must be one of error, warn, info, debug, silent, got "loud"/, /storage\.delete\.enabled/));
});

test('config a bad env value is a ConfigError naming the variable and the key', async (t) => {
  assert.throws(() => build({}, { REGISTRY_STORAGE_DELETE_ENABLED: 'maybe' }), refused(/^REGISTRY_STORAGE_DELETE_ENABLED \(storage\.delete\.enabled\) must be true or false, got "maybe"$/));
  assert.throws(() => build({}, { REGISTRY_HTTP_ADDR: 'host:99999' }), refused(/^REGISTRY_HTTP_ADDR \(http\.addr\) must be host:port/));
  assert.throws(() => build({}, { REGISTRY_QUAYSIDE_LIMITS_IDLETIMEOUT: 'soon' }), refused(/REGISTRY_QUAYSIDE_LIMITS_IDLETIMEOUT \(quayside\.limits\.idletimeout\) must be a duration/));
  assert.throws(() => build({}, { QUAYSIDE_HASH_ENGINE: 'fast' }), refused(/QUAYSIDE_HASH_ENGINE \(quayside\.hashengine\) must be one of auto, native, wasm/));
  assert.throws(() => build({}, { REGISTRY_HTTP_ADDR: '"unterminated' }), refused(/^REGISTRY_HTTP_ADDR is not a YAML value/));
  assert.throws(() => build({}, { REGISTRY_HTTP: ':5000' }), refused(/^REGISTRY_HTTP \(http\) is a section, not a value/));
  assert.throws(() => build({ http: { addr: ':1' } }, { REGISTRY_HTTP_ADDR_PORT: '1' }), refused(/REGISTRY_HTTP_ADDR_PORT: http\.addr is a value in the config file, not a section/));
  // Through loadConfig too, with a file whose own values are fine.
  const dir = await mkdtemp(join(tmpdir(), 'quayside-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.yml');
  await writeFile(file, 'storage:\n  delete:\n    enabled: true\n');
  await assert.rejects(loadConfig(file, { REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE: '-1h' }), refused(/REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE \(storage\.maintenance\.uploadpurging\.age\) must not be negative/));
});

test('config an env override sets one key under a subtree and leaves its siblings', () => {
  const yaml = { storage: { maintenance: { uploadpurging: { enabled: false, age: '1h', interval: '2h', dryrun: true }, readonly: { enabled: true } } } };
  const { config } = build(yaml, { REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE: '3h' });
  assert.deepEqual(config.storage.maintenance, { uploadpurging: { enabled: false, age: 3 * 3_600_000, interval: 2 * 3_600_000, dryrun: true }, readonly: { enabled: true } });
  // A mapping value is merged into the section, not put in its place.
  const merged = build(yaml, { REGISTRY_STORAGE_MAINTENANCE: '{readonly: {enabled: false}}' }).config;
  assert.equal(merged.storage.maintenance.readonly.enabled, false);
  assert.equal(merged.storage.maintenance.uploadpurging.age, 3_600_000);
  // A key the file does not have is created beside the file's keys.
  const added = build({ quayside: { workers: 2 } }, { REGISTRY_QUAYSIDE_LIMITS_MANIFESTREFERENCES: '0' }).config.quayside;
  assert.equal(added.workers, 2);
  assert.equal(added.limits.manifestreferences, 0);
  assert.equal(added.limits.concurrentuploads, 256);
});

test('config quayside.limits.manifestreferences: default 10 000, 0 = no limit, REGISTRY_QUAYSIDE_LIMITS_MANIFESTREFERENCES', () => {
  assert.equal(build({}).config.quayside.limits.manifestreferences, 10_000);
  assert.equal(build({ quayside: { limits: { manifestreferences: 0 } } }).config.quayside.limits.manifestreferences, 0);
  assert.equal(envNameFor(['quayside', 'limits', 'manifestreferences']), 'REGISTRY_QUAYSIDE_LIMITS_MANIFESTREFERENCES');
  assert.equal(build({}, { REGISTRY_QUAYSIDE_LIMITS_MANIFESTREFERENCES: '500' }).config.quayside.limits.manifestreferences, 500);
});

test('config durations: Go time.ParseDuration grammar plus 0 and "0"; negatives, bare numbers and bad units refused', () => {
  const limits = (value: unknown): Config['quayside']['limits'] => build({ quayside: { limits: { idletimeout: value } } }).config.quayside.limits;
  assert.equal(limits(0).idletimeout, 0);
  assert.equal(limits('0').idletimeout, 0);
  assert.equal(limits('1h30m').idletimeout, 5_400_000);
  assert.equal(build({}, { REGISTRY_QUAYSIDE_LIMITS_IDLETIMEOUT: '0' }).config.quayside.limits.idletimeout, 0);
  for (const [text, ms] of [['1h30m', 5_400_000], ['1.5h', 5_400_000], ['.5s', 500], ['1.s', 1000], ['250ms', 250], ['1m0.5s', 60_500], ['100us', 0.1], ['100µs', 0.1], ['+5s', 5000], ['0', 0], ['0s', 0]] as const) {
    assert.equal(parseDuration(text), ms, text);
  }
  for (const bad of ['', '10', 'h', '1d', '1h junk', '1 h', 's1', '1hh', '-1s', '--1s']) assert.equal(parseDuration(bad), undefined, bad);
  assert.throws(() => limits('-5m'), refused(/^quayside\.limits\.idletimeout must not be negative, got "-5m"$/));
  assert.throws(() => limits(300), refused(/^quayside\.limits\.idletimeout needs a unit, such as 300s/));
  assert.throws(() => limits('1d'), refused(/^quayside\.limits\.idletimeout must be a duration such as 168h, 30m or 90s, got "1d"$/));
  // 0 where it has no meaning: a purge check every 0 ms, no header deadline.
  assert.throws(() => build({ storage: { maintenance: { uploadpurging: { interval: '0' } } } }), refused(/uploadpurging\.interval must be more than 0/));
  assert.throws(() => build({ quayside: { limits: { headertimeout: 0 } } }), refused(/quayside\.limits\.headertimeout must be more than 0/));
});

test('config a docker-registry config.yml as the Debian package ships it starts, with a warning per unimplemented key', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'quayside-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.yml');
  await writeFile(
    file,
    [
      'version: 0.1',
      'log:',
      '  fields:',
      '    service: registry',
      'storage:',
      '  cache:',
      '    blobdescriptor: inmemory',
      '  filesystem:',
      '    rootdirectory: /var/lib/docker-registry',
      'http:',
      '  addr: :5000',
      '  headers:',
      '    X-Content-Type-Options: [nosniff]',
      'health:',
      '  storagedriver:',
      '    enabled: true',
      '    interval: 10s',
      '    threshold: 3',
    ].join('\n'),
  );
  const warnings: string[] = [];
  const config = await loadConfig(file, {}, { onWarning: (message) => warnings.push(message) });
  assert.equal(config.storage.filesystem?.rootdirectory, '/var/lib/docker-registry');
  assert.deepEqual(warnings.map((w) => w.split(' ')[0]), ['log.fields', 'storage.cache', 'http.headers']);
  assert.deepEqual(config.health.storagedriver, { enabled: true, interval: 10_000, threshold: 3 });
});
