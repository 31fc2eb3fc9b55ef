import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CLIENT_SETTINGS, parseClientSettings, withConsumerSettings } from '../../../src/core/kafka/client-settings';
import { FinpipeError } from '../../../src/core/errors';

describe('parseClientSettings (-X key=value)', () => {
  test('maps each supported key onto kafkajs', () => {
    const s = parseClientSettings([
      'client.id=my-app',
      'request.timeout.ms=10000',
      'socket.connection.setup.timeout.ms=3000',
      'sasl.authentication.timeout.ms=4000',
      'retries=2',
      'retry.backoff.ms=100',
      'retry.backoff.max.ms=5000',
      'session.timeout.ms=30000',
      'heartbeat.interval.ms=3000',
      'max.poll.interval.ms=60000',
      'fetch.min.bytes=1',
      'fetch.max.bytes=10485760',
      'max.partition.fetch.bytes=1048576',
      'fetch.max.wait.ms=200',
      'metadata.max.age.ms=60000',
    ]);
    assert.deepEqual(s, {
      clientId: 'my-app',
      client: { requestTimeout: 10000, connectionTimeout: 3000, authenticationTimeout: 4000 },
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 5000 },
      consumer: {
        sessionTimeout: 30000,
        heartbeatInterval: 3000,
        rebalanceTimeout: 60000,
        minBytes: 1,
        maxBytes: 10485760,
        maxBytesPerPartition: 1048576,
        maxWaitTimeInMs: 200,
        metadataMaxAge: 60000,
      },
    });
    assert.equal(Object.keys(CLIENT_SETTINGS).length, 15, 'every key is covered above');
  });

  test('no -X at all is empty settings; the last of a repeated key wins', () => {
    assert.deepEqual(parseClientSettings([]), { client: {}, retry: {}, consumer: {} });
    assert.equal(parseClientSettings(['retries=1', 'retries=4']).retry.retries, 4);
    assert.equal(parseClientSettings([' request.timeout.ms = 900 ']).client.requestTimeout, 900);
  });

  test('unknown keys, bad values and a missing = are all reported at once, with the supported keys', () => {
    let error: unknown;
    try {
      parseClientSettings(['linger.ms=5', 'request.timeout.ms=fast', 'retries=-1', 'client.id=has space', 'nokey', '=5', 'constructor=1']);
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof FinpipeError);
    assert.equal(error.code, 'USAGE');
    assert.equal(error.exitCode, 2);
    assert.match(error.message, /-X linger\.ms: not a supported setting/);
    assert.match(error.message, /-X request\.timeout\.ms: "fast" must be a whole number of milliseconds from 100 to 86400000/);
    assert.match(error.message, /-X retries: "-1" must be a whole number of retries from 0 to 100/);
    assert.match(error.message, /-X client\.id: "has space" must be 1-200 letters/);
    assert.match(error.message, /-X "nokey" is not key=value/);
    assert.match(error.message, /-X "=5" is not key=value/);
    assert.match(error.message, /-X constructor: not a supported setting/);
    assert.match(error.hint ?? '', /^supported -X keys: client\.id, request\.timeout\.ms, .*metadata\.max\.age\.ms/);
  });

  test('values outside the range are refused', () => {
    assert.throws(() => parseClientSettings(['request.timeout.ms=5']), /from 100 to/);
    assert.throws(() => parseClientSettings(['fetch.max.bytes=1e6']), /whole number of bytes/);
    assert.throws(
      () => parseClientSettings(['session.timeout.ms=6000', 'heartbeat.interval.ms=6000']),
      /must be below session\.timeout\.ms/,
    );
  });
});

describe('withConsumerSettings', () => {
  const stage = { groupId: 'g', sessionTimeout: 10_000, heartbeatInterval: 3_000, maxWaitTimeInMs: 250 };

  test('without -X the stage config is unchanged', () => {
    assert.deepEqual(withConsumerSettings(stage, undefined), stage);
    assert.deepEqual(withConsumerSettings(stage, parseClientSettings([])), stage);
  });

  test('-X consumer settings win over the stage values', () => {
    assert.deepEqual(withConsumerSettings(stage, parseClientSettings(['fetch.max.wait.ms=50', 'session.timeout.ms=30000'])), {
      ...stage,
      maxWaitTimeInMs: 50,
      sessionTimeout: 30_000,
    });
  });

  test("a shorter session timeout alone pulls the stage's heartbeat below it", () => {
    assert.deepEqual(withConsumerSettings(stage, parseClientSettings(['session.timeout.ms=6000'])), {
      ...stage,
      sessionTimeout: 6_000,
      heartbeatInterval: 2_000,
    });
  });
});
