import assert from 'node:assert/strict';
import { test } from 'node:test';
import { driverParamsOf, describeStorage } from '../../src/config/driver-params.ts';
import { build, refused } from '../helpers/config.ts';

test('config storage.inmemory: `inmemory:` (YAML null), `inmemory: {}` and REGISTRY_STORAGE=inmemory select the driver', () => {
  for (const { config } of [build({ storage: { inmemory: null } }), build({ storage: { inmemory: {} } }), build({ storage: { filesystem: { rootdirectory: '/r' }, delete: { enabled: true } } }, { REGISTRY_STORAGE: 'inmemory' })]) {
    assert.deepEqual(config.storage.inmemory, {});
    assert.equal(config.storage.filesystem, undefined);
    assert.deepEqual(driverParamsOf(config), { inmemory: {} });
    assert.equal(describeStorage(config), 'inmemory');
  }
  // The settings beside the driver stay when REGISTRY_STORAGE selects it.
  assert.equal(build({ storage: { filesystem: { rootdirectory: '/r' }, delete: { enabled: true } } }, { REGISTRY_STORAGE: 'inmemory' }).config.storage.delete.enabled, true);
});

test('config storage.inmemory: takes no parameters; with another driver it is refused', () => {
  assert.throws(() => build({ storage: { inmemory: { size: 1 } } }), refused(/storage\.inmemory\.size/));
  assert.throws(() => build({ storage: { inmemory: {}, filesystem: { rootdirectory: '/r' } } }), refused(/must configure one storage driver, got (filesystem, inmemory|inmemory, filesystem)/));
});
