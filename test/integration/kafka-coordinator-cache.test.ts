import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { createKafka } from '../../src/core/kafka/client';
import { cachedCoordinators } from '../../src/core/kafka/coordinator-cache';
import { loadConfig } from '../../src/core/config';
import { BROKERS, createTopic, readTopic, uniqueName } from '../helpers/kafka';

/**
 * The transaction-coordinator cache (src/core/kafka/coordinator-cache.ts) against the real
 * broker: transactions commit as before, with one FindCoordinator per transaction (the
 * consumer group's, for sendOffsets) instead of four, and a producer whose requests fail
 * looks its coordinator up again.
 */
test('transactions ask for the transaction coordinator once, then reuse it; the records commit', async (t) => {
  const topic = await createTopic(t, 'coord-cache');
  const config = loadConfig({ env: { FINPIPE_KAFKA_BROKERS: BROKERS.join(',') }, envFile: '/dev/null' });
  const kafka = createKafka(config.kafka, pino({ level: 'silent' }), 'test');
  const producer = kafka.producer({ transactionalId: uniqueName('coord-cache'), idempotent: true, maxInFlightRequests: 1 });
  const lookups: string[] = [];
  producer.on(producer.events.REQUEST, ({ payload }) => {
    if (payload.apiName === 'GroupCoordinator') lookups.push(payload.apiName);
  });
  await producer.connect();
  t.after(() => producer.disconnect());
  const group = uniqueName('coord-cache-g');
  const transactions = 10;
  let before = 0;
  for (let i = 0; i < transactions; i++) {
    if (i === 1) before = lookups.length; // the first transaction warms up (a new group may be loading)
    const txn = await producer.transaction();
    await txn.sendBatch({ topicMessages: [{ topic, messages: [{ value: `v${i}` }] }], acks: -1 });
    await txn.sendOffsets({
      consumerGroupId: group,
      topics: [{ topic, partitions: [{ partition: 0, offset: String(i + 1) }] }],
    });
    await txn.commit();
  }
  assert.ok(cachedCoordinators() >= 1, 'the coordinator is remembered');
  // kafkajs alone asks 4 times per transaction (AddPartitionsToTxn, AddOffsetsToTxn, the
  // group for TxnOffsetCommit, EndTxn); with the cache only the group lookup remains.
  assert.equal(lookups.length - before, transactions - 1, `FindCoordinator requests: ${lookups.length - before}`);
  const records = await readTopic(topic, (r) => r.length >= transactions);
  assert.deepEqual(
    records.map((r) => String(r.value)),
    Array.from({ length: transactions }, (_, i) => `v${i}`),
  );
});
