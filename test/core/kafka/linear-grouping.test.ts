import { test } from 'node:test';
import assert from 'node:assert/strict';
import { groupMessagesPerPartition, kafkajsGrouping } from '../../../src/core/kafka/linear-grouping';

interface Message {
  key: string;
  value: string;
  partition?: number;
}

test('the linear grouping returns what kafkajs returns, with the same partitioner calls, on random input', () => {
  const kafkajs = kafkajsGrouping();
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let round = 0; round < 200; round++) {
    const partitions = 1 + Math.floor(random() * 8);
    const partitionMetadata = round % 50 === 0 ? [] : Array.from({ length: partitions }, (_, i) => ({ partitionId: i }));
    const messages: Message[] = Array.from({ length: Math.floor(random() * 300) }, (_, i) => ({
      key: `k${i % 13}`,
      value: `v${i}`,
      ...(random() < 0.5 ? { partition: Math.floor(random() * partitions) } : {}),
    }));
    const calls: [string, string][] = [];
    const partitioner = (who: string) => (args: { topic: string; message: Message }) => {
      calls.push([who, args.message.value]);
      return args.message.partition ?? Number(args.message.key.slice(1)) % partitions;
    };
    const input = { topic: 't', partitionMetadata, messages };
    const expected = kafkajs({ ...input, partitioner: partitioner('kafkajs') });
    const actual = groupMessagesPerPartition({ ...input, partitioner: partitioner('linear') });
    assert.deepEqual(actual, expected);
    assert.deepEqual(Object.keys(actual), Object.keys(expected), 'same partition order');
    const byWho = (who: string) => calls.filter(([w]) => w === who).map(([, v]) => v);
    assert.deepEqual(byWho('linear'), byWho('kafkajs'), 'the partitioner is called for the same messages in the same order');
  }
});
