import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { FinpipeError } from '../errors';
import { createKafka } from '../kafka/client';
import { isFenced, kafkaUnavailable } from '../kafka/errors';
import { aborted } from '../lifecycle';
import { backoffDelay, sleep } from '../retry';
import type { Stage } from '../stage';
import { BatchTransaction } from './batch-transaction';
import type { ProcessOptions } from './options';
import { OutputTopics, prepareTopics, topicNaming } from './output-topics';
import { registerValueSchemas } from './value-schemas';
import { PartitionTasks, type PartitionTask } from './partition-tasks';
import { ChangelogReader, changelogTopicName, deleteLeftoverReaderGroups } from './state-store';
import { copyStats, newStats, type ProcessStats } from './stats';

/**
 * `finpipe process`: raw topic -> per-symbol topics with trades and candles, exactly once.
 *
 * Topic layout
 *   in   <raw> (default `trades`): key = symbol, value = Avro FinnhubProducer.message (one
 *        Finnhub frame's trades for one symbol), timestamp = ingest time.
 *   out  one topic per symbol, `<prefix>` + symbolToTopic(symbol) (BINANCE:BTCUSDT -> BINANCE_BTCUSDT;
 *        --topic-prefix keeps two configurations apart, final- -> final-BINANCE_BTCUSDT),
 *        created on demand with ONE partition: a symbol's trades and candle versions then sit
 *        in one ordered log, so a consumer (the sink) sees versions in order and needs no
 *        reordering; a single symbol's rate (Finnhub: at most a few thousand trades/s) is far
 *        below what one partition takes. Scale-out happens across symbols. If the topic
 *        already exists with more partitions it is used as is (key = symbol keeps a symbol in
 *        one partition anyway). Every record: key = symbol, header finpipe.type = trade|candle,
 *        value = Avro finpipe.Trade / finpipe.Candle (src/core/serde/schemas/*.avsc).
 *   late <topics.late> (default `trades.late`): a copy of each trade that missed a closed
 *        window (Trade schema, header finpipe.late.reason and friends). The trade itself is
 *        still written to its symbol topic — only its candle contribution was refused.
 *   dlq  <topics.deadLetter>: raw records that cannot be used, with the reason, stage
 *        `process` and source `topic/partition/offset`, in the same transaction. Also records
 *        holding a trade process refuses alone (transform.ts: limits, a symbol without a
 *        valid topic); the record's other trades are processed.
 *   state `<group>-state`: compacted changelog of the open windows (see state-store.ts).
 *
 * Windows and watermarks: see windows.ts (epoch-aligned tumbling windows, per-symbol
 * watermark = newest event time − lateness, late = window_end <= watermark).
 *
 * Exactly once (consume-transform-produce):
 *   - One kafkajs transactional producer per assigned raw partition, transactionalId
 *     `<group>-<raw>-<partition>`. kafkajs predates KIP-447 (fencing by consumer-group
 *     generation), so zombie fencing must come from the transactional id itself: whoever
 *     owns raw partition p uses p's id, and its InitProducerId bumps the epoch, which fences
 *     the previous owner and completes or aborts that owner's open transaction first. This is
 *     the scheme Kafka Streams used before KIP-447 ("eos-alpha").
 *   - Each fetched batch of partition p is one transaction: trades, candles, late copies,
 *     dead letters, the changelog records and the consumer offset (sendOffsets) commit
 *     together or not at all. Batches are what the broker has ready: a single record when
 *     input is sparse (low latency), up to maxBytesPerPartition when it is dense (throughput).
 *     Updates of a candle are coalesced per transaction: one version per changed window.
 *   - Consumers read with isolation read_committed; autoCommit is off (offsets only move
 *     inside transactions).
 *   - On (re)assignment the state of p is restored before p's first batch is processed: the
 *     new producer fences, then the changelog is read up to the entry whose nextOffset equals
 *     the group's committed offset. Records below that offset (the consumer may have read a
 *     stale committed offset before the fence) are skipped, so nothing is processed twice.
 *   - A failed transaction is aborted and the partition's in-memory state dropped; the batch
 *     is fetched again and processed from the restored state. A fenced producer means another
 *     instance owns the partition now: this one lets go and rejoins the group.
 *   - A symbol's records all live in one raw partition (key = symbol), so per-symbol state
 *     never spans partitions and a rebalance moves whole symbols with their state.
 *
 * The units (each file's comment says why it works the way it does):
 *   processor.ts         Processor: the Stage; wires the consumer to the units below, decides
 *                        what a failed batch means (retry, rejoin, stop)
 *   partition-tasks.ts   partition ownership: a PartitionTask (transactional producer, fencing,
 *                        restored state) per raw partition owned in the current generation
 *   batch-transaction.ts one raw batch -> one transaction (trades, candles, late copies, dead
 *                        letters, changelog, offsets)
 *   output-topics.ts     the topics written: symbol topics (names, keys, partitions, created on
 *                        first use) and the fixed ones checked or created at start
 *   output-buffer.ts     a transaction's records cut into produce requests
 *   state-store.ts, windows.ts, transform.ts: the changelog, the candle logic, raw decoding
 *   options.ts, stats.ts: what process is given (and its defaults) and what it counts
 */

