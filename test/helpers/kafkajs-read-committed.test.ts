import './kafkajs-read-committed';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const load = createRequire(__filename);

// Producer 2's transaction starts first (offset 0) but is aborted after producer 1's (1..2,
// aborted at 3): Kafka lists them in abort order, [producer 1, producer 2].
const record = (offset: number, producerId: string, abort = false) => ({
  offset: String(offset),
  key: abort ? Buffer.from([0, 0, 0, 0]) : null,
  value: Buffer.from('x'),
  isControlRecord: abort,
  batchContext: { producerId, inTransaction: true },
});
const messages = [record(0, '2'), record(1, '1'), record(2, '1'), record(3, '1', true), record(4, '2', true)];
const abortedTransactions = [
  { producerId: '1', firstOffset: '1' },
  { producerId: '2', firstOffset: '0' },
];

test('read_committed: no record of an aborted transaction gets through, whatever order the broker lists them in', () => {
  const Batch = load('kafkajs/src/consumer/batch') as new (
    topic: string,
    fetchedOffset: string,
    partitionData: object,
  ) => { messages: unknown[] };
  const batch = new Batch('t', '0', { partition: 0, highWatermark: '5', abortedTransactions, messages });
  assert.deepEqual(batch.messages, []);
});

test('kafkajs 2.2.4 alone lets one through (remove the helper once an upgrade fixes this)', () => {
  const path = load.resolve('kafkajs/src/consumer/filterAbortedMessages');
  const patched = load.cache[path]!;
  delete load.cache[path];
  try {
    const original = load(path) as (args: {
      messages: unknown[];
      abortedTransactions: unknown[];
    }) => { offset: string; isControlRecord: boolean }[];
    assert.deepEqual(
      original({ messages, abortedTransactions })
        .filter((m) => !m.isControlRecord)
        .map((m) => m.offset),
      ['0'],
    );
  } finally {
    load.cache[path] = patched;
  }
});
