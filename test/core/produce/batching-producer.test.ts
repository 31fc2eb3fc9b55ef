import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import type { Message, ProducerBatch } from 'kafkajs';
import { BatchingProducer } from '../../../src/core/produce/batching-producer';
import { PRODUCE_DEFAULTS } from '../../../src/core/produce/options';

const DEFAULT_BATCHING = PRODUCE_DEFAULTS.batching;
import { FinpipeError } from '../../../src/core/errors';

function captureLogger() {
  const lines: { level: string; msg: string; [k: string]: unknown }[] = [];
  const logger = pino(
    { level: 'debug', base: undefined, formatters: { level: (label) => ({ level: label }) } },
    { write: (l: string) => lines.push(JSON.parse(l) as (typeof lines)[number]) },
  );
  return { logger, lines };
}

/**
 * A fake kafkajs sender: records each sendBatch request; the request is acknowledged or failed
 * when the test says so (ack(i) / fail(i, error)), like a broker answering.
 */
function fakeSender() {
  const batches: { topic: string; keys: string[] }[][] = [];
  const answers: { resolve(): void; reject(e: Error): void }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  return {
    batches,
    get maxInFlight() {
      return maxInFlight;
    },
    ack: async (i: number) => {
      answers[i].resolve();
      await settle();
    },
    fail: async (i: number, error: Error) => {
      answers[i].reject(error);
      await settle();
    },
    sender: {
      sendBatch(batch: ProducerBatch) {
        assert.equal(batch.acks, -1, 'acks=all');
        batches.push(batch.topicMessages!.map((t) => ({ topic: t.topic, keys: t.messages.map((m) => String(m.key)) })));
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        return new Promise<never[]>((resolve, reject) =>
          answers.push({
            resolve: () => {
              inFlight--;
              resolve([]);
            },
            reject: (e) => {
              inFlight--;
              reject(e);
            },
          }),
        );
      },
    },
  };
}

/** Lets promise callbacks run (a batch's acknowledgement handling is a few promise hops). */
const settle = () => new Promise((r) => setImmediate(r));
const msg = (key: string, size = 10): Message => ({ key, value: Buffer.alloc(size) });
/** Settings under which only the test triggers sends (no count, byte or linger trigger). */
const MANUAL = { maxBatchMessages: 1_000_000, maxBatchBytes: 1e12, lingerMs: 3_600_000, maxBufferedBytes: 1e12 };
const keysOf = (batch: { keys: string[] }[]) => batch.flatMap((t) => t.keys);

