import type { IHeaders, KafkaMessage } from 'kafkajs';
import { describeError } from '../errors';
import { sleep } from '../retry';
import { PLAIN_VALUES, type ValueReader } from '../serde/registry';
import { recordKind, type SourceMessage, type SourceRef } from '../stores/records';
import type { StoreBatch } from '../stores/types';

/** One topic-partition as seen by the consumer; shared by the refs of its records (one object per partition, not per record). */
export interface PartitionSource {
  topic: string;
  partition: number;
  key: string;
}

export const partitionKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/** The offset after `offset` (Kafka offsets are int64, passed around as decimal strings). */
export const nextOffset = (offset: string) => (BigInt(offset) + 1n).toString();

export interface Position {
  topic: string;
  partition: number;
  offset: string;
}

/** A record's origin and raw bytes, kept until its batch is committed (for dead letters and counters). */
export class Ref implements SourceRef {
  constructor(
    readonly source: PartitionSource,
    private readonly message: KafkaMessage,
  ) {}

  get topic(): string {
    return this.source.topic;
  }

  get partition(): number {
    return this.source.partition;
  }

  get offset(): string {
    return this.message.offset;
  }

  get key(): Buffer | null {
    return this.message.key;
  }

  get value(): Buffer | null {
    return this.message.value;
  }

  get headers(): IHeaders | undefined {
    return this.message.headers;
  }
}

export interface DeadLetter {
  ref: Ref;
  reason: string;
}

/** What the consumer has read and not yet committed: the store's batch, plus what committing it takes. */
export class Pending {
  constructor(
    readonly rows: StoreBatch<Ref>,
    private readonly values: ValueReader = PLAIN_VALUES.reader,
  ) {}

  /** Records that could not be decoded: dead letters, not rows. */
  poison: DeadLetter[] = [];
  /** Next offset to commit per topic-partition once this buffer is in the store. */
  positions = new Map<string, Position>();
  /** Records per topic (decoded or not), counted per run of records rather than per record. */
  perTopic = new Map<string, number>();
  firstAt = 0;
  /** The last run of records added: the age of its last trade when written is the freshness metric. */
  lastRun: { messages: KafkaMessage[]; from: number; to: number } | undefined;

  get size(): number {
    return this.rows.size + this.poison.length;
  }

  get empty(): boolean {
    return this.size === 0 && this.positions.size === 0;
  }

  /** Decodes messages[from, to) of one partition into the batch and moves its position past them. */
  addRun(source: PartitionSource, messages: KafkaMessage[], from: number, to: number): void {
    if (this.firstAt === 0) this.firstAt = Date.now();
    for (let i = from; i < to; i++) {
      const ref = new Ref(source, messages[i]);
      try {
        this.rows.add(this.values.framed ? this.unframed(messages[i], source) : messages[i], ref);
      } catch (error) {
        this.poison.push({ ref, reason: describeError(error) });
      }
    }
    this.lastRun = { messages, from, to };
    this.perTopic.set(source.topic, (this.perTopic.get(source.topic) ?? 0) + (to - from));
    this.positions.set(source.key, { topic: source.topic, partition: source.partition, offset: nextOffset(messages[to - 1].offset) });
  }

  /** With Schema Registry framing: the record with its value as plain Avro, which is what stores read. */
  private unframed(message: KafkaMessage, source: PartitionSource): SourceMessage {
    const kind = recordKind(message);
    return { key: message.key, headers: message.headers, value: this.values.plain(kind, message.value!, source.topic, source.partition) };
  }
}

/**
 * The buffer the consumer fills and the flusher takes: one Pending at a time, replaced by
 * an empty one when taken. It holds at most `batchRows` records; the consumer waits for
 * room when it is full (the backpressure).
 */
export class RecordBuffer {
  private current: Pending;
  private roomWaiters: (() => void)[] = [];

  constructor(
    private readonly newBatch: () => StoreBatch<Ref>,
    private readonly batchRows: number,
    private readonly flushMs: number,
    /** Schema Registry framing (or plain Avro) of the records; the consumer prepares each batch with it. */
    readonly values: ValueReader = PLAIN_VALUES.reader,
  ) {
    this.current = new Pending(newBatch(), values);
  }

  get pending(): Pending {
    return this.current;
  }

  get room(): number {
    return this.batchRows - this.current.size;
  }

  get full(): boolean {
    return this.current.size >= this.batchRows;
  }

  /** Hands the buffer over and starts an empty one. */
  take(): Pending {
    const taken = this.current;
    this.current = new Pending(this.newBatch(), this.values);
    this.wakeRoomWaiters();
    return taken;
  }

  /** Resolves when taken or after a second, whichever is first. */
  waitForRoom(): Promise<void> {
    return Promise.race([new Promise<void>((resolve) => this.roomWaiters.push(resolve)), sleep(1_000)]);
  }

  wakeRoomWaiters(): void {
    for (const wake of this.roomWaiters.splice(0)) wake();
  }

  /**
   * The flush-due rule: 0 when the buffer should be written now, else how long to wait
   * before asking again. Due when it holds `batchRows` records, when its oldest is
   * `flushMs` old, or, holding anything, at once when `hurry` (nothing more is coming soon,
   * or the consumer is about to restart); always when `stopping`, to end the flush loop.
   */
  dueIn(stopping: boolean, hurry: boolean): number {
    const p = this.current;
    const age = p.empty ? 0 : Date.now() - p.firstAt;
    if (stopping || this.full || (!p.empty && (age >= this.flushMs || hurry))) return 0;
    return p.empty ? 1_000 : this.flushMs - age;
  }
}
