import type { Admin } from 'kafkajs';
import { FinpipeError } from '../errors';
import { ensureTopics } from '../kafka/topics';
import type { Logger } from '../log';
import { symbolToTopic } from '../symbols';
import type { ProcessOptions } from './options';

/** Symbol topics get one partition: see the topic layout in processor.ts. */
const OUTPUT_PARTITIONS = 1;

/**
 * Checks the raw topic and creates the fixed topics process writes (late, dead letters, the
 * state changelog) before the first batch. Returns the raw topic's partition count.
 */
export async function prepareTopics(admin: Admin, topics: ProcessOptions['topics'], changelogTopic: string): Promise<number> {
  const rawTopic = topics.raw;
  if (!(await admin.listTopics()).includes(rawTopic)) {
    throw new FinpipeError('TOPIC_NOT_FOUND', `raw topic ${rawTopic} does not exist`, {
      hint: `create it first (finpipe topics create ${rawTopic}) or point --topic / FINPIPE_RAW_TOPIC at the topic produce writes`,
      context: { topic: rawTopic },
    });
  }
  const rawPartitions = (await admin.fetchTopicMetadata({ topics: [rawTopic] })).topics[0].partitions.length;
  await ensureTopics(admin, [
    { name: topics.late, partitions: 1, replicationFactor: -1 },
    { name: topics.deadLetter, partitions: 1, replicationFactor: -1 },
    {
      name: changelogTopic,
      partitions: rawPartitions,
      replicationFactor: -1,
      // Compacted: only the latest value per key matters. Short segments let the cleaner
      // compact soon, which keeps the tail a restoring reader has to read short.
      configs: { 'cleanup.policy': 'compact', 'segment.ms': '60000', 'min.cleanable.dirty.ratio': '0.1' },
    },
  ]);
  const changelogPartitions = (await admin.fetchTopicMetadata({ topics: [changelogTopic] })).topics[0].partitions.length;
  if (changelogPartitions < rawPartitions) {
    throw new FinpipeError(
      'TOPIC_CONFLICT',
      `state topic ${changelogTopic} has ${changelogPartitions} partitions but ${rawTopic} has ${rawPartitions}`,
      {
        hint: `raw partition p keeps its state in partition p of ${changelogTopic}; add partitions to it (kafka-topics --alter --partitions ${rawPartitions})`,
      },
    );
  }
  return rawPartitions;
}

/**
 * The per-symbol output topics: names, record keys and partitions, computed once per symbol
 * because they are needed for every record. Topics are created on first use.
 */
export class OutputTopics {
  /** Partition count of each symbol topic used so far. */
  private readonly partitionsOf = new Map<string, number>();
  private readonly creating = new Map<string, Promise<void>>();
  private readonly topicOf = new Map<string, string>();
  // Shared Buffers rather than strings: kafkajs converts strings to Buffers for every record,
  // which shows in profiles at tens of thousands of records per second.
  private readonly keyOf = new Map<string, Buffer>();

  constructor(
    private readonly admin: Admin,
    private readonly logger: Logger,
  ) {}

  key(symbol: string): Buffer {
    let key = this.keyOf.get(symbol);
    if (!key) this.keyOf.set(symbol, (key = Buffer.from(symbol)));
    return key;
  }

  topic(symbol: string): string {
    let topic = this.topicOf.get(symbol);
    if (!topic) this.topicOf.set(symbol, (topic = symbolToTopic(symbol)));
    return topic;
  }

  /** Whether `ensure(topic)` has completed, so records can be written to it. */
  ready(topic: string): boolean {
    return this.partitionsOf.has(topic);
  }

  /** Creates the topic unless it exists and learns its partition count; concurrent calls share one request. */
  ensure(topic: string): Promise<void> {
    let pending = this.creating.get(topic);
    if (!pending) {
      pending = this.create(topic).finally(() => this.creating.delete(topic));
      this.creating.set(topic, pending);
    }
    return pending;
  }

  /** The partition to write a symbol topic's records to: 0 for the usual one-partition topic
   * (saves hashing every record's key); a topic made elsewhere with more partitions is left
   * to the default partitioner, which hashes the key (= symbol) to one fixed partition. */
  partition(topic: string): number | undefined {
    return this.partitionsOf.get(topic) === 1 ? 0 : undefined;
  }

  private async create(topic: string): Promise<void> {
    const existed = (await this.admin.listTopics()).includes(topic);
    if (!existed) await ensureTopics(this.admin, [{ name: topic, partitions: OUTPUT_PARTITIONS, replicationFactor: -1 }]);
    const count = (await this.admin.fetchTopicMetadata({ topics: [topic] })).topics[0].partitions.length;
    this.partitionsOf.set(topic, count);
    if (!existed) this.logger.info({ topic }, 'created symbol topic');
  }
}
