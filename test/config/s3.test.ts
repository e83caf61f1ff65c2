import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { describeStorage, driverParamsOf, storageLocation } from '../../src/config/driver-params.ts';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { defaultConfig } from '../../src/config/schema.ts';
import { build, refused } from '../helpers/config.ts';

async function configFile(t: { after: (fn: () => Promise<void>) => void }, lines: readonly string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'quayside-s3-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.yml');
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

const minimal = { region: 'us-east-1', bucket: 'registry' };

test('config storage.s3 in a YAML file → S3Params key for key, distribution\'s defaults filled in (issue 10)', async (t) => {
  const file = await configFile(t, [
    'version: 0.1',
    'storage:',
    '  s3:',
    '    region: eu-west-1',
    '    regionendpoint: http://127.0.0.1:7480',
    '    bucket: images',
    '    accesskey: AKIAEXAMPLE',
    '    secretkey: s3cr3t/with+chars',
    '    forcepathstyle: true',
    '    rootdirectory: /registry',
    '    chunksize: 20971520',
    '    secure: false',
    '    skipverify: true',
  ]);
  const config = await loadConfig(file, {});
  assert.equal(config.storage.filesystem, undefined);
  assert.deepEqual(driverParamsOf(config), {
    s3: {
      region: 'eu-west-1',
      regionendpoint: 'http://127.0.0.1:7480',
      bucket: 'images',
      accesskey: 'AKIAEXAMPLE',
      secretkey: 's3cr3t/with+chars',
      forcepathstyle: true,
      rootdirectory: '/registry',
      chunksize: 20_971_520,
      secure: false,
      skipverify: true,
    },
  });
  // Only region and bucket are required; the rest is distribution's defaults.
  assert.deepEqual(driverParamsOf(build({ storage: { s3: minimal } }).config), {
    s3: { region: 'us-east-1', bucket: 'registry', forcepathstyle: false, rootdirectory: '', chunksize: 10 * 2 ** 20, secure: true, skipverify: false },
  });
});

test('config storage.s3 without accesskey/secretkey (or with empty ones) leaves them out: the driver falls back to AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY', () => {
  for (const keys of [{}, { accesskey: '', secretkey: '' }, { accesskey: null, secretkey: null }]) {
    const params = driverParamsOf(build({ storage: { s3: { ...minimal, ...keys } } }).config);
    assert.ok(params.s3 !== undefined);
    assert.equal('accesskey' in params.s3, false, JSON.stringify(keys));
    assert.equal('secretkey' in params.s3, false, JSON.stringify(keys));
  }
  // An empty regionendpoint is AWS, as in distribution.
  const params = driverParamsOf(build({ storage: { s3: { ...minimal, regionendpoint: '' } } }).config);
  assert.equal(params.s3 !== undefined && 'regionendpoint' in params.s3, false);
});

test('config REGISTRY_STORAGE=s3 + REGISTRY_STORAGE_S3_* over a filesystem config.yml: s3 only, every key from the environment', () => {
  // The Debian docker-registry config.yml names the filesystem; the environment moves it to S3.
  const file = { version: 0.1, storage: { filesystem: { rootdirectory: '/var/lib/docker-registry' }, delete: { enabled: true } }, http: { addr: ':5000' } };
  const env = {
    REGISTRY_STORAGE: 's3',
    REGISTRY_STORAGE_S3_REGION: 'us-east-1',
    REGISTRY_STORAGE_S3_REGIONENDPOINT: 'http://127.0.0.1:7480',
    REGISTRY_STORAGE_S3_BUCKET: 'registry',
    REGISTRY_STORAGE_S3_ACCESSKEY: 'access',
    REGISTRY_STORAGE_S3_SECRETKEY: 'secret',
    REGISTRY_STORAGE_S3_FORCEPATHSTYLE: 'true',
    REGISTRY_STORAGE_S3_ROOTDIRECTORY: '/quayside',
    REGISTRY_STORAGE_S3_CHUNKSIZE: '5242880',
    REGISTRY_STORAGE_S3_SECURE: 'false',
    REGISTRY_STORAGE_S3_SKIPVERIFY: 'true',
    REGISTRY_STORAGE_REDIRECT_DISABLE: 'true',
  };
  const { config, warnings } = build(file, env);
  assert.deepEqual(warnings, []);
  assert.equal(config.storage.filesystem, undefined);
  assert.equal(config.storage.delete.enabled, true);
  assert.equal(config.storage.redirect.disable, true);
  assert.deepEqual(driverParamsOf(config), {
    s3: { region: 'us-east-1', regionendpoint: 'http://127.0.0.1:7480', bucket: 'registry', accesskey: 'access', secretkey: 'secret', forcepathstyle: true, rootdirectory: '/quayside', chunksize: 5_242_880, secure: false, skipverify: true },
  });
  // With no file, the keys alone select s3: the filesystem default applies only when no driver is named.
  const envOnly = build({}, { REGISTRY_STORAGE_S3_REGION: 'r', REGISTRY_STORAGE_S3_BUCKET: 'b' }).config;
  assert.equal(envOnly.storage.s3?.bucket, 'b');
  assert.equal(envOnly.storage.filesystem, undefined);
  // And REGISTRY_STORAGE=s3 keeps the file's s3 keys, as it keeps the filesystem's.
  const kept = build({ storage: { s3: { ...minimal, rootdirectory: '/a' } } }, { REGISTRY_STORAGE: 's3', REGISTRY_STORAGE_S3_BUCKET: 'other' }).config;
  assert.deepEqual([kept.storage.s3?.bucket, kept.storage.s3?.rootdirectory, kept.storage.s3?.region], ['other', '/a', 'us-east-1']);
});

