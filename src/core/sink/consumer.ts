import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { FinpipeError, describeError } from '../errors';
import { kafkaUnavailable } from '../kafka/errors';
import { nextOffset, partitionKey, type PartitionSource, type RecordBuffer } from './buffer';
import { retryKafka, type KafkaRetryContext } from './committer';
import type { ResolvedSinkOptions } from './options';
import type { SinkCounters } from './stats';

export interface ConsumerContext extends KafkaRetryContext {
  kafka: Kafka;
  options: ResolvedSinkOptions;
  buffer: RecordBuffer;
  counters: SinkCounters;
  /** A flush is due (the buffer is full, or nothing more is coming for now). */
  wakeFlusher: () => void;
  /** The group handed this member a topic it does not subscribe to. */
  wakeWatcher: () => void;
  /** kafkajs gave up on the consumer: the sink must stop. */
  fail: (error: unknown) => void;
}

/**
 * The Kafka side of the sink: joins the group, takes records into the buffer as they
 * arrive (eachBatch), pauses and resumes consumption, and restarts with more topics.
 * Offsets are never committed here (autoCommit off): the committer does, after the write.
 */
export class SinkConsumer {
  private consumer: Consumer | null = null;
  private current: string[] = [];
  private isPaused = false;
  /** The last fetch reached the end of its partition: nothing more is coming right now. */
  private caughtUp = false;
  /** Set while the consumer restarts to add topics: nothing more is taken, the buffer is flushed at once. */
  private resubscribing = false;
  /** The eachBatch call in progress, if any. */
  private batchInFlight: Promise<void> = Promise.resolve();
  private readonly sources = new Map<string, PartitionSource>();

  constructor(private readonly context: ConsumerContext) {}

  get topics(): string[] {
    return this.current;
  }

  get paused(): boolean {
    return this.isPaused;
  }

  get kafkaConsumer(): Consumer | null {
    return this.consumer;
  }

  /** Whether the buffer should be flushed without waiting for it to fill or age. */
  get hurry(): boolean {
    return this.caughtUp || this.resubscribing;
  }

