import type { Admin, Batch, EachBatchPayload, IHeaders, KafkaMessage } from 'kafkajs';
import { deadLetterMessage } from '../kafka/dead-letter';
import { partitionRange } from '../kafka/partition-offsets';
import { metricHooks } from '../metrics/hooks';
import { RECORD_TYPE_HEADER, type Trade } from '../serde';
import { candleValue, tradeValue } from './codec';
import { SYMBOL_TOPIC_KINDS } from './value-schemas';
import { symbolTopics } from '../symbols';
import type { ProcessOptions } from './options';
import { OutputBuffer } from './output-buffer';
import type { OutputTopics } from './output-topics';
import type { PartitionTask } from './partition-tasks';
import { changelogMessages } from './state-store';
import type { ProcessStats } from './stats';
import { decodeRawRecord, tradeLimitProblem, type TradeCheck } from './transform';
import { SymbolWindows, type SymbolSnapshot } from './windows';

/** Headers on the late-trades topic. */
export const LATE_HEADERS = {
  reason: 'finpipe.late.reason',
  watermark: 'finpipe.late.watermark',
  windows: 'finpipe.late.windows',
  source: 'finpipe.late.source',
} as const;

// Shared Buffers rather than strings: kafkajs converts strings to Buffers for every record,
// which shows in profiles at tens of thousands of records per second.
const TRADE_HEADERS: IHeaders = { [RECORD_TYPE_HEADER]: Buffer.from('trade') };
const CANDLE_HEADERS: IHeaders = { [RECORD_TYPE_HEADER]: Buffer.from('candle') };

/** Where one symbol's trades are written (see transform). */
interface SymbolRoute {
  symbol: string;
  topic: string;
  key: Buffer;
  partition: number | undefined;
  /** The Trade values' frame header (with a Schema Registry), else null. */
  header: Buffer | null;
}

/** What one batch adds to the stats; counted locally so a failed transaction adds nothing. */
interface BatchCounts {
  records: number;
  trades: number;
  candles: number;
  late: number;
  deadLetters: number;
}

/**
 * One fetched batch of raw partition p = one transaction of p's producer: its trades,
 * candles, late copies, dead letters, changelog records and consumer offset commit together
 * or not at all. A failure aborts the transaction and is thrown; the caller then drops the
 * task, whose in-memory state may hold half of this batch.
 */
export class BatchTransaction {
  private readonly keep: (symbol: string) => boolean;
  private readonly rawTopic: string;

  constructor(
    private readonly admin: Admin,
    private readonly outputs: OutputTopics,
    private readonly options: ProcessOptions,
    private readonly changelogTopic: string,
    private readonly stats: ProcessStats,
  ) {
    const keepSet = options.symbols.length > 0 ? new Set(symbolTopics(options.symbols).keys()) : null;
    this.keep = keepSet ? (symbol) => keepSet.has(symbol) : () => true;
    this.rawTopic = options.topics.raw;
  }

  /** After a failed transaction: output topics are looked at again (OutputTopics.forget). */
  failed(): void {
    this.outputs.forget();
  }

  async run(task: PartitionTask, payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const firstOffset = batch.firstOffset();
    if (firstOffset === null) return;
    const next = await this.startOffset(task, batch.partition, BigInt(firstOffset));
    const out = new OutputBuffer();
    const dirty = new Set<SymbolWindows>();
    const counts: BatchCounts = { records: 0, trades: 0, candles: 0, late: 0, deadLetters: 0 };
    await this.transform(task, batch, next, out, dirty, counts);
    const snapshots = this.drainCandles(dirty, out, counts);
    const after = BigInt(batch.lastOffset()) + 1n;
    const newNext = next === null || after > next ? after : next;
    if (counts.records === 0 && newNext === next) {
      payload.resolveOffset((newNext - 1n).toString());
      return;
    }
    for (const m of changelogMessages(this.rawTopic, batch.partition, snapshots, newNext.toString())) out.push(this.changelogTopic, m);
    const committing = performance.now();
    await this.commit(task, out, newNext);
    metricHooks.transactionCommitted((performance.now() - committing) / 1000, counts.records);
    payload.resolveOffset((newNext - 1n).toString());
    this.count(counts, batch.partition, BigInt(batch.highWatermark) - newNext);
  }

  /** The first offset to process: the task's next offset, or the batch's first one past a gap. */
  private async startOffset(task: PartitionTask, partition: number, firstOffset: bigint): Promise<bigint | null> {
    const next = task.nextOffset;
    if (next === null || firstOffset <= next) return next;
    // Offsets between were not delivered: transaction markers or aborted records of a
    // transactional raw producer (kafkajs skips those), or records deleted by retention.
    // Never records still to do: the consumer starts at or before the committed offset.
    if (firstOffset - next > 1n) {
      const { low } = await partitionRange(this.admin, this.rawTopic, partition);
      if (low > next)
        this.options.logger.warn(
          { partition, from: next.toString(), to: low.toString() },
          'raw records were deleted by retention before they were processed',
        );
    }
    return firstOffset;
  }