test('config REGISTRY_STORAGE_S3_* string keys stay text where YAML would read a number or a boolean (a secret "0123" is not 123)', () => {
  const { config } = build({}, {
    REGISTRY_STORAGE: 's3',
    REGISTRY_STORAGE_S3_REGION: 'us-east-1',
    REGISTRY_STORAGE_S3_BUCKET: '0123',
    REGISTRY_STORAGE_S3_ACCESSKEY: 'true',
    REGISTRY_STORAGE_S3_SECRETKEY: '*x: [y',
    REGISTRY_STORAGE_S3_ROOTDIRECTORY: '"/quoted"',
  });
  assert.equal(config.storage.s3?.bucket, '0123');
  assert.equal(config.storage.s3?.accesskey, 'true');
  assert.equal(config.storage.s3?.secretkey, '*x: [y');
  // YAML's own string reading still applies: quotes come off, as distribution does.
  assert.equal(config.storage.s3?.rootdirectory, '/quoted');
});

test('config naming both filesystem and s3 is a ConfigError: exactly one storage driver, as distribution', () => {
  assert.throws(() => build({ storage: { filesystem: { rootdirectory: '/r' }, s3: minimal } }), refused(/^storage must configure one storage driver, got filesystem, s3; remove all but one, or select one with REGISTRY_STORAGE=<driver>$/));
  // A file's filesystem plus s3 keys from the environment, without REGISTRY_STORAGE=s3: also two.
  assert.throws(() => build({ storage: { filesystem: { rootdirectory: '/r' } } }, { REGISTRY_STORAGE_S3_REGION: 'r', REGISTRY_STORAGE_S3_BUCKET: 'b' }), refused(/^storage \(REGISTRY_STORAGE_S3_BUCKET, REGISTRY_STORAGE_S3_REGION\) must configure one storage driver, got filesystem, s3/));
  // `storage: s3` (the scalar form) selects s3 alone, which then needs its two keys.
  assert.throws(() => build({ storage: 's3' }), refused(/^storage\.s3\.region is required; storage\.s3\.bucket is required$/));
  assert.throws(() => build({ storage: { s3: { region: 'r', bucket: '' } } }), refused(/^storage\.s3\.bucket is required, got ""$/));
});

test('config neither driver → filesystem in ./data; the default config is the filesystem', () => {
  for (const config of [build({}).config, build({ storage: { delete: { enabled: true } } }).config, defaultConfig]) {
    assert.equal(config.storage.s3, undefined);
    assert.deepEqual(driverParamsOf(config), { filesystem: { rootdirectory: './data' } });
    assert.equal(describeStorage(config), 'filesystem ./data');
  }
});

