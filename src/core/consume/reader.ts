import { randomUUID } from 'node:crypto';
import { AssignerProtocol, type Admin, type Batch, type Consumer, type Kafka, type PartitionAssigner } from 'kafkajs';
import { FinpipeError } from '../errors';
import type { Logger } from '../log';
import { startOffset, type OffsetSpec } from './offset-spec';

/**
 * Reads chosen partitions of one topic from chosen offsets, read_committed, without leaving
 * anything behind in Kafka.
 *
 * kafkajs has no consumer without a group, so the reader uses a private throwaway group,
 * `finpipe-consume-<uuid>`: its one member is assigned exactly the chosen partitions (own
 * assigner), seeks them to the start offsets as it joins, never commits (autoCommit off, no
 * commitOffsets), and the group is deleted after the member has left. A group without
 * offsets that is left behind anyway (kill -9) is removed by the broker on its own.
 *
 * Without `follow` the reader stops at the end offsets seen at start: for read_committed
 * these are the last stable offsets, so an open transaction never makes it wait.
 */
export const CONSUME_GROUP_PREFIX = 'finpipe-consume-';

export interface RawRecord {
  topic: string;
  partition: number;
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

export interface ReadOptions {
  topic: string;
  offset: OffsetSpec;
  /** Partitions to read; empty = all. */
  partitions: number[];
  /** Stop after this many records. */
  limit?: number;
  follow: boolean;
  signal: AbortSignal;
  /** Called for each record in order per partition; awaited before the next. */
  onRecord(record: RawRecord): Promise<void>;
}

export interface ReadPlan {
  partition: number;
  start: number;
  /** Stop before this offset; null with --follow. */
  end: number | null;
}

/** Where each chosen partition starts and ends. */
export async function planRead(
  admin: Admin,
  options: Pick<ReadOptions, 'topic' | 'offset' | 'partitions' | 'follow'>,
): Promise<ReadPlan[]> {
  const { topic } = options;
  if (!(await admin.listTopics()).includes(topic))
    throw new FinpipeError('TOPIC_NOT_FOUND', `topic ${topic} does not exist`, {
      hint: 'check the name with `finpipe topics list`',
      context: { topic },
    });
  const ranges = await admin.fetchTopicOffsets(topic);
  const existing = ranges.map((r) => r.partition).sort((a, b) => a - b);
  const missing = options.partitions.filter((p) => !existing.includes(p));
  if (missing.length > 0)
    throw new FinpipeError('USAGE', `topic ${topic} has no partition ${missing.join(', ')}`, {
      hint: `its partitions are ${existing.join(', ')}`,
    });
  const chosen = options.partitions.length > 0 ? [...new Set(options.partitions)].sort((a, b) => a - b) : existing;
  const atTime =
    options.offset.kind === 'time'
      ? new Map((await admin.fetchTopicOffsetsByTimestamp(topic, options.offset.timestamp)).map((o) => [o.partition, Number(o.offset)]))
      : undefined;
  return chosen.map((partition) => {
    const r = ranges.find((x) => x.partition === partition)!;
    const range = { low: Number(r.low), high: Number(r.high) };
    return { partition, start: startOffset(options.offset, range, atTime?.get(partition)), end: options.follow ? null : range.high };
  });
}

/** An assigner that gives the (only) member exactly these partitions. */
function assignExactly(topic: string, partitions: number[]): PartitionAssigner {
  return () => ({
    name: 'FinpipeConsumeAssigner',
    version: 1,
    protocol: ({ topics }) => ({
      name: 'FinpipeConsumeAssigner',
      metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.alloc(0) }),
    }),
    assign: async ({ members }) =>
      members.map((member, i) => ({
        memberId: member.memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 1,
          assignment: i === 0 ? { [topic]: partitions } : {},
          userData: Buffer.alloc(0),
        }),
      })),
  });
}

