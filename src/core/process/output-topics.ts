import type { Admin } from 'kafkajs';
import { FinpipeError } from '../errors';
import { createTopics, ensureTopics } from '../kafka/topics';
import type { Logger } from '../log';
import { LIMITS } from '../limits';
import { MAX_TOPIC_NAME_LENGTH, symbolTopicName, topicNameProblem } from '../symbols';

/** Symbol topics get one partition: see the topic layout in processor.ts. */
const OUTPUT_PARTITIONS = 1;

/** How symbol topics are named: the prefix, and the names they must never take (name -> what it is). */
export interface TopicNaming {
  prefix: string;
  reserved: Map<string, string>;
}

/** The topics process itself reads or writes, which no symbol's records may go to. */
/** finpipe's own topics of one `process` configuration: raw, late and dead-letter. */
export interface StageTopics {
  raw: string;
  late: string;
  deadLetter: string;
}

export function topicNaming(prefix: string, topics: StageTopics, changelogTopic: string): TopicNaming {
  const reserved = new Map([
    [topics.raw, 'raw'],
    [topics.late, 'late-trades'],
    [topics.deadLetter, 'dead-letter'],
    [changelogTopic, 'state'],
  ]);
  return { prefix, reserved };
}

/** Longest --topic-prefix: with the longest symbol (LIMITS.symbolMaxLength) the name stays legal. */
export const MAX_TOPIC_PREFIX_LENGTH = MAX_TOPIC_NAME_LENGTH - LIMITS.symbolMaxLength;

/** Why `prefix` cannot start symbol topic names; null when it can. */
export function topicPrefixProblem(prefix: string): string | null {
  if (prefix === '') return null;
  if (prefix.length > MAX_TOPIC_PREFIX_LENGTH)
    return `it is ${prefix.length} characters long; at most ${MAX_TOPIC_PREFIX_LENGTH} leave room for a ${LIMITS.symbolMaxLength}-character symbol`;
  if (prefix.startsWith('__')) return 'names starting with "__" are Kafka\'s internal topics';
  if (/[^a-zA-Z0-9._-]/.test(prefix)) return 'only letters, digits, ".", "_" and "-" are allowed in topic names';
  return null;
}

/**
 * The topic a symbol's records go to, or why it has none. A symbol comes from the raw
 * topic (anyone may write it), so every way its name could be illegal or land on a topic
 * that is not a symbol topic is refused here, and the trade is dead-lettered instead of
 * failing every transaction (or being written into finpipe's own or Kafka's topics):
 *   - Kafka's name rules (empty, too long, "." / "..");
 *   - `__*`: Kafka's internal topics (__consumer_offsets, __transaction_state), which refuse
 *     writes and would fail every transaction of the partition;
 *   - the raw, late, dead-letter and state topics of this run;
 *   - `*-state`: the state topic of any process group (a compacted changelog).
 */
export function outputTopicFor(symbol: string, naming: TopicNaming): { topic: string } | { problem: string } {
  const base = symbolTopicName(symbol);
  if (!base) return { problem: 'symbol is blank: it has no topic name' };
  const topic = naming.prefix + base;
  const illegal = topicNameProblem(topic);
  if (illegal) return { problem: `its topic cannot be created: ${illegal}` };
  if (topic.startsWith('__')) return { problem: `its topic would be "${topic}": names starting with "__" are Kafka's internal topics` };
  const role = naming.reserved.get(topic);
  if (role) return { problem: `its topic would be "${topic}", finpipe's own ${role} topic` };
  if (topic.endsWith('-state'))
    return { problem: `its topic would be "${topic}": names ending in "-state" are process groups' state topics` };
  return { topic };
}

/**
 * Checks the raw topic and creates the fixed topics process writes (late, dead letters, the
 * state changelog) before the first batch. Returns the raw topic's partition count.
 */
export async function prepareTopics(admin: Admin, topics: StageTopics, changelogTopic: string): Promise<number> {
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
  /** Each symbol's topic, or why it has none (outputTopicFor). */
  private readonly topicOf = new Map<string, { topic: string } | { problem: string }>();
  // Shared Buffers rather than strings: kafkajs converts strings to Buffers for every record,
  // which shows in profiles at tens of thousands of records per second.
  private readonly keyOf = new Map<string, Buffer>();

  constructor(
    private readonly admin: Admin,
    private readonly logger: Logger,
    private readonly naming: TopicNaming,
  ) {}

  key(symbol: string): Buffer {
    let key = this.keyOf.get(symbol);
    if (!key) this.keyOf.set(symbol, (key = Buffer.from(symbol)));
    return key;
  }

  /** Why the symbol's records cannot be written anywhere; null when `topic(symbol)` is fine. */
  problem(symbol: string): string | null {
    const found = this.lookup(symbol);
    return 'problem' in found ? found.problem : null;
  }

  /** The symbol's topic; call only for a symbol whose problem() is null. */
  topic(symbol: string): string {
    const found = this.lookup(symbol);
    if ('problem' in found) throw new FinpipeError('INTERNAL', `no topic for symbol ${JSON.stringify(symbol)}: ${found.problem}`);
    return found.topic;
  }

  private lookup(symbol: string): { topic: string } | { problem: string } {
    let found = this.topicOf.get(symbol);
    if (!found) this.topicOf.set(symbol, (found = outputTopicFor(symbol, this.naming)));
    return found;
  }

  /** Whether `ensure(topic)` has completed, so records can be written to it. */
  ready(topic: string): boolean {
    return this.partitionsOf.has(topic);
  }

  /**
   * Creates the topics that do not exist and learns every one's partition count. All of them
   * in one CreateTopics request: the controller commits requests one after another (about
   * 30 ms each here), so 20 new symbols one by one took 0.65 s even when sent concurrently,
   * and 50 ms in one request. Calls for a topic already under way wait for that request.
   */
  async ensure(topics: Iterable<string>): Promise<void> {
    const waits: Promise<void>[] = [];
    const fresh: string[] = [];
    for (const topic of new Set(topics)) {
      if (this.ready(topic)) continue;
      const pending = this.creating.get(topic);
      if (pending) waits.push(pending);
      else fresh.push(topic);
    }
    if (fresh.length > 0) {
      const created = this.create(fresh).finally(() => fresh.forEach((topic) => this.creating.delete(topic)));
      fresh.forEach((topic) => this.creating.set(topic, created));
      waits.push(created);
    }
    await Promise.all(waits);
  }

  /**
   * After a failed transaction: forget which topics were seen, so the next attempt checks
   * them again and recreates one deleted meanwhile (otherwise every retry would send to a
   * topic that no longer exists, and the partition would stop for good).
   */
  forget(): void {
    this.partitionsOf.clear();
  }

  /** The partition to write a symbol topic's records to: 0 for the usual one-partition topic
   * (saves hashing every record's key); a topic made elsewhere with more partitions is left
   * to the default partitioner, which hashes the key (= symbol) to one fixed partition. */
  partition(topic: string): number | undefined {
    return this.partitionsOf.get(topic) === 1 ? 0 : undefined;
  }

  private async create(topics: string[]): Promise<void> {
    const specs = topics.map((name) => ({ name, partitions: OUTPUT_PARTITIONS, replicationFactor: -1 }));
    for (const { name, status, partitions } of await createTopics(this.admin, specs, { strict: false })) {
      this.partitionsOf.set(name, partitions);
      if (status === 'created') this.logger.info({ topic: name }, 'created symbol topic');
    }
  }
}
