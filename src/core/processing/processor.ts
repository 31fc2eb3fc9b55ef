import { Partitioners, type Admin, type Consumer, type EachBatchPayload, type IHeaders, type Kafka, type Message, type Producer, type TopicMessages } from 'kafkajs';
import type { KafkaConfig } from '../config';
import { FinpipeError } from '../errors';
import { createKafka } from '../kafka/client';
import { isFenced, kafkaUnavailable } from '../kafka/errors';
import { deadLetterMessage } from '../kafka/dead-letter';
import { ensureTopics } from '../kafka/topics';
import type { Logger } from '../log';
import { aborted } from '../lifecycle';
import { backoffDelay, sleep } from '../retry';
import { codecs, RECORD_TYPE_HEADER, type Trade } from '../serde';
import { symbolToTopic, symbolTopics } from '../symbols';
import { ChangelogReader, changelogMessages, changelogTopicName } from './state-store';
import { decodeRawRecord } from './transform';
import { SymbolWindows, type SymbolSnapshot, type WindowConfig } from './windows';

/**
 * `finpipe process`: raw topic -> per-symbol topics with trades and candles, exactly once.
 *
 * Topic layout
 *   in   <raw> (default `trades`): key = symbol, value = Avro FinnhubProducer.message (one
 *        Finnhub frame's trades for one symbol), timestamp = ingest time.
 *   out  one topic per symbol, `symbolToTopic(symbol)` (BINANCE:BTCUSDT -> BINANCE_BTCUSDT),
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
 *        `process` and source `topic/partition/offset`, in the same transaction.
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
 */

export interface ProcessOptions {
  kafka: KafkaConfig;
  topics: { raw: string; late: string; deadLetter: string };
  groupId: string;
  /** Symbols to keep; empty = all. */
  symbols: string[];
  windows: WindowConfig;
  /** Where a group with no committed offset starts: the earliest record or only new ones. */
  fromBeginning: boolean;
  sessionTimeoutMs: number;
  signal: AbortSignal;
  logger: Logger;
}

export interface ProcessStats {
  startedAt: number;
  records: number;
  trades: number;
  candles: number;
  late: number;
  deadLetters: number;
  transactions: number;
  /** Records on the assigned raw partitions not yet processed, per partition. */
  lag: Map<number, number>;
  assigned: number[];
}

export function newStats(): ProcessStats {
  return { startedAt: Date.now(), records: 0, trades: 0, candles: 0, late: 0, deadLetters: 0, transactions: 0, lag: new Map(), assigned: [] };
}

export function totalLag(stats: ProcessStats): number {
  let sum = 0;
  for (const v of stats.lag.values()) sum += v;
  return sum;
}

/** Headers on the late-trades topic. */
export const LATE_HEADERS = {
  reason: 'finpipe.late.reason',
  watermark: 'finpipe.late.watermark',
  windows: 'finpipe.late.windows',
  source: 'finpipe.late.source',
} as const;

/** Output topics (per symbol) get one partition: see the layout above. */
const OUTPUT_PARTITIONS = 1;
/** Stay well under the broker's 1 MB message.max.bytes for one produce request's batch. */
const MAX_CHUNK_BYTES = 512 * 1024;
/** kafkajs groups a request's records per partition by copying the array for every record
 * (quadratic), so one request carries at most this many records per topic. */
const MAX_CHUNK_RECORDS_PER_TOPIC = 500;
const MAX_CONSECUTIVE_FAILURES = 8;
// Shared Buffers rather than strings: kafkajs converts strings to Buffers for every record,
// which shows in profiles at tens of thousands of records per second.
const TRADE_HEADERS: IHeaders = { [RECORD_TYPE_HEADER]: Buffer.from('trade') };
const CANDLE_HEADERS: IHeaders = { [RECORD_TYPE_HEADER]: Buffer.from('candle') };

interface PartitionTask {
  partition: number;
  producer: Producer;
  /** Consumer-group generation in which this task was last verified as current. */
  generation: number;
  /** Next raw offset to process (= the committed offset); null when the group has none yet. */
  nextOffset: bigint | null;
  symbols: Map<string, SymbolWindows>;
}