/** Reads as planned; returns how many records were passed to onRecord. */
export async function readPartitions(kafka: Kafka, admin: Admin, plan: ReadPlan[], options: ReadOptions, logger: Logger): Promise<number> {
  const active = plan.filter((p) => p.end === null || p.start < p.end);
  if (active.length === 0 || options.limit === 0 || options.signal.aborted) return 0;
  const groupId = `${CONSUME_GROUP_PREFIX}${randomUUID()}`;
  const consumer = kafka.consumer({
    groupId,
    readUncommitted: false,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: 250,
    partitionAssigners: [
      assignExactly(
        options.topic,
        active.map((p) => p.partition),
      ),
    ],
  });
  const state = new ReadState(active, options);
  // Seek on joining, before the first fetch (and again on a rejoin after kafkajs restarted
  // the consumer: from where delivery got to, so nothing is fetched twice for nothing).
  consumer.on(consumer.events.GROUP_JOIN, () => {
    for (const p of active) consumer.seek({ topic: options.topic, partition: p.partition, offset: String(state.position(p.partition)) });
  });
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => state.readThrough(payload.partition, Number(payload.lastOffset) + 1));
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (!payload.restart) state.fail(payload.error);
  });
  try {
    await consumer.connect();
    await consumer.subscribe({ topic: options.topic, fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatch: async ({ batch }) => state.deliver(batch) });
    await state.finished;
    return state.delivered;
  } finally {
    await stopAndForget(consumer, admin, groupId, logger);
  }
}

async function stopAndForget(consumer: Consumer, admin: Admin, groupId: string, logger: Logger): Promise<void> {
  await consumer.disconnect().catch(() => {});
  try {
    await admin.deleteGroups([groupId]);
  } catch (error) {
    // Never joined (the broker was gone), or already removed: nothing is left either way.
    logger.debug({ err: error, groupId }, 'consume group not deleted');
  }
}

/** Positions per partition, the record limit, and when reading is over. */
class ReadState {
  delivered = 0;
  readonly finished: Promise<void>;
  private finish!: (error?: Error) => void;
  /** Next offset to deliver per partition (records below it were delivered or are before the start). */
  private readonly next = new Map<number, number>();
  private readonly ends = new Map<number, number | null>();
  private done = false;

  constructor(
    plan: ReadPlan[],
    private readonly options: ReadOptions,
  ) {
    for (const p of plan) {
      this.next.set(p.partition, p.start);
      this.ends.set(p.partition, p.end);
    }
    this.finished = new Promise((resolve, reject) => (this.finish = (error) => (error ? reject(error) : resolve())));
    options.signal.addEventListener('abort', () => this.stop(), { once: true });
  }

  /** The next offset to deliver on a partition. */
  position(partition: number): number {
    return this.next.get(partition) ?? 0;
  }

  /** Delivers a fetched batch's records at or after the partition's position, in order. */
  async deliver(batch: Batch): Promise<void> {
    for (const message of batch.messages) {
      if (this.done) return;
      const offset = Number(message.offset);
      const next = this.next.get(batch.partition) ?? Infinity;
      const end = this.ends.get(batch.partition);
      // Before the start (fetched before the seek took effect) or delivered already.
      if (offset < next) continue;
      if (end !== null && end !== undefined && offset >= end) break;
      this.next.set(batch.partition, offset + 1);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {}))
        headers[k] = Array.isArray(v) ? v.map(String).join(',') : Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
      await this.options.onRecord({
        topic: batch.topic,
        partition: batch.partition,
        offset: message.offset,
        timestamp: message.timestamp,
        key: message.key,
        value: message.value,
        headers,
      });
      this.delivered++;
      if (this.options.limit !== undefined && this.delivered >= this.options.limit) return this.stop();
    }
  }

  /** After a batch (transaction markers included): the partition has been read up to `offset`. */
  readThrough(partition: number, offset: number): void {
    const end = this.ends.get(partition);
    if (end === undefined || end === null || this.done) return;
    if (offset >= end) this.ends.delete(partition);
    if (this.ends.size === 0) this.stop();
  }

  fail(error: Error): void {
    if (this.done) return;
    this.done = true;
    this.finish(new FinpipeError('KAFKA_ERROR', `reading stopped: ${error.message}`, { cause: error }));
  }

  stop(): void {
    if (this.done) return;
    this.done = true;
    this.finish();
  }
}