test('config storage.s3.chunksize: a whole number of bytes ≥ 5 MiB, or its digits; anything else names the key', () => {
  const chunk = (value: unknown) => build({ storage: { s3: { ...minimal, chunksize: value } } }).config.storage.s3?.chunksize;
  assert.equal(chunk(5_242_880), 5_242_880);
  assert.equal(chunk('67108864'), 67_108_864);
  assert.equal(chunk(null), 10 * 2 ** 20);
  const bad = /^storage\.s3\.chunksize must be a whole number of bytes from 5242880 \(5 MiB\) to 5368709120 \(5 GiB\), got /;
  for (const value of [5_242_879, 1000, 0, -1, 10.5, '10MB', '10MiB', '', 6 * 2 ** 30, true]) {
    assert.throws(() => chunk(value), refused(bad), JSON.stringify(value));
  }
  assert.throws(() => build({}, { REGISTRY_STORAGE: 's3', REGISTRY_STORAGE_S3_REGION: 'r', REGISTRY_STORAGE_S3_BUCKET: 'b', REGISTRY_STORAGE_S3_CHUNKSIZE: '4MiB' }), refused(/^REGISTRY_STORAGE_S3_CHUNKSIZE \(storage\.s3\.chunksize\) must be a whole number of bytes from 5242880/, /got "4MiB"$/));
});

test('config storage.s3 booleans are read as distribution reads them (Go\'s ParseBool: "true", "f", "0"...), nothing looser', () => {
  const s3 = (extra: Record<string, unknown>) => build({ storage: { s3: { ...minimal, ...extra } } }).config.storage.s3;
  assert.deepEqual([s3({ secure: 'false' })?.secure, s3({ secure: 'f' })?.secure, s3({ skipverify: '1' })?.skipverify, s3({ forcepathstyle: 'TRUE' })?.forcepathstyle], [false, false, true, true]);
  assert.throws(() => s3({ secure: 'nope' }), refused(/^storage\.s3\.secure must be true or false, got "nope"$/));
  assert.throws(() => s3({ forcepathstyle: 1 }), refused(/^storage\.s3\.forcepathstyle must be true or false, got 1$/));
});

test('config distribution\'s s3 tuning keys are warnings naming the full path, then ignored', () => {
  const { config, warnings } = build({
    storage: {
      s3: {
        ...minimal,
        multipartcopychunksize: 33554432,
        multipartcopymaxconcurrency: 100,
        multipartcopythresholdsize: 33554432,
        useragent: 'registry',
        loglevel: 'debug',
        usedualstack: true,
        accelerate: false,
        // The values that ask for what Quayside does anyway.
        v4auth: true,
        encrypt: false,
        keyid: '',
        objectacl: 'private',
        storageclass: 'standard',
        usefipsendpoint: 'false',
        redirectendpoint: '',
      },
    },
  });
  assert.equal(config.storage.s3?.bucket, 'registry');
  const ignored = ['multipartcopychunksize', 'multipartcopymaxconcurrency', 'multipartcopythresholdsize', 'useragent', 'loglevel', 'usedualstack', 'accelerate', 'v4auth', 'encrypt', 'keyid', 'objectacl', 'storageclass', 'usefipsendpoint', 'redirectendpoint'];
  assert.deepEqual(warnings.map((w) => w.split(' ')[0]), ignored.map((key) => `storage.s3.${key}`));
  for (const w of warnings) assert.match(w, /^storage\.s3\.\w+ is a distribution setting Quayside does not implement; ignored/);
  assert.match(warnings[7] ?? '', /ignored \(Quayside always signs with AWS Signature Version 4\)$/);
  // storageclass NONE asks S3 for its default too; `key:` with nothing after it is distribution's default.
  assert.equal(build({ storage: { s3: { ...minimal, storageclass: 'NONE', encrypt: null, v4auth: null } } }).warnings.length, 3);
  // From the environment, the variable is named.
  assert.deepEqual(build({ storage: { s3: minimal } }, { REGISTRY_STORAGE_S3_LOGLEVEL: 'debug' }).warnings, ['REGISTRY_STORAGE_S3_LOGLEVEL (storage.s3.loglevel) is a distribution setting Quayside does not implement; ignored']);
});