function messageBytes(m: Message): number {
  let n = 64;
  if (m.value) n += typeof m.value === 'string' ? Buffer.byteLength(m.value) : m.value.length;
  if (m.key) n += typeof m.key === 'string' ? Buffer.byteLength(m.key) : m.key.length;
  return n;
}

/** Output of one transaction, in the order it must be written, cut into produce requests. */
class OutputBuffer {
  private chunks: Map<string, Message[]>[] = [new Map()];
  private bytes = 0;

  push(topic: string, message: Message): void {
    const size = messageBytes(message);
    let chunk = this.chunks[this.chunks.length - 1];
    if (this.bytes > 0 && (this.bytes + size > MAX_CHUNK_BYTES || (chunk.get(topic)?.length ?? 0) >= MAX_CHUNK_RECORDS_PER_TOPIC)) {
      this.chunks.push((chunk = new Map()));
      this.bytes = 0;
    }
    this.bytes += size;
    let list = chunk.get(topic);
    if (!list) chunk.set(topic, (list = []));
    list.push(message);
  }

  batches(): TopicMessages[][] {
    return this.chunks.filter((c) => c.size > 0).map((c) => [...c].map(([topic, messages]) => ({ topic, messages })));
  }
}

export async function runProcess(options: ProcessOptions, stats: ProcessStats = newStats()): Promise<ProcessStats> {
  const { logger, signal, groupId } = options;
  const rawTopic = options.topics.raw;
  const keepSet = options.symbols.length > 0 ? new Set(symbolTopics(options.symbols).keys()) : null;
  const keep = keepSet ? (symbol: string) => keepSet.has(symbol) : () => true;
  const codec = codecs();
  const kafka: Kafka = createKafka(options.kafka, logger, 'process');
  const admin: Admin = kafka.admin();
  try {
    await admin.connect();
  } catch (error) {
    throw kafkaUnavailable(error, options.kafka.brokers);
  }

  const changelogTopic = changelogTopicName(groupId);
  let reader: ChangelogReader | null = null;
  let consumer: Consumer | null = null;
  const tasks = new Map<number, PartitionTask>();
  /** Every producer ever created, so shutdown disconnects even ones dropped mid-retry. */
  const producers = new Set<Producer>();
  let generation = 0;
  let assigned = new Set<number>();
  let fatal: ((error: unknown) => void) | null = null;
  const failed = new Promise<never>((_, reject) => (fatal = reject));
  failed.catch(() => {});
  const failures = new Map<number, number>();

  // ---- topics -------------------------------------------------------------------------
  let rawPartitions = 0;
  async function prepareTopics(): Promise<void> {
    if (!(await admin.listTopics()).includes(rawTopic)) {
      throw new FinpipeError('TOPIC_NOT_FOUND', `raw topic ${rawTopic} does not exist`, {
        hint: `create it first (finpipe topics create ${rawTopic}) or point --topic / FINPIPE_RAW_TOPIC at the topic produce writes`,
        context: { topic: rawTopic },
      });
    }
    rawPartitions = (await admin.fetchTopicMetadata({ topics: [rawTopic] })).topics[0].partitions.length;
    await ensureTopics(admin, [
      { name: options.topics.late, partitions: 1, replicationFactor: -1 },
      { name: options.topics.deadLetter, partitions: 1, replicationFactor: -1 },
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
      throw new FinpipeError('TOPIC_CONFLICT', `state topic ${changelogTopic} has ${changelogPartitions} partitions but ${rawTopic} has ${rawPartitions}`, {
        hint: `raw partition p keeps its state in partition p of ${changelogTopic}; add partitions to it (kafka-topics --alter --partitions ${rawPartitions})`,
      });
    }
  }
  /** Partition count of each symbol topic used so far (created on first use). */
  const partitionsOf = new Map<string, number>();
  const creating = new Map<string, Promise<void>>();
  const topicOf = new Map<string, string>();
  const keyOf = new Map<string, Buffer>();
  const symbolKey = (symbol: string): Buffer => {
    let key = keyOf.get(symbol);
    if (!key) keyOf.set(symbol, (key = Buffer.from(symbol)));
    return key;
  };
  const outputTopic = (symbol: string): string => {
    let topic = topicOf.get(symbol);
    if (!topic) topicOf.set(symbol, (topic = symbolToTopic(symbol)));
    return topic;
  };
  function ensureOutputTopic(name: string): Promise<void> {
    let pending = creating.get(name);
    if (!pending) {
      pending = (async () => {
        const existed = (await admin.listTopics()).includes(name);
        if (!existed) await ensureTopics(admin, [{ name, partitions: OUTPUT_PARTITIONS, replicationFactor: -1 }]);
        const count = (await admin.fetchTopicMetadata({ topics: [name] })).topics[0].partitions.length;
        partitionsOf.set(name, count);
        if (!existed) logger.info({ topic: name }, 'created symbol topic');
      })().finally(() => creating.delete(name));
      creating.set(name, pending);
    }
    return pending;
  }
  /** The partition to write a symbol topic's records to: 0 for the usual one-partition topic
   * (saves hashing every record's key); a topic made elsewhere with more partitions is left
   * to the default partitioner, which hashes the key (= symbol) to one fixed partition. */
  const outputPartition = (topic: string): number | undefined => (partitionsOf.get(topic) === 1 ? 0 : undefined);

  // ---- partition ownership ---------------------------------------------------------------
  async function committedOffset(partition: number): Promise<bigint | null> {
    const [topic] = await admin.fetchOffsets({ groupId, topics: [rawTopic] });
    const offset = topic?.partitions.find((p) => p.partition === partition)?.offset ?? '-1';
    return offset === '-1' || offset === '' ? null : BigInt(offset);
  }

  async function dropTask(task: PartitionTask): Promise<void> {
    if (tasks.get(task.partition) === task) tasks.delete(task.partition);
    await task.producer.disconnect().catch(() => {});
  }

  async function acquire(partition: number, previous: PartitionTask | undefined): Promise<PartitionTask> {
    const myGeneration = generation;
    if (previous) {
      // Still ours after a rebalance: keep the state if nobody else committed meanwhile (if
      // someone did and fenced us, our next commit fails and the partition is restored).
      if ((await committedOffset(partition)) === previous.nextOffset) {
        previous.generation = myGeneration;
        return previous;
      }
      await dropTask(previous);
    }
    const producer = kafka.producer({
      transactionalId: `${groupId}-${rawTopic}-${partition}`,
      // Transactions are always idempotent in kafkajs; `idempotent` only concerns plain
      // send() (never used here) and would add a second producer-id request on connect.
      idempotent: false,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
      // Right after a commit the coordinator is still writing the markers and answers the
      // next transaction's AddPartitionsToTxn with CONCURRENT_TRANSACTIONS for a few ms;
      // kafkajs' default first retry (200 ms) would then dominate the latency.
      retry: { initialRetryTime: 10, maxRetryTime: 2_000, retries: 10 },
      transactionTimeout: 30_000,
      allowAutoTopicCreation: false,
    });
    producers.add(producer);
    await producer.connect();
    try {
      // kafkajs runs InitProducerId on the first transaction(): that fences the previous
      // owner and waits for its open transaction to be committed or aborted. An empty
      // transaction ends locally, without a request.
      await (await producer.transaction()).abort();
      const committed = await committedOffset(partition);
      const snapshots: SymbolSnapshot[] = committed === null ? [] : await reader!.restore(partition, committed.toString(), signal);
      const symbols = new Map<string, SymbolWindows>();
      for (const s of snapshots) symbols.set(s.symbol, new SymbolWindows(s.symbol, options.windows, s));
      const task: PartitionTask = { partition, producer, generation: myGeneration, nextOffset: committed, symbols };
      tasks.set(partition, task);
      logger.info({ partition, nextOffset: committed?.toString() ?? null, symbols: symbols.size }, 'partition assigned: state restored');
      return task;
    } catch (error) {
      await producer.disconnect().catch(() => {});
      throw error;
    }
  }

  // ---- one batch = one transaction ---------------------------------------------------------
  async function processBatch(task: PartitionTask, payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const partition = batch.partition;
    const firstOffset = batch.firstOffset();
    if (firstOffset === null) return;
    let next = task.nextOffset;
    if (next !== null && BigInt(firstOffset) > next) {
      // Offsets between were not delivered: transaction markers or aborted records of a
      // transactional raw producer (kafkajs skips those), or records deleted by retention.
      // Never records still to do: the consumer starts at or before the committed offset.
      if (BigInt(firstOffset) - next > 1n) {
        const low = BigInt((await admin.fetchTopicOffsets(rawTopic)).find((o) => o.partition === partition)?.low ?? '0');
        if (low > next) logger.warn({ partition, from: next.toString(), to: low.toString() }, 'raw records were deleted by retention before they were processed');
      }
      next = BigInt(firstOffset);
    }
    const out = new OutputBuffer();
    const dirty = new Set<SymbolWindows>();
    let records = 0;
    let trades = 0;
    let candles = 0;
    let late = 0;
    let deadLetters = 0;
    for (const m of batch.messages) {
      if (next !== null && BigInt(m.offset) < next) continue; // committed before we took over
      records++;
      const decoded = decodeRawRecord({ topic: rawTopic, partition, offset: m.offset, key: m.key, value: m.value, timestamp: m.timestamp }, keep);
      if (!decoded.ok) {
        deadLetters++;
        out.push(
          options.topics.deadLetter,
          deadLetterMessage({ stage: 'process', reason: decoded.reason, source: `${rawTopic}/${partition}/${m.offset}`, value: m.value ?? '', key: m.key, headers: m.headers as IHeaders }),
        );
        continue;
      }
      for (const trade of decoded.trades) {
        trades++;
        const topic = outputTopic(trade.symbol);
        if (!partitionsOf.has(topic)) await ensureOutputTopic(topic);
        const value = codec.trade.encode(trade);
        out.push(topic, { key: symbolKey(trade.symbol), partition: outputPartition(topic), value, headers: TRADE_HEADERS });
        let windows = task.symbols.get(trade.symbol);
        if (!windows) task.symbols.set(trade.symbol, (windows = new SymbolWindows(trade.symbol, options.windows)));
        dirty.add(windows);
        const lateInfo = windows.add({ price: trade.price, volume: trade.volume, time: trade.trade_timestamp });
        if (lateInfo) {
          late++;
          out.push(options.topics.late, { key: trade.symbol, value, headers: lateHeaders(trade, lateInfo.watermark, lateInfo.missed, `${rawTopic}/${partition}/${m.offset}`) });
        }
      }
    }
    const snapshots: SymbolSnapshot[] = [];
    for (const windows of dirty) {
      const topic = outputTopic(windows.symbol);
      for (const candle of windows.drain()) {
        candles++;
        out.push(topic, { key: symbolKey(windows.symbol), partition: outputPartition(topic), value: codec.candle.encode(candle), headers: CANDLE_HEADERS });
      }
      snapshots.push(windows.snapshot());
    }
    const after = BigInt(batch.lastOffset()) + 1n;
    const newNext = next === null || after > next ? after : next;
    if (records === 0 && newNext === next) {
      payload.resolveOffset((newNext - 1n).toString());
      return;
    }
    const changelog = changelogMessages(rawTopic, partition, snapshots, newNext.toString());
    for (const m of changelog) out.push(changelogTopic, m);

    const txn = await task.producer.transaction();
    try {
      for (const topicMessages of out.batches()) await txn.sendBatch({ topicMessages, acks: -1 });
      // Not in parallel with the sends: the coordinator refuses AddOffsetsToTxn while it is
      // still adding the partitions (CONCURRENT_TRANSACTIONS), and kafkajs does not retry it.
      await txn.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: rawTopic, partitions: [{ partition, offset: newNext.toString() }] }] });
      await txn.commit();
    } catch (error) {
      if (txn.isActive()) await txn.abort().catch(() => {});
      throw error;
    }
    next = newNext;
    task.nextOffset = newNext;
    payload.resolveOffset((newNext - 1n).toString());
    stats.records += records;
    stats.trades += trades;
    stats.candles += candles;
    stats.late += late;
    stats.deadLetters += deadLetters;
    stats.transactions++;
    stats.lag.set(partition, Math.max(0, Number(BigInt(batch.highWatermark) - newNext)));
  }

  async function eachBatch(payload: EachBatchPayload): Promise<void> {
    const partition = payload.batch.partition;
    if (signal.aborted || !assigned.has(partition)) return;
    let task = tasks.get(partition);
    try {
      if (!task || task.generation !== generation) task = await acquire(partition, task);
      await processBatch(task, payload);
      failures.delete(partition);
    } catch (error) {
      // The in-memory state may hold this batch's half-applied changes: drop it; the batch is
      // fetched again (its offset was not resolved) and processed from the restored state.
      if (task) await dropTask(task);
      if (signal.aborted) return;
      if (error instanceof FinpipeError && !error.retriable) {
        fatal?.(error);
        return;
      }
      if (isFenced(error)) {
        logger.warn({ partition }, 'producer fenced: another instance owns this partition now; rejoining the group');
        await sleep(1_000, signal);
        await payload.heartbeat(); // throws "rebalancing" so the consumer rejoins
        return;
      }
      const attempt = (failures.get(partition) ?? 0) + 1;
      failures.set(partition, attempt);
      if (attempt > MAX_CONSECUTIVE_FAILURES) {
        fatal?.(new FinpipeError('KAFKA_ERROR', `raw partition ${partition}: ${attempt} transactions failed in a row: ${(error as Error).message}`, { cause: error }));
        return;
      }
      const delay = backoffDelay(attempt - 1, { initialMs: 200, maxMs: 10_000 });
      logger.warn({ partition, attempt, delayMs: delay, err: error }, 'transaction failed: aborted; retrying from the last commit');
      await sleep(delay, signal);
    }
  }

  // ---- run -----------------------------------------------------------------------------
  try {
    await prepareTopics();
    reader = new ChangelogReader(kafka, admin, changelogTopic, rawTopic, logger);
    await reader.start(groupId);
    consumer = kafka.consumer({
      groupId,
      readUncommitted: false,
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: Math.min(3_000, Math.floor(options.sessionTimeoutMs / 3)),
      rebalanceTimeout: Math.max(options.sessionTimeoutMs, 10_000),
      maxWaitTimeInMs: 250,
      maxBytesPerPartition: 512 * 1024,
      allowAutoTopicCreation: false,
    });
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      generation++;
      assigned = new Set(payload.memberAssignment[rawTopic] ?? []);
      stats.assigned = [...assigned].sort((a, b) => a - b);
      for (const [partition, task] of tasks) {
        if (!assigned.has(partition)) {
          stats.lag.delete(partition);
          void dropTask(task);
        }
      }
      logger.info({ generation, partitions: stats.assigned }, 'joined the group');
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) fatal?.(new FinpipeError('KAFKA_ERROR', `the raw-topic consumer stopped: ${payload.error.message}`, { cause: payload.error }));
      else logger.warn({ err: payload.error }, 'consumer crashed; kafkajs restarts it');
    });
    await consumer.connect();
    await consumer.subscribe({ topic: rawTopic, fromBeginning: options.fromBeginning });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: rawPartitions,
      eachBatch,
    });
    logger.info({ rawTopic, groupId, windows: options.windows.sizes, latenessMs: options.windows.latenessMs, emit: options.windows.emit, symbols: options.symbols.length || 'all' }, 'processing');
    await Promise.race([aborted(signal), failed]);
    return stats;
  } finally {
    // consumer.disconnect() waits for the batch in progress: its transaction commits first.
    await consumer?.disconnect().catch(() => {});
    await Promise.all([...producers].map((p) => p.disconnect().catch(() => {})));
    await reader?.stop();
    await admin.disconnect().catch(() => {});
  }
}

function lateHeaders(trade: Trade, watermark: number, missed: number[], source: string): IHeaders {
  return {
    [RECORD_TYPE_HEADER]: 'trade',
    [LATE_HEADERS.reason]: `event time ${new Date(trade.trade_timestamp).toISOString()} is behind the watermark ${new Date(watermark).toISOString()} of ${trade.symbol}: its ${missed.map((m) => `${m}ms`).join(', ')} window(s) had already closed`,
    [LATE_HEADERS.watermark]: String(watermark),
    [LATE_HEADERS.windows]: missed.join(','),
    [LATE_HEADERS.source]: source,
  };
}
