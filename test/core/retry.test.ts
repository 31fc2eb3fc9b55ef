import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, giveUpAfterStop, retry, sleep } from '../../src/core/retry';
import { FinpipeError, isRetriable } from '../../src/core/errors';

test('backoff grows exponentially, is capped, and jitter stays within bounds', () => {
  const mid = () => 0.5; // jitter factor 1.0
  assert.equal(backoffDelay(0, { initialMs: 100 }, mid), 100);
  assert.equal(backoffDelay(3, { initialMs: 100 }, mid), 800);
  assert.equal(backoffDelay(50, { initialMs: 100, maxMs: 5000 }, mid), 5000);
  assert.equal(
    backoffDelay(0, { initialMs: 1000, jitter: 0.3 }, () => 0),
    700,
  );
  assert.equal(
    backoffDelay(0, { initialMs: 1000, jitter: 0.3 }, () => 1),
    1300,
  );
});

test('retry retries retriable errors and keeps every attempt', async () => {
  let calls = 0;
  const result = await retry(
    async () => {
      calls++;
      if (calls < 3) throw new FinpipeError('KAFKA_UNAVAILABLE', `down ${calls}`);
      return 'ok';
    },
    { initialMs: 1 },
  );
  assert.equal(result, 'ok');
  assert.equal(calls, 3);

  await assert.rejects(
    retry(
      async (n) => {
        throw new FinpipeError('MYSQL_UNAVAILABLE', `attempt ${n}`);
      },
      { initialMs: 1, attempts: 3 },
    ),
    (e: unknown) => (e as { attempts: string[] }).attempts.join('|') === 'attempt 0|attempt 1|attempt 2',
  );
});

test('programming errors and non-retriable codes are never retried', async () => {
  let calls = 0;
  await assert.rejects(
    retry(
      async () => {
        calls++;
        throw new TypeError('x is undefined');
      },
      { initialMs: 1 },
    ),
    TypeError,
  );
  assert.equal(calls, 1);
  assert.equal(isRetriable(new FinpipeError('DECODE_FAILED', 'bad bytes')), false);
  assert.equal(isRetriable(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), true);
});

test('retry: onFirstFailure once per outage, onRetry before each sleep, onRecovered after the success', async () => {
  const events: string[] = [];
  let calls = 0;
  const result = await retry(
    async () => {
      calls++;
      if (calls < 4) throw new FinpipeError('MYSQL_UNAVAILABLE', `down ${calls}`);
      return calls;
    },
    {
      initialMs: 1,
      onFirstFailure: (e) => events.push(`first:${(e as Error).message}`),
      onRetry: (_e, attempt) => events.push(`retry:${attempt}`),
      onRecovered: ({ attempts }) => events.push(`recovered:${attempts}`),
    },
  );
  assert.equal(result, 4);
  assert.deepEqual(events, ['first:down 1', 'retry:0', 'retry:1', 'retry:2', 'recovered:4']);
});

test('retry: no onRecovered when the first attempt succeeds', async () => {
  let recovered = false;
  assert.equal(await retry(async () => 'ok', { onRecovered: () => (recovered = true) }), 'ok');
  assert.equal(recovered, false);
});

test('retry: giveUp ends the retries, and an Error it returns is thrown instead, with every attempt', async () => {
  let calls = 0;
  await assert.rejects(
    retry(
      async () => {
        calls++;
        throw new FinpipeError('KAFKA_UNAVAILABLE', `attempt ${calls}`);
      },
      { initialMs: 1, giveUp: (_e, attempt) => (attempt >= 2 ? new FinpipeError('KAFKA_UNAVAILABLE', 'gave up') : false) },
    ),
    (e: unknown) =>
      (e as Error).message === 'gave up' && (e as { attempts: string[] }).attempts.join('|') === 'attempt 1|attempt 2|attempt 3',
  );
  assert.equal(calls, 3);
});

test('retry: the retriable hook decides instead of isRetriable', async () => {
  let calls = 0;
  const result = await retry(
    async () => {
      if (++calls < 3) throw new TypeError('normally never retried');
      return calls;
    },
    { initialMs: 1, retriable: () => true },
  );
  assert.equal(result, 3);
});

test('retry: an aborted signal ends the sleep and the retries with the last error', async () => {
  const controller = new AbortController();
  const started = Date.now();
  setTimeout(() => controller.abort(), 20);
  await assert.rejects(
    retry(
      async () => {
        throw new FinpipeError('MYSQL_UNAVAILABLE', 'down');
      },
      { initialMs: 60_000, signal: controller.signal },
    ),
    /down/,
  );
  assert.ok(Date.now() - started < 5_000, 'the 60 s backoff sleep was cut short by the abort');
});

test('giveUpAfterStop: retries while running; once stopping, gives the grace period, then the stopped error', async () => {
  let stopping = false;
  const giveUp = giveUpAfterStop(
    () => stopping,
    50,
    (last) => new Error(`stopped: ${(last as Error).message}`),
  )!;
  const error = new Error('unreachable');
  assert.equal(giveUp(error, 0), false);
  stopping = true;
  assert.equal(giveUp(error, 1), false, 'the grace period starts at the first failure after the stop');
  await sleep(60); // past the 50 ms grace period
  const result = giveUp(error, 2);
  assert.ok(result instanceof Error && result.message === 'stopped: unreachable');
});

test('delayMs overrides the backoff when it returns a delay, and falls back to it when it returns undefined', async () => {
  const delays: number[] = [];
  let calls = 0;
  const result = await retry(
    async () => {
      calls++;
      if (calls < 3) throw new FinpipeError('SOURCE_UNAVAILABLE', `busy ${calls}`);
      return 'ok';
    },
    {
      initialMs: 1,
      jitter: 0,
      delayMs: (_error, attempt) => (attempt === 0 ? 25 : undefined),
      onRetry: (_error, _attempt, delay) => delays.push(delay),
    },
  );
  assert.equal(result, 'ok');
  assert.deepEqual(delays, [25, 2]);
});
