import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { defaultGroupId, processOptions, PROCESS_DEFAULTS } from '../../../src/core/process/options';
import { LIMITS } from '../../../src/core/limits';
import { FinpipeError } from '../../../src/core/errors';

const base = {
  kafka: { brokers: ['127.0.0.1:9092'] } as never,
  logger: pino({ level: 'silent' }),
};

test('the default group keeps finpipe-process for the default raw topic and names the raw topic otherwise', () => {
  assert.equal(defaultGroupId('trades'), 'finpipe-process');
  assert.equal(defaultGroupId('trades-eu'), 'finpipe-process-trades-eu');
  const other = processOptions({ ...base, topics: { raw: 'fx', late: 'l', deadLetter: 'd' } });
  assert.equal(other.groupId, 'finpipe-process-fx');
  const given = processOptions({ ...base, topics: { raw: 'fx', late: 'l', deadLetter: 'd' }, groupId: 'mine' });
  assert.equal(given.groupId, 'mine');
});

test('defaults: no topic prefix, max-future from LIMITS', () => {
  const o = processOptions({ ...base, topics: { raw: 'trades', late: 'l', deadLetter: 'd' } });
  assert.equal(o.topicPrefix, '');
  assert.equal(o.maxFutureMs, LIMITS.maxFutureMs);
  assert.equal(PROCESS_DEFAULTS.maxFutureMs, 60_000);
});

test('a topic prefix that cannot start topic names is a usage error', () => {
  assert.throws(
    () => processOptions({ ...base, topics: { raw: 'trades', late: 'l', deadLetter: 'd' }, topicPrefix: '__x' }),
    (e: unknown) => e instanceof FinpipeError && e.code === 'USAGE' && /internal/.test(e.message),
  );
});