describe('BatchingProducer', () => {
  test("defaults: batches under the broker's 1 MiB message.max.bytes, a short linger, a bounded buffer", () => {
    assert.ok(DEFAULT_BATCHING.maxBatchBytes < 1024 * 1024);
    assert.ok(DEFAULT_BATCHING.lingerMs > 0 && DEFAULT_BATCHING.lingerMs <= 100);
    assert.ok(DEFAULT_BATCHING.maxBufferedBytes > DEFAULT_BATCHING.maxBatchBytes);
  });

  test('sends as soon as maxBatchBytes are pending, without waiting for the linger, and keeps the batch under maxBatchBytes', async () => {
    const f = fakeSender();
    const out = new BatchingProducer(f.sender, pino({ level: 'silent' }), { ...MANUAL, maxBatchBytes: 500 });
    out.add('t', msg('a', 200));
    assert.equal(f.batches.length, 0, 'under maxBatchBytes: waits');
    out.add('t', msg('b', 200)); // two messages of 200+ bytes each: past 500 with the per-message overhead
    assert.equal(f.batches.length, 1, 'past maxBatchBytes: sent at once');
    assert.deepEqual(keysOf(f.batches[0]), ['a'], 'both together would be over maxBatchBytes');
    assert.equal(out.pendingMessages, 1);
    await f.ack(0);
    assert.deepEqual(keysOf(f.batches[1]), ['b']);
    await f.ack(1);
    await out.flush();
  });

  test('a message larger than maxBatchBytes is still sent, alone', async () => {
    const f = fakeSender();
    const out = new BatchingProducer(f.sender, pino({ level: 'silent' }), { ...MANUAL, maxBatchBytes: 100 });
    out.add('t', msg('big', 1_000));
    assert.equal(f.batches.length, 1);
    out.add('t', msg('next', 10));
    await f.ack(0);
    assert.equal(f.batches.length, 2);
    assert.deepEqual(f.batches.map(keysOf), [['big'], ['next']]);
    await f.ack(1);
    await out.flush();
  });

  test('one request carries every topic; each topic keeps the order of its messages', async () => {
    const f = fakeSender();
    const out = new BatchingProducer(f.sender, pino({ level: 'silent' }), MANUAL);
    out.add('t1', msg('a'));
    out.add('t2', msg('b'));
    out.add('t1', msg('c'));
    out.add('t2', msg('d'));
    const flushed = out.flush();
    assert.equal(f.batches.length, 1, 'flush sends what is queued at once');
    assert.deepEqual(f.batches[0], [
      { topic: 't1', keys: ['a', 'c'] },
      { topic: 't2', keys: ['b', 'd'] },
    ]);
    await f.ack(0);
    await flushed;
  });

  test('heavy traffic: what queued up during a send goes as soon as it is acknowledged, not after another linger', async () => {
    const f = fakeSender();
    const out = new BatchingProducer(f.sender, pino({ level: 'silent' }), MANUAL); // linger of an hour
    out.add('t', msg('1'));
    const flushed = out.flush();
    out.add('t', msg('2'));
    out.add('t', msg('3'));
    assert.equal(f.batches.length, 1, 'one batch in flight at a time');
    await f.ack(0);
    assert.equal(f.batches.length, 2, 'acknowledged: the pending messages go at once');
    assert.deepEqual(keysOf(f.batches[1]), ['2', '3']);
    await f.ack(1);
    await flushed;
    assert.equal(f.maxInFlight, 1);
  });

  test('linger is measured from the oldest pending message; later messages do not push it back', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    const f = fakeSender();
    const out = new BatchingProducer(f.sender, pino({ level: 'silent' }), { ...MANUAL, lingerMs: 100 });
    out.add('t', msg('1'));
    t.mock.timers.tick(60);
    out.add('t', msg('2'));
    t.mock.timers.tick(39);
    assert.equal(f.batches.length, 0, '99 ms: not yet');
    t.mock.timers.tick(1);
    assert.equal(f.batches.length, 1, '100 ms after the first message');
    assert.deepEqual(keysOf(f.batches[0]), ['1', '2']);
    // While the batch is in flight nothing is timed: an add waits for the acknowledgement.
    out.add('t', msg('3'));
    t.mock.timers.tick(1_000);
    assert.equal(f.batches.length, 1);
    await f.ack(0);
    assert.deepEqual(keysOf(f.batches[1]), ['3']);
    await f.ack(1);
    // Idle again: the next message starts a new linger.
    out.add('t', msg('4'));
    t.mock.timers.tick(99);
    assert.equal(f.batches.length, 2);
    t.mock.timers.tick(1);
    assert.equal(f.batches.length, 3);
    await f.ack(2);
    await out.flush();
  });

  test('a batch unacknowledged for 10 s is reported (once per 10 s) until acknowledged', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    const { logger, lines } = captureLogger();
    const f = fakeSender();
    const out = new BatchingProducer(f.sender, logger, MANUAL);
    out.add('t', msg('a'));
    out.add('t', msg('b'));
    const flushed = out.flush();
    t.mock.timers.tick(9_999);
    assert.equal(lines.length, 0);
    t.mock.timers.tick(1);
    assert.equal(lines.length, 1);
    assert.equal(lines[0].level, 'warn');
    assert.match(lines[0].msg, /not acknowledged a batch of 2 messages/);
    assert.equal(lines[0].messages, 2);
    t.mock.timers.tick(10_000);
    assert.equal(lines.length, 2);
    await f.ack(0);
    await flushed;
    t.mock.timers.tick(60_000);
    assert.equal(lines.length, 2, 'no warning after the acknowledgement');
  });

  test('bufferedBytes counts queued and in-flight bytes, by message size; acked holds messages, bytes and weight per topic', async () => {
    const f = fakeSender();
    const out = new BatchingProducer(f.sender, pino({ level: 'silent' }), MANUAL);
    assert.equal(out.bufferedBytes, 0);
    out.add('a', { key: 'k', value: Buffer.alloc(10) }, 3);
    const small = out.bufferedBytes;
    assert.ok(small >= 11, 'at least key and value');
    out.add('a', { key: 'k', value: Buffer.alloc(110) }, 4);
    assert.equal(out.bufferedBytes - small, small + 100, 'a value 100 bytes longer costs 100 bytes more');
    out.add('b', { key: 'k', value: Buffer.alloc(10), headers: { origin: 'x'.repeat(50) } }, 5);
    const withHeaders = out.bufferedBytes - (2 * small + 100);
    assert.ok(withHeaders >= small + 50, 'headers count');
    const total = out.bufferedBytes;
    assert.equal(out.pendingMessages, 3);
    const flushed = out.flush();
    assert.equal(out.pendingMessages, 0);
    assert.equal(out.bufferedBytes, total, 'in flight: still buffered until acknowledged');
    assert.equal(out.acked.size, 0, 'nothing counted before the acknowledgement');
    await f.ack(0);
    await flushed;
    assert.equal(out.bufferedBytes, 0);
    assert.equal(out.batches, 1);
    assert.deepEqual(out.acked.get('a'), { messages: 2, bytes: 2 * small + 100, weight: 7 });
    assert.deepEqual(out.acked.get('b'), { messages: 1, bytes: withHeaders, weight: 5 });
  });

  test('flush with nothing pending resolves without a request; flush keeps sending until everything is acknowledged', async () => {
    const f = fakeSender();
    const out = new BatchingProducer(f.sender, pino({ level: 'silent' }), { ...MANUAL, maxBatchMessages: 2 });
    await out.flush();
    assert.equal(f.batches.length, 0);
    for (let i = 0; i < 5; i++) out.add('t', msg(String(i)));
    let done = false;
    const flushed = out.flush().then(() => (done = true));
    for (let i = 0; i < 3; i++) {
      await settle();
      assert.equal(done, false, `batch ${i} not yet acknowledged`);
      await f.ack(i);
    }
    await flushed;
    assert.deepEqual(f.batches.map(keysOf), [['0', '1'], ['2', '3'], ['4']]);
    assert.equal(out.batches, 3);
    assert.equal(out.acked.get('t')!.messages, 5);
  });

  test('whenAcked: resolves once everything queued before it is acknowledged (not before), cutting the linger short', async () => {
    const f = fakeSender();
    const out = new BatchingProducer(f.sender, pino({ level: 'silent' }), MANUAL);
    await out.whenAcked(); // nothing queued: nothing to wait for
    out.add('t', msg('a'));
    out.add('t', msg('b'));
    let first = false;
    const acked = out.whenAcked().then(() => (first = true));
    assert.equal(f.batches.length, 1, 'a waiting client does not wait out the linger');
    out.add('t', msg('c')); // queued while the first batch is in flight
    let second = false;
    const acked2 = out.whenAcked().then(() => (second = true));
    await settle();
    assert.equal(first, false, 'not acknowledged yet');
    await f.ack(0);
    await acked;
    assert.equal(second, false, 'c is in the next batch, not acknowledged yet');
    assert.deepEqual(keysOf(f.batches[1]), ['c']);
    await f.ack(1);
    await acked2;
  });

  test('whenAcked rejects with the failure when Kafka fails first', async () => {
    const f = fakeSender();
    const out = new BatchingProducer(f.sender, pino({ level: 'silent' }), MANUAL);
    out.add('t', msg('a'));
    const acked = assert.rejects(out.whenAcked(), (e: unknown) => e instanceof FinpipeError && e.code === 'KAFKA_ERROR');
    await f.fail(0, new Error('broker gone'));
    await acked;
    await assert.rejects(out.whenAcked(), FinpipeError);
  });

  test('backpressure: waitForSpace waits from maxBufferedBytes on and releases every waiter once drained to half', async () => {
    const f = fakeSender();
    const out = new BatchingProducer(f.sender, pino({ level: 'silent' }), { ...MANUAL, maxBatchMessages: 1 });
    out.add('t', msg('p', 100)); // same size as the messages below
    const size = out.bufferedBytes;
    await f.ack(0);
    // A bound of exactly four messages.
    const bounded = new BatchingProducer(f.sender, pino({ level: 'silent' }), {
      ...MANUAL,
      maxBatchMessages: 1,
      maxBufferedBytes: 4 * size,
    });
    for (let i = 0; i < 3; i++) {
      bounded.add('t', msg(String(i), 100));
      assert.equal(bounded.waitForSpace(), undefined, `${i + 1} of 4: room left`);
    }
    bounded.add('t', msg('3', 100));
    const released = [false, false];
    const waits = [bounded.waitForSpace(), bounded.waitForSpace()];
    assert.ok(waits[0] && waits[1], 'at the bound: wait');
    waits.forEach((w, i) => void w!.then(() => (released[i] = true)));
    await f.ack(1); // 3 of 4 left: under the bound but not under half
    assert.deepEqual(released, [false, false]);
    await f.ack(2); // 2 of 4 left: exactly half is not under half
    assert.deepEqual(released, [false, false]);
    await f.ack(3); // 1 of 4: drained
    assert.deepEqual(released, [true, true]);
    assert.equal(bounded.waitForSpace(), undefined);
    await f.ack(4);
    await bounded.flush();
  });

  test('a failed send is fatal: KAFKA_ERROR with the cause, nothing more is sent, and every later call fails', async () => {
    const f = fakeSender();
    const out = new BatchingProducer(f.sender, pino({ level: 'silent' }), { ...MANUAL, maxBatchMessages: 2 });
    out.add('t', msg('1'));
    out.add('t', msg('2')); // sent
    out.add('t', msg('3')); // queued behind it
    const flushed = out.flush();
    const cause = Object.assign(new Error('Topic authorization failed'), { retriable: false });
    const rejected = assert.rejects(flushed, (e: unknown) => {
      assert.ok(e instanceof FinpipeError);
      assert.equal(e.code, 'KAFKA_ERROR');
      assert.match(e.message, /cannot write to Kafka: Topic authorization failed/);
      assert.equal(e.cause, cause);
      assert.equal(e.context.unacknowledgedMessages, 3, 'the failed batch and the queued message');
      assert.match(e.hint ?? '', /not yet acknowledged were not written/);
      return true;
    });
    await f.fail(0, cause);
    await rejected;
    await settle();
    assert.equal(f.batches.length, 1, 'the queued message is not sent after the failure');
    assert.throws(() => out.add('t', msg('4')), /cannot write to Kafka/);
    await assert.rejects(out.waitForSpace()!, /cannot write to Kafka/);
    await assert.rejects(out.flush(), /cannot write to Kafka/);
    assert.equal(out.acked.size, 0);
  });

  test('a failed send rejects the waiters blocked on backpressure', async () => {
    const f = fakeSender();
    const out = new BatchingProducer(f.sender, pino({ level: 'silent' }), { ...MANUAL, maxBatchMessages: 1, maxBufferedBytes: 1 });
    out.add('t', msg('1'));
    const wait = out.waitForSpace();
    assert.ok(wait);
    const rejected = assert.rejects(
      wait,
      (e: unknown) => e instanceof FinpipeError && e.code === 'KAFKA_ERROR' && /broker gone/.test(e.message),
    );
    await f.fail(0, new Error('broker gone'));
    await rejected;
  });

  // The hint used to name a --batch-bytes flag that does not exist: it now names the broker setting to fix.
  test('a "too large" failure hints at the broker\'s message.max.bytes, not at a flag that does not exist', async () => {
    const f = fakeSender();
    const out = new BatchingProducer(f.sender, pino({ level: 'silent' }), MANUAL);
    out.add('t', msg('1'));
    const flushed = out.flush();
    const rejected = assert.rejects(
      flushed,
      (e: unknown) =>
        e instanceof FinpipeError &&
        /message\.max\.bytes/.test(e.hint ?? '') &&
        /at least 1 MiB/.test(e.hint ?? '') &&
        !/--/.test(e.hint ?? ''),
    );
    await f.fail(
      0,
      new Error(
        'The request included a message larger than the max message size the server will accept (MESSAGE_TOO_LARGE): Message too large',
      ),
    );
    await rejected;
  });
});