  /** Raw records -> trades (to their symbol topic and the windows), late copies and dead letters. */
  private async transform(
    task: PartitionTask,
    batch: Batch,
    next: bigint | null,
    out: OutputBuffer,
    dirty: Set<SymbolWindows>,
    counts: BatchCounts,
  ): Promise<void> {
    const { rawTopic, keep, outputs } = this;
    const { topics, windows: windowConfig } = this.options;
    const partition = batch.partition;
    const check = this.tradeCheck();
    const { reader, writer } = this.options.values;
    await reader.prepare(batch.messages);
    let hinted = false;
    // Where the last trade's symbol goes: a raw record's trades share one symbol (its key),
    // so its topic, key, partition and frame header are looked up once per record, not per trade.
    let route: SymbolRoute | undefined;
    for (let i = 0; i < batch.messages.length; i++) {
      const m = batch.messages[i];
      if (next !== null && BigInt(m.offset) < next) continue; // committed before we took over
      counts.records++;
      const source = `${rawTopic}/${partition}/${m.offset}`;
      const decoded = decodeRawRecord(
        { topic: rawTopic, partition, offset: m.offset, key: m.key, value: m.value, timestamp: m.timestamp },
        keep,
        check,
        reader,
      );
      if (!decoded.ok || decoded.rejected.length > 0) {
        // The whole record, as received, with every reason; its good trades (if any) go on below.
        counts.deadLetters++;
        const reason = decoded.ok ? decoded.rejected.join('; ') : decoded.reason;
        out.push(
          topics.deadLetter,
          deadLetterMessage({ stage: 'process', reason, source, value: m.value ?? '', key: m.key, headers: m.headers }),
        );
        if (!decoded.ok) continue;
      }
      for (const trade of decoded.trades) {
        counts.trades++;
        if (route?.symbol !== trade.symbol) {
          const topic = outputs.topic(trade.symbol);
          if (!outputs.ready(topic)) {
            // The first new topic of a batch brings the others the batch will need along.
            await this.readyTopics(topic, hinted ? [] : this.topicsNamedByKeys(batch.messages, i));
            hinted = true;
          }
          route = {
            symbol: trade.symbol,
            topic,
            key: outputs.key(trade.symbol),
            partition: outputs.partition(topic),
            header: writer.header(topic, 'trade'),
          };
        }
        const { topic } = route;
        const value = tradeValue(writer, topic, route.header, trade);
        out.push(topic, { key: route.key, partition: route.partition, value, headers: TRADE_HEADERS });
        let windows = task.symbols.get(trade.symbol);
        if (!windows) task.symbols.set(trade.symbol, (windows = new SymbolWindows(trade.symbol, windowConfig)));
        dirty.add(windows);
        const lateInfo = windows.add({ price: trade.price, volume: trade.volume, time: trade.trade_timestamp });
        if (lateInfo) {
          counts.late++;
          out.push(topics.late, { key: trade.symbol, value, headers: lateHeaders(trade, lateInfo.watermark, lateInfo.missed, source) });
        }
      }
    }
  }

  /**
   * Creates `topic` (and the `hinted` ones) when missing and registers their value schemas
   * (with a registry), all at once: a fresh start meets every symbol in its first batches, and
   * one request for all of them instead of one per symbol cut the start of a 20-symbol backlog
   * by about a second. The hints are best effort: if they fail, `topic` is readied alone.
   */
  private async readyTopics(topic: string, hinted: string[]): Promise<void> {
    const { outputs } = this;
    const { writer } = this.options.values;
    const topics = [topic, ...hinted];
    const started = performance.now();
    try {
      await outputs.ensure(topics);
      const created = performance.now();
      await Promise.all(topics.map((t) => writer.prepare(t, SYMBOL_TOPIC_KINDS)));
      const { logger } = this.options;
      if (logger.isLevelEnabled('debug')) {
        logger.debug(
          { topics: topics.length, topicsMs: ms(started, created), schemasMs: ms(created, performance.now()) },
          'symbol topics ready',
        );
      }
    } catch (error) {
      if (hinted.length === 0) throw error;
      await outputs.ensure([topic]);
      await writer.prepare(topic, SYMBOL_TOPIC_KINDS);
    }
  }