test('config s3 keys that would weaken security or change how data is stored are refused: fail closed', () => {
  const s3 = (extra: Record<string, unknown>) => () => build({ storage: { s3: { ...minimal, ...extra } } });
  assert.throws(s3({ encrypt: true }), refused(/^storage\.s3\.encrypt: server-side encryption is not implemented: ignoring it would store the objects unencrypted, got true$/));
  assert.throws(s3({ encrypt: 'true' }), refused(/^storage\.s3\.encrypt: /));
  assert.throws(s3({ keyid: 'arn:aws:kms:us-east-1:1:key/abc' }), refused(/^storage\.s3\.keyid: KMS encryption is not implemented/));
  assert.throws(s3({ objectacl: 'public-read' }), refused(/^storage\.s3\.objectacl: only private is supported/, /got "public-read"$/));
  assert.throws(s3({ objectacl: 'bucket-owner-full-control' }), refused(/^storage\.s3\.objectacl: /));
  assert.throws(s3({ storageclass: 'REDUCED_REDUNDANCY' }), refused(/^storage\.s3\.storageclass: only STANDARD is supported/));
  assert.throws(s3({ v4auth: false }), refused(/^storage\.s3\.v4auth: only true is supported: Quayside signs only with AWS Signature Version 4, got false$/));
  assert.throws(s3({ usefipsendpoint: true }), refused(/^storage\.s3\.usefipsendpoint: FIPS endpoints are not implemented/));
  assert.throws(s3({ redirectendpoint: 'https://cdn.example.com' }), refused(/^storage\.s3\.redirectendpoint: is not implemented: .*storage\.redirect\.disable: true/));
  assert.throws(s3({ sessiontoken: 'FwoGZXIvYXdzE' }), refused(/^storage\.s3\.sessiontoken: is not supported: /));
  assert.throws(() => build({ storage: { s3aws: minimal } }), refused(/^storage\.s3aws: is distribution's second name for the s3 driver: write storage\.s3/));
  assert.throws(() => build({ storage: { s3: minimal } }, { REGISTRY_STORAGE_S3_ENCRYPT: 'true' }), refused(/^REGISTRY_STORAGE_S3_ENCRYPT \(storage\.s3\.encrypt\): /));
  // A typo next to them is still a typo, with a suggestion from either list.
  assert.throws(s3({ encrpyt: true }), refused(/^storage\.s3\.encrpyt is not a Quayside setting \(did you mean storage\.s3\.encrypt\?\)$/));
  assert.throws(s3({ chunksise: 1 }), refused(/did you mean storage\.s3\.chunksize\?/));
});

test('config storage.redirect.disable: a Quayside key (default false), read beside either driver', () => {
  assert.equal(build({}).config.storage.redirect.disable, false);
  assert.equal(build({ storage: { s3: minimal } }).config.storage.redirect.disable, false);
  const disabled = build({ storage: { s3: minimal, redirect: { disable: true } } });
  assert.deepEqual(disabled.warnings, []);
  assert.equal(disabled.config.storage.redirect.disable, true);
  assert.equal(build({ storage: { s3: minimal } }, { REGISTRY_STORAGE_REDIRECT_DISABLE: 'true' }).config.storage.redirect.disable, true);
  // REGISTRY_STORAGE=s3 keeps redirect beside the driver, as delete and maintenance.
  assert.equal(build({ storage: { filesystem: {}, redirect: { disable: true } } }, { REGISTRY_STORAGE: 's3', REGISTRY_STORAGE_S3_REGION: 'r', REGISTRY_STORAGE_S3_BUCKET: 'b' }).config.storage.redirect.disable, true);
  assert.throws(() => build({ storage: { redirect: { disable: 'yes' } } }), refused(/^storage\.redirect\.disable must be true or false, got "yes"$/));
  assert.throws(() => build({ storage: { redirect: { disabled: true } } }), refused(/^storage\.redirect\.disabled is not a Quayside setting \(did you mean storage\.redirect\.disable\?\)$/));
});

test('config the s3 secret key never appears in a message, a warning or describeStorage', () => {
  const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
  const { config, warnings } = build({ storage: { s3: { ...minimal, accesskey: 'AKIAEXAMPLE', secretkey: secret, regionendpoint: 'https://s3.example.com', rootdirectory: '/reg', loglevel: 'debug' } } });
  assert.equal(describeStorage(config), 's3 bucket=registry region=us-east-1 endpoint=https://s3.example.com root=/reg');
  assert.equal(describeStorage(build({ storage: { s3: minimal } }).config), 's3 bucket=registry region=us-east-1 root=/');
  for (const line of [describeStorage(config), ...warnings]) assert.ok(!line.includes(secret) && !line.includes('AKIAEXAMPLE'), line);
  // A bad value under a secret key is named, its value is not.
  for (const value of [true, ['x'], { a: 1 }]) {
    assert.throws(() => build({ storage: { s3: { ...minimal, secretkey: value } } }), refused(/^storage\.s3\.secretkey must be a string$/));
  }
  assert.throws(() => build({ storage: { s3: { ...minimal, accesskey: false } } }), refused(/^storage\.s3\.accesskey must be a string$/));
  // An error elsewhere in the same config does not carry the secret either.
  assert.throws(() => build({ storage: { s3: { ...minimal, secretkey: secret, chunksize: 1 } } }), (err: unknown) => err instanceof ConfigError && !err.message.includes(secret));
});

test('config storageLocation names where a driver path is: a file under the root, or s3://bucket/key as the s3 driver keys it', () => {
  const path = '/docker/registry/v2/repositories/a/_manifests/revisions/sha256/ab/link';
  assert.equal(storageLocation(build({ storage: { filesystem: { rootdirectory: '/var/lib/registry' } } }).config, path), `/var/lib/registry${path}`);
  assert.equal(storageLocation(build({ storage: { s3: { ...minimal, rootdirectory: '/reg/' } } }).config, path), `s3://registry/reg${path}`);
  assert.equal(storageLocation(build({ storage: { s3: minimal } }).config, path), `s3://registry${path}`);
  // From the DriverParams actually opened, too (createRegistry's options.driverParams).
  assert.equal(storageLocation({ s3: { ...minimal, rootdirectory: 'x' } }, path), `s3://registry/x${path}`);
  assert.equal(describeStorage({ s3: { ...minimal, secretkey: 'never-shown' } }), 's3 bucket=registry region=us-east-1 root=/');
  assert.equal(describeStorage({ filesystem: { rootdirectory: '/tmp/r', directio: false } }), 'filesystem /tmp/r');
});

test('config a docker-registry config.yml for S3, as distribution\'s docs write it, loads (warnings for what Quayside ignores)', async (t) => {
  // distribution docs/content/about/configuration.md "storage" and storage-drivers/s3.md, the S3 parts.
  const file = await configFile(t, [
    'version: 0.1',
    'log:',
    '  level: debug',
    '  fields:',
    '    service: registry',
    'storage:',
    '  s3:',
    '    accesskey: awsaccesskey',
    '    secretkey: awssecretkey',
    '    region: us-west-1',
    '    regionendpoint: http://myobjects.local',
    '    forcepathstyle: true',
    '    accelerate: false',
    '    bucket: bucketname',
    '    encrypt: false',
    '    keyid: ""',
    '    secure: true',
    '    v4auth: true',
    '    chunksize: 5242880',
    '    multipartcopychunksize: 33554432',
    '    multipartcopymaxconcurrency: 100',
    '    multipartcopythresholdsize: 33554432',
    '    rootdirectory: /s3/object/name/prefix',
    '    usedualstack: false',
    '    loglevel: debug',
    '  delete:',
    '    enabled: false',
    '  redirect:',
    '    disable: false',
    '  cache:',
    '    blobdescriptor: inmemory',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: true',
    '      age: 168h',
    '      interval: 24h',
    '      dryrun: false',
    '    readonly:',
    '      enabled: false',
    'http:',
    '  addr: :5000',
    '  secret: asecretforlocaldevelopment',
  ]);
  const warnings: string[] = [];
  const config = await loadConfig(file, {}, { onWarning: (message) => warnings.push(message) });
  assert.deepEqual(driverParamsOf(config), {
    s3: { region: 'us-west-1', regionendpoint: 'http://myobjects.local', bucket: 'bucketname', accesskey: 'awsaccesskey', secretkey: 'awssecretkey', forcepathstyle: true, rootdirectory: '/s3/object/name/prefix', chunksize: 5_242_880, secure: true, skipverify: false },
  });
  assert.equal(config.storage.redirect.disable, false);
  assert.deepEqual(warnings.map((w) => w.split(' ')[0]), [
    'log.fields',
    'storage.s3.accelerate',
    'storage.s3.encrypt',
    'storage.s3.keyid',
    'storage.s3.v4auth',
    'storage.s3.multipartcopychunksize',
    'storage.s3.multipartcopymaxconcurrency',
    'storage.s3.multipartcopythresholdsize',
    'storage.s3.usedualstack',
    'storage.s3.loglevel',
    'storage.cache',
    'http.secret',
  ]);
});