const MAX_CONSECUTIVE_FAILURES = 8;
const FAILURE_BACKOFF = { initialMs: 200, maxMs: 10_000 };

/** What one run shares with its eachBatch calls. */
interface Run {
  signal: AbortSignal;
  tasks: PartitionTasks;
  batches: BatchTransaction;
  /** Consecutive failed batches per raw partition. */
  failures: Map<number, number>;
  /** Ends run() with this error. */
  fail(error: unknown): void;
}

export class Processor implements Stage<ProcessStats> {
  readonly name = 'process';
  private readonly stats = newStats();

  constructor(private readonly options: ProcessOptions) {}

  snapshot(): ProcessStats {
    return copyStats(this.stats);
  }

  async run(signal: AbortSignal): Promise<ProcessStats> {
    const { options } = this;
    const { logger, groupId } = options;
    const kafka = createKafka(options.kafka, logger, 'process');
    const admin = kafka.admin();
    try {
      await admin.connect();
    } catch (error) {
      throw kafkaUnavailable(error, options.kafka.brokers);
    }
    const changelogTopic = changelogTopicName(groupId);
    const reader = new ChangelogReader(kafka, admin, changelogTopic, options.topics.raw, logger);
    const tasks = new PartitionTasks(kafka, admin, reader, options, signal);
    let consumer: Consumer | null = null;
    try {
      const rawPartitions = await prepareTopics(admin, options.topics, changelogTopic);
      await deleteLeftoverReaderGroups(admin, groupId, logger);
      await reader.start(groupId);
      let fail!: (error: unknown) => void;
      const failed = new Promise<never>((_, reject) => (fail = reject));
      failed.catch(() => {});
      const outputs = new OutputTopics(admin, logger, topicNaming(options.topicPrefix, options.topics, changelogTopic));
      const batches = new BatchTransaction(admin, outputs, options, changelogTopic, this.stats);
      await registerValueSchemas(options, outputs);
      const run: Run = { signal, tasks, batches, failures: new Map(), fail };
      consumer = this.consumer(kafka, run);
      await consumer.connect();
      await consumer.subscribe({ topic: options.topics.raw, fromBeginning: options.fromBeginning });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: rawPartitions,
        eachBatch: (payload) => this.eachBatch(payload, run),
      });
      const { windows } = options;
      logger.info(
        {
          rawTopic: options.topics.raw,
          groupId,
          topicPrefix: options.topicPrefix,
          windows: windows.sizes,
          latenessMs: windows.latenessMs,
          emit: windows.emit,
          symbols: options.symbols.length || 'all',
        },
        'processing',
      );
      await Promise.race([aborted(signal), failed]);
    } finally {
      // consumer.disconnect() waits for the batch in progress: its transaction commits first.
      await consumer?.disconnect().catch(() => {});
      await tasks.close();
      await reader.stop();
      await admin.disconnect().catch(() => {});
    }
    // Only now: the batch that was in progress at the abort has been counted.
    return this.snapshot();
  }

  /** The raw-topic consumer: read_committed, offsets moved only by the transactions. */
  private consumer(kafka: Kafka, run: Run): Consumer {
    const { sessionTimeoutMs, topics, logger } = this.options;
    const consumer = kafka.consumer({
      groupId: this.options.groupId,
      readUncommitted: false,
      sessionTimeout: sessionTimeoutMs,
      heartbeatInterval: Math.min(3_000, Math.floor(sessionTimeoutMs / 3)),
      rebalanceTimeout: Math.max(sessionTimeoutMs, 10_000),
      maxWaitTimeInMs: 250,
      // 2 MB (Kafka's default is 1 MB): under a backlog, fewer and larger transactions; measured
      // about 10 % less CPU per trade than 512 kB (docs/benchmarks.md). Sparse input is unaffected:
      // a fetch returns what is there. -X max.partition.fetch.bytes overrides it.
      maxBytesPerPartition: 2 * 1024 * 1024,
      // Kafka's default fetch.max.bytes (50 MB), not kafkajs' 10 MB: 10 MB held six 2 MB
      // partitions back, and since kafkajs asks for partitions in the same order every time,
      // the one left out of a full response waited until the others' backlogs were drained
      // (measured: one raw partition's first batch 3 s after the other five). The broker sends
      // what is there, so sparse input is unaffected. -X fetch.max.bytes overrides it.
      maxBytes: 50 * 1024 * 1024,
      allowAutoTopicCreation: false,
    });
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      const partitions = [...(payload.memberAssignment[topics.raw] ?? [])].sort((a, b) => a - b);
      this.stats.assigned = partitions;
      this.stats.joinedAt ||= Date.now();
      for (const partition of this.stats.lag.keys()) if (!partitions.includes(partition)) this.stats.lag.delete(partition);
      run.tasks.join(partitions);
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart)
        run.fail(new FinpipeError('KAFKA_ERROR', `the raw-topic consumer stopped: ${payload.error.message}`, { cause: payload.error }));
      else logger.warn({ err: payload.error }, 'consumer crashed; kafkajs restarts it');
    });
    return consumer;
  }

  private async eachBatch(payload: EachBatchPayload, run: Run): Promise<void> {
    const partition = payload.batch.partition;
    if (run.signal.aborted || !run.tasks.owns(partition)) return;
    let task: PartitionTask | undefined;
    try {
      task = await run.tasks.task(partition);
      await run.batches.run(task, payload);
      run.failures.delete(partition);
    } catch (error) {
      // The in-memory state may hold this batch's half-applied changes: drop it; the batch is
      // fetched again (its offset was not resolved) and processed from the restored state.
      if (task) await run.tasks.drop(task);
      run.batches.failed();
      if (!run.signal.aborted) await this.onBatchFailure(error, payload, run);
    }
  }

  /**
   * After a failed batch: a fenced producer lets the partition go, a non-retriable error
   * ends the run, anything else is retried with backoff until MAX_CONSECUTIVE_FAILURES
   * batches of the partition have failed in a row.
   *
   * Not retry(): its attempts would loop inside one eachBatch call, but here each attempt is
   * a new eachBatch call. Returning without resolving the batch makes kafkajs fetch it again,
   * and between calls kafkajs heartbeats and joins rebalances — a loop inside the call would
   * hold both up past the session timeout. So the count lives per partition across calls,
   * and only the delay comes from the shared backoffDelay.
   */
  private async onBatchFailure(error: unknown, payload: EachBatchPayload, run: Run): Promise<void> {
    const partition = payload.batch.partition;
    const { logger } = this.options;
    if (error instanceof FinpipeError && !error.retriable) return run.fail(error);
    if (isFenced(error)) {
      logger.warn({ partition }, 'producer fenced: another instance owns this partition now; rejoining the group');
      await sleep(1_000, run.signal);
      await payload.heartbeat(); // throws "rebalancing" so the consumer rejoins
      return;
    }
    const attempt = (run.failures.get(partition) ?? 0) + 1;
    run.failures.set(partition, attempt);
    if (attempt > MAX_CONSECUTIVE_FAILURES) {
      return run.fail(
        new FinpipeError(
          'KAFKA_ERROR',
          `raw partition ${partition}: ${attempt} transactions failed in a row: ${(error as Error).message}`,
          { cause: error },
        ),
      );
    }
    const delay = backoffDelay(attempt - 1, FAILURE_BACKOFF);
    logger.warn({ partition, attempt, delayMs: delay, err: error }, 'transaction failed: aborted; retrying from the last commit');
    await sleep(delay, run.signal);
  }
}