  /**
   * The symbol topics the keys of messages[from..] point to, not yet ready. A raw record's
   * key is its trades' symbol (transform.ts dead-letters a record whose key differs), but
   * anyone may write the raw topic: a key counts only when the record's value holds its
   * bytes (an Avro string is its UTF-8 bytes) and the symbol is processed and has a legal
   * topic, so an undecodable or mismatched record creates no topic. A hint only: every trade
   * written still makes sure of its own topic.
   */
  private topicsNamedByKeys(messages: KafkaMessage[], from: number): string[] {
    const { outputs } = this;
    const symbols = new Set<string>();
    for (let i = from; i < messages.length; i++) {
      const { key, value } = messages[i];
      if (!key || key.length === 0 || !value) continue;
      const symbol = key.toString();
      if (symbols.has(symbol) || !value.includes(key)) continue;
      symbols.add(symbol);
    }
    const topics: string[] = [];
    for (const symbol of symbols) {
      if (!this.keep(symbol) || outputs.problem(symbol) !== null) continue;
      const topic = outputs.topic(symbol);
      if (!outputs.ready(topic)) topics.push(topic);
    }
    return topics;
  }

  /**
   * The per-trade checks of one batch: the limits (future measured from the wall clock at
   * the batch's start) and a valid output topic for the symbol. A refused trade never
   * reaches a topic, the windows or the watermark.
   */
  private tradeCheck(): TradeCheck {
    const now = Date.now();
    const { maxFutureMs } = this.options;
    return (trade) => {
      const limit = tradeLimitProblem(trade, now, maxFutureMs);
      if (limit) return limit;
      const topic = this.outputs.problem(trade.s);
      return topic && `s: symbol ${JSON.stringify(trade.s)}: ${topic}`;
    };
  }

  /** The changed windows' candles (one version per window per transaction) and their snapshots. */
  private drainCandles(dirty: Set<SymbolWindows>, out: OutputBuffer, counts: BatchCounts): SymbolSnapshot[] {
    const { outputs } = this;
    const snapshots: SymbolSnapshot[] = [];
    for (const windows of dirty) {
      const topic = outputs.topic(windows.symbol);
      for (const candle of windows.drain()) {
        counts.candles++;
        out.push(topic, {
          key: outputs.key(windows.symbol),
          partition: outputs.partition(topic),
          value: candleValue(this.options.values.writer, topic, candle),
          headers: CANDLE_HEADERS,
        });
      }
      snapshots.push(windows.snapshot());
    }
    return snapshots;
  }

  private async commit(task: PartitionTask, out: OutputBuffer, newNext: bigint): Promise<void> {
    const { logger } = this.options;
    const started = performance.now();
    const requests = out.batches();
    const txn = await task.producer.transaction();
    let sent = started;
    let offsetsSent = started;
    try {
      for (const topicMessages of requests) await txn.sendBatch({ topicMessages, acks: -1 });
      sent = performance.now();
      // Not in parallel with the sends: the coordinator refuses AddOffsetsToTxn while it is
      // still adding the partitions (CONCURRENT_TRANSACTIONS), and kafkajs does not retry it.
      await txn.sendOffsets({
        consumerGroupId: this.options.groupId,
        topics: [{ topic: this.rawTopic, partitions: [{ partition: task.partition, offset: newNext.toString() }] }],
      });
      offsetsSent = performance.now();
      await txn.commit();
    } catch (error) {
      if (txn.isActive()) await txn.abort().catch(() => {});
      throw error;
    }
    task.nextOffset = newNext;
    // Where a transaction's time goes (FINPIPE_LOG_LEVEL=debug): the records' sends (with
    // AddPartitionsToTxn for partitions new to it), the offsets (AddOffsetsToTxn and
    // TxnOffsetCommit) and EndTxn; these round trips bound process's latency.
    if (logger.isLevelEnabled('debug')) {
      const end = performance.now();
      logger.debug(
        {
          partition: task.partition,
          produceRequests: requests.length,
          sendMs: ms(started, sent),
          offsetsMs: ms(sent, offsetsSent),
          commitMs: ms(offsetsSent, end),
        },
        'transaction committed',
      );
    }
  }

  private count(counts: BatchCounts, partition: number, lag: bigint): void {
    const { stats } = this;
    stats.records += counts.records;
    stats.trades += counts.trades;
    stats.candles += counts.candles;
    stats.late += counts.late;
    stats.deadLetters += counts.deadLetters;
    stats.transactions++;
    stats.lag.set(partition, Math.max(0, Number(lag)));
  }
}

/** Milliseconds between two performance.now() readings, to 0.01 ms (for the debug logs). */
function ms(from: number, to: number): number {
  return Math.round((to - from) * 100) / 100;
}

function lateHeaders(trade: Trade, watermark: number, missed: number[], source: string): IHeaders {
  return {
    [RECORD_TYPE_HEADER]: 'trade',
    [LATE_HEADERS.reason]:
      `event time ${new Date(trade.trade_timestamp).toISOString()} is behind the watermark ${new Date(watermark).toISOString()} ` +
      `of ${trade.symbol}: its ${missed.map((m) => `${m}ms`).join(', ')} window(s) had already closed`,
    [LATE_HEADERS.watermark]: String(watermark),
    [LATE_HEADERS.windows]: missed.join(','),
    [LATE_HEADERS.source]: source,
  };
}
