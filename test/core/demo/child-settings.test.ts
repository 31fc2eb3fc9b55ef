import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../../src/core/config';
import { demoChildSettings } from '../../../src/core/demo/child-settings';

/** What `finpipe demo` passes on to its stages (src/core/demo/child-settings.ts). */

const config = (flags: Record<string, string>) => loadConfig({ envFile: '/dev/null', env: {}, flags });

test("the demo's brokers, -X settings, registry (with credentials) and env file reach every stage", () => {
  const settings = demoChildSettings(
    config({ 'kafka.brokers': 'k1:9092,k2:9093', 'schemaRegistry.url': 'http://reg-user:reg-pass@registry:8081/apis/ccompat/v7' }),
    { kafkaSettings: ['client.id=desk-7', 'request.timeout.ms=45000'], envFile: '/etc/finpipe.env' },
  );
  assert.deepEqual(settings.env, {
    FINPIPE_KAFKA_BROKERS: 'k1:9092,k2:9093',
    FINPIPE_ENV_FILE: '/etc/finpipe.env',
    FINPIPE_SCHEMA_REGISTRY_URL: 'http://registry:8081/apis/ccompat/v7',
    FINPIPE_SCHEMA_REGISTRY_USERNAME: 'reg-user',
    FINPIPE_SCHEMA_REGISTRY_PASSWORD: 'reg-pass',
  });
  assert.deepEqual(settings.args, ['-X', 'client.id=desk-7', '-X', 'request.timeout.ms=45000']);
  assert.ok(!settings.args.join(' ').includes('reg-pass'), 'the registry password is never an argument (visible in ps)');
});

test('without flags: the default brokers, no -X, no registry, no env file', () => {
  const settings = demoChildSettings(config({}), {});
  assert.deepEqual(settings, { env: { FINPIPE_KAFKA_BROKERS: '127.0.0.1:9092' }, args: [] });
});