  async start(topics: string[]): Promise<void> {
    const { kafka, options, logger, config } = this.context;
    this.current = topics;
    const consumer = kafka.consumer({
      groupId: options.groupId,
      // process writes in transactions: only committed records are real.
      readUncommitted: false,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: Math.min(500, options.flushMs),
      // Fewer, larger fetches when catching up (kafkajs fetches, then processes, then fetches).
      maxBytesPerPartition: 4 * 1024 * 1024,
      maxBytes: 32 * 1024 * 1024,
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: Math.max(500, Math.floor(options.sessionTimeoutMs / 10)),
    });
    this.consumer = consumer;
    // A group member given partitions of a topic it does not subscribe to (another sink
    // with --pattern added it first): look for new topics now rather than at the next poll.
    consumer.on(consumer.events.RECEIVED_UNSUBSCRIBED_TOPICS, () => this.context.wakeWatcher());
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => this.onSkippedBatch(payload));
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (payload.restart) {
        logger.warn({ err: describeError(payload.error) }, 'Kafka consumer failed; kafkajs restarts it');
      } else if (!this.context.stopping()) {
        this.context.fail(
          new FinpipeError('KAFKA_ERROR', `Kafka consumer stopped: ${describeError(payload.error)}`, {
            cause: payload.error,
            hint: 'check the broker; the sink resumes from the last committed offsets when restarted',
          }),
        );
      }
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics, fromBeginning: true });
    } catch (error) {
      throw kafkaUnavailable(error, config.kafka.brokers);
    }
    await this.run(consumer);
  }

  async disconnect(): Promise<void> {
    await this.consumer?.disconnect().catch(() => {});
  }

  /** Stops fetching; when stopping, whatever the state, so nothing new is taken. */
  pause(): void {
    if (this.isPaused && !this.context.stopping()) return;
    this.isPaused = true;
    try {
      this.consumer?.pause(this.current.map((topic) => ({ topic })));
    } catch {
      // not running yet
    }
  }

  resume(): void {
    if (!this.isPaused || this.context.stopping()) return;
    this.isPaused = false;
    // While adding topics the consumer stays paused (onBatch would take nothing and kafkajs
    // fetch the same records again and again); the restart resumes it.
    if (this.resubscribing) return;
    try {
      this.consumer?.resume(this.current.map((topic) => ({ topic })));
    } catch {
      // not running
    }
  }

  /**
   * Restarts the consumer with `added` topics too (kafkajs only subscribes before run()):
   * stop taking records, write and commit what was taken (`drain`), stop, subscribe, run.
   * The group rebalances and every partition resumes from its committed offset.
   */
  async addTopics(added: string[], drain: () => Promise<void>): Promise<void> {
    const consumer = this.consumer!;
    const { logger, options, stopping } = this.context;
    logger.info({ added, pattern: options.pattern?.source }, 'new topics match --pattern: writing what was read so far, then adding them');
    this.resubscribing = true;
    try {
      try {
        consumer.pause(this.current.map((topic) => ({ topic })));
      } catch {
        // not running right now (kafkajs restarting it after an error): nothing is fetched anyway
      }
      // eachBatch calls run one at a time (partitionsConsumedConcurrently is 1): this is the only one.
      await this.batchInFlight.catch(() => {});
      // Everything taken is written and committed while the consumer can still commit.
      await drain();
      await retryKafka(
        'restart the consumer with the topics matching --pattern',
        async () => {
          if (stopping()) return; // the sink disconnects it
          await consumer.stop();
          await consumer.subscribe({ topics: added, fromBeginning: true });
          this.current = [...new Set([...this.current, ...added])].sort();
          for (const t of added) this.context.counters.topic(t);
          this.caughtUp = false;
          await this.run(consumer);
        },
        this.context,
      );
      if (stopping()) return;
      // The restarted consumer is not paused; it must be while the store is unreachable.
      if (this.isPaused) {
        try {
          consumer.pause(this.current.map((topic) => ({ topic })));
        } catch {
          // not running: the write retry resumes it
        }
      }
      logger.info({ topics: this.current }, 'now reading the new topics too');
    } finally {
      this.resubscribing = false;
    }
  }

  private async run(consumer: Consumer): Promise<void> {
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: (payload) => (this.batchInFlight = this.onBatch(payload)),
    });
  }

  private source(topic: string, partition: number): PartitionSource {
    const key = partitionKey(topic, partition);
    let source = this.sources.get(key);
    if (!source) this.sources.set(key, (source = { topic, partition, key }));
    return source;
  }

  /**
   * A fetch that held only transaction markers (or only aborted records) never reaches
   * eachBatch: kafkajs resolves it itself and, with autoCommit off, commits nothing. Its
   * offsets are covered here, or the committed position would trail the end of a fully
   * written topic by a marker (a lag of 1 for ever). Such a batch is fetched only once every
   * earlier record of the partition was taken, so covering it with the current buffer is safe.
   */
  private onSkippedBatch(batch: { topic: string; partition: number; batchSize: number; lastOffset: string; highWatermark: string }): void {
    const { buffer, counters, stopping } = this.context;
    if (batch.batchSize > 0 || stopping() || this.resubscribing) return;
    const source = this.source(batch.topic, batch.partition);
    const offset = nextOffset(batch.lastOffset);
    const known = buffer.pending.positions.get(source.key)?.offset ?? counters.committed.get(source.key)?.toString();
    if (known !== undefined && BigInt(offset) <= BigInt(known)) return;
    counters.highWatermarks.set(source.key, { topic: batch.topic, hw: BigInt(batch.highWatermark) });
    buffer.pending.positions.set(source.key, { topic: batch.topic, partition: batch.partition, offset });
    this.context.wakeFlusher();
  }

  private async onBatch(payload: EachBatchPayload): Promise<void> {
    // kafkajs' payload functions are closures, not methods: safe to call unbound.
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload; // eslint-disable-line @typescript-eslint/unbound-method
    const { buffer, counters, stopping } = this.context;
    const { topic, partition, messages } = batch;
    const source = this.source(topic, partition);
    counters.highWatermarks.set(source.key, { topic, hw: BigInt(batch.highWatermark) });
    if (!counters.committed.has(source.key) && messages.length > 0) counters.committed.set(source.key, BigInt(messages[0].offset));
    // Records are taken in runs, as many at a time as the buffer has room for. Whether to
    // stop (stopping, kafkajs no longer running, a seek made this batch stale) can only change
    // while this function awaits, so it is checked before each run, not for every record.
    // Schema ids of framed records are looked up before decoding (which is synchronous).
    await buffer.values.prepare(messages);
    let next = 0;
    while (next < messages.length) {
      if (stopping() || this.resubscribing || !isRunning() || isStale()) return;
      const room = buffer.room;
      if (room <= 0) {
        // Full: a flush is due and the flusher is busy with the previous buffer. Wait for
        // room; if the store is down (paused), return without resolving the rest: kafkajs
        // fetches it again from the last resolved offset on resume.
        if (this.isPaused) return;
        this.context.wakeFlusher();
        await buffer.waitForRoom();
        await heartbeat();
        continue;
      }
      const end = Math.min(messages.length, next + room);
      counters.stats.firstRecordAt ||= Date.now();
      buffer.pending.addRun(source, messages, next, end);
      next = end;
      resolveOffset(messages[end - 1].offset);
    }
    // The batch may end with transaction markers after the last message: cover them too, or
    // the committed position would trail behind the end of a fully written topic.
    if (messages.length > 0 && !stopping()) {
      buffer.pending.positions.set(source.key, { topic, partition, offset: nextOffset(batch.lastOffset()) });
    }
    // Caught up with the partition: waiting for flushMs would only add latency, since no
    // more rows are coming to fill the batch. (Catching up on a backlog, batches fill by
    // size instead.)
    this.caughtUp = BigInt(batch.lastOffset()) + 1n >= BigInt(batch.highWatermark);
    if (buffer.full || (this.caughtUp && !buffer.pending.empty)) this.context.wakeFlusher();
    await heartbeat();
  }
}
