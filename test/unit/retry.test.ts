import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, retry } from '../../src/core/retry';
import { FinpipeError, isRetriable } from '../../src/core/errors';

test('backoff grows exponentially, is capped, and jitter stays within bounds', () => {
  const mid = () => 0.5; // jitter factor 1.0
  assert.equal(backoffDelay(0, { initialMs: 100 }, mid), 100);
  assert.equal(backoffDelay(3, { initialMs: 100 }, mid), 800);
  assert.equal(backoffDelay(50, { initialMs: 100, maxMs: 5000 }, mid), 5000);
  assert.equal(backoffDelay(0, { initialMs: 1000, jitter: 0.3 }, () => 0), 700);
  assert.equal(backoffDelay(0, { initialMs: 1000, jitter: 0.3 }, () => 1), 1300);
});

test('retry retries retriable errors and keeps every attempt', async () => {
  let calls = 0;
  const result = await retry(async () => {
    calls++;
    if (calls < 3) throw new FinpipeError('KAFKA_UNAVAILABLE', `down ${calls}`);
    return 'ok';
  }, { initialMs: 1 });
  assert.equal(result, 'ok');
  assert.equal(calls, 3);

  await assert.rejects(
    retry(async (n) => { throw new FinpipeError('MYSQL_UNAVAILABLE', `attempt ${n}`); }, { initialMs: 1, attempts: 3 }),
    (e: unknown) => (e as { attempts: string[] }).attempts.join('|') === 'attempt 0|attempt 1|attempt 2',
  );
});

test('programming errors and non-retriable codes are never retried', async () => {
  let calls = 0;
  await assert.rejects(retry(async () => { calls++; throw new TypeError('x is undefined'); }, { initialMs: 1 }), TypeError);
  assert.equal(calls, 1);
  assert.equal(isRetriable(new FinpipeError('DECODE_FAILED', 'bad bytes')), false);
  assert.equal(isRetriable(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), true);
});

test('delayMs overrides the backoff when it returns a delay, and falls back to it when it returns undefined', async () => {
  const delays: number[] = [];
  let calls = 0;
  const result = await retry(async () => {
    calls++;
    if (calls < 3) throw new FinpipeError('SOURCE_UNAVAILABLE', `busy ${calls}`);
    return 'ok';
  }, {
    initialMs: 1,
    jitter: 0,
    delayMs: (_error, attempt) => (attempt === 0 ? 25 : undefined),
    onRetry: (_error, _attempt, delay) => delays.push(delay),
  });
  assert.equal(result, 'ok');
  assert.deepEqual(delays, [25, 2]);
});
