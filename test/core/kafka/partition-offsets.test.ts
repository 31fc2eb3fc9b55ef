import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Admin } from 'kafkajs';
import { committedOffset, partitionRange } from '../../../src/core/kafka/partition-offsets';
import { FinpipeError } from '../../../src/core/errors';

/**
 * src/core/kafka/partition-offsets.ts: an answer without the partition asked about (what a
 * kafkajs admin returns while its metadata cache holds other topics) is never taken for
 * "no committed offset" or "an empty log".
 */

type OffsetsAnswer = { topic: string; partitions: { partition: number; offset: string }[] }[];
type RangeAnswer = { partition: number; low: string; high: string; offset: string }[];

/** An admin whose answers are scripted, one per call; counts the calls. */
function scripted(offsets: OffsetsAnswer[], ranges: RangeAnswer[] = []) {
  const calls = { offsets: 0, ranges: 0 };
  const admin = {
    fetchOffsets: async () => offsets[Math.min(calls.offsets++, offsets.length - 1)],
    fetchTopicOffsets: async () => ranges[Math.min(calls.ranges++, ranges.length - 1)],
  } as unknown as Admin;
  return { admin, calls };
}

const committed = (offset: string): OffsetsAnswer => [
  {
    topic: 'raw',
    partitions: [
      { partition: 0, offset: '7' },
      { partition: 1, offset },
    ],
  },
];

test('the committed offset of the partition asked about; -1 means none', async () => {
  assert.equal(await committedOffset(scripted([committed('42')]).admin, 'g', 'raw', 1), 42n);
  assert.equal(await committedOffset(scripted([committed('-1')]).admin, 'g', 'raw', 1), null);
});

test('an answer without the partition (or the topic) is asked again, not read as "none"', async () => {
  const { admin, calls } = scripted([[], [{ topic: 'raw', partitions: [] }], committed('42')]);
  assert.equal(await committedOffset(admin, 'g', 'raw', 1), 42n);
  assert.equal(calls.offsets, 3);
});

test('still missing after five tries: a retriable error that names the group and partition', async () => {
  const { admin, calls } = scripted([[]]);
  await assert.rejects(committedOffset(admin, 'g', 'raw', 1), (error: unknown) => {
    assert.ok(error instanceof FinpipeError);
    assert.equal(error.retriable, true);
    assert.match(error.message, /group g committed for raw\/1/);
    return true;
  });
  assert.equal(calls.offsets, 5);
});

test('the range of the partition asked about; a missing one is asked again', async () => {
  const range = { partition: 2, low: '3', high: '9', offset: '9' };
  const { admin, calls } = scripted([], [[], [range]]);
  assert.deepEqual(await partitionRange(admin, 'log', 2), { low: 3n, high: 9n });
  assert.equal(calls.ranges, 2);
});
