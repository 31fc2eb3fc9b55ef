import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { installReadCommittedFix, markAbortedRecords, readCommittedFixed } from '../../../src/core/kafka/read-committed';

/** src/core/kafka/read-committed.ts: the records of aborted transactions never reach a read_committed consumer. */

const load = createRequire(__filename);
type Batch = { messages: { offset: string }[]; lastOffset(): string; isEmptyDueToFiltering(): boolean };
const Batch = load('kafkajs/src/consumer/batch') as new (topic: string, fetchedOffset: string, partitionData: object) => Batch;

// Producer 2's transaction starts first (offset 0) but is aborted after producer 1's (1..2,
// aborted at 3): Kafka lists them in abort order, [producer 1, producer 2]. Producer 3
// commits a record in between, outside both.
const record = (offset: number, producerId: string, control = false) => ({
  offset: String(offset),
  key: control ? Buffer.from([0, 0, 0, 0]) : null,
  value: Buffer.from('x'),
  isControlRecord: control,
  batchContext: { producerId, inTransaction: true },
});
const fetched = () => ({
  partition: 0,
  highWatermark: '6',
  abortedTransactions: [
    { producerId: '1', firstOffset: '1' },
    { producerId: '2', firstOffset: '0' },
  ],
  messages: [record(0, '2'), record(1, '1'), record(2, '1'), record(3, '1', true), record(4, '3'), record(5, '2', true)],
});

test('read_committed: no record of an aborted transaction gets through, whatever order the broker lists them in', () => {
  const partition = fetched();
  markAbortedRecords(partition);
  const batch = new Batch('t', '0', partition);
  assert.deepEqual(
    batch.messages.map((m) => m.offset),
    ['4'],
    "only the other producer's record",
  );
  assert.equal(batch.lastOffset(), '5', 'the aborted records still count: the consumer moves past them');
});

test('a fetch of nothing but aborted records is empty and moves the consumer on', () => {
  const partition = { ...fetched(), messages: fetched().messages.filter((m) => m.offset !== '4') };
  markAbortedRecords(partition);
  const batch = new Batch('t', '0', partition);
  assert.deepEqual(batch.messages, []);
  assert.equal(batch.isEmptyDueToFiltering(), true);
  assert.equal(batch.lastOffset(), '5');
});

test('a transaction that starts before the fetched range is still skipped; marking twice changes nothing', () => {
  // Fetched from offset 2: both transactions began before the first record seen.
  const partition = { ...fetched(), messages: fetched().messages.filter((m) => Number(m.offset) >= 2) };
  markAbortedRecords(partition);
  const once = partition.messages.map((m) => m.isControlRecord);
  markAbortedRecords(partition);
  assert.deepEqual(
    partition.messages.map((m) => m.isControlRecord),
    once,
  );
  assert.deepEqual(
    new Batch('t', '2', partition).messages.map((m) => m.offset),
    ['4'],
  );
});

test('kafkajs 2.2.4 alone lets one through (remove read-committed.ts once an upgrade fixes this)', () => {
  const original = load('kafkajs/src/consumer/filterAbortedMessages') as (args: {
    messages: unknown[];
    abortedTransactions: unknown[];
  }) => { offset: string; isControlRecord: boolean }[];
  assert.deepEqual(
    original(fetched())
      .filter((m) => !m.isControlRecord)
      .map((m) => m.offset),
    ['0', '4'],
  );
  assert.deepEqual(
    new Batch('t', '0', fetched()).messages.map((m) => m.offset),
    ['0', '4'],
  );
});

test('installed for every Fetch version with aborted transactions, once; kafkajs picks the decoders up per request', () => {
  assert.equal(installReadCommittedFix(), true, 'kafkajs 2.2.4 is installed');
  const fetch = load('kafkajs/src/protocol/requests/fetch') as { protocol(v: { version: number }): (args: object) => { response: object } };
  const response = (version: number) => fetch.protocol({ version })({ maxWaitTime: 100, minBytes: 1, topics: [] }).response;
  const before = response(11);
  assert.equal(installReadCommittedFix(), true);
  for (const version of [4, 5, 6, 7, 8, 9, 10, 11]) assert.equal(readCommittedFixed(version), true, `Fetch v${version}`);
  assert.equal(readCommittedFixed(3), false, 'no aborted transactions before v4');
  assert.equal(response(11), before, 'installing again replaces nothing');
  assert.equal(
    response(11),
    load('kafkajs/src/protocol/requests/fetch/v11/response'),
    "the Fetch request uses the module's current exports",
  );
});
