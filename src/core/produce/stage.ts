/**
 * `finpipe produce` as a Stage: a trade source (Finnhub websocket, recorded file, HTTP) ->
 * validation -> one Avro message per (frame, symbol) on the raw topic, invalid input on the
 * dead-letter topic. See pipeline.ts for the record layout and batching-producer.ts for
 * batching and backpressure.
 *
 * Shutdown: when the signal aborts (SIGINT/SIGTERM) the source stops reading, everything
 * already received is flushed and acknowledged, and run() resolves with the summary.
 */
import { Partitioners, type Producer } from 'kafkajs';
import { createKafka } from '../kafka/client';
import { kafkaUnavailable } from '../kafka/errors';
import { withAdmin } from '../kafka/admin';
import { createTopics } from '../kafka/topics';
import type { FrameSink, TradeSource } from '../sources/types';
import type { Stage } from '../stage';
import { BatchingProducer, type TopicStats } from './batching-producer';
import { withProduceDefaults, type ProduceOptions, type ResolvedProduceOptions } from './options';
import { TradePipeline, type PipelineCounters } from './pipeline';
import { FrameRecorder } from './recorder';
import { createSource } from './source';

export interface ProduceStats extends PipelineCounters {
  reconnects: number;
  /** Watchdog reconnects of the websocket (no frame for the watchdog period). */
  frameGaps: number;
  /** HTTP requests that failed on the client's side (aborted uploads, bad chunked encoding). */
  clientErrors: number;
  /** Trades acknowledged by Kafka. */
  tradesAcked: number;
  messagesAcked: number;
  bytesAcked: number;
  deadLettersAcked: number;
  bufferedBytes: number;
  /** Since the source started reading (0 before), until it stopped. */
  elapsedMs: number;
}

export interface ProduceSummary extends ProduceStats {
  source: string;
  stopReason: 'signal' | 'end of input' | 'max trades';
}

const NOTHING_ACKED: TopicStats = { messages: 0, bytes: 0, weight: 0 };
const NOTHING_RECEIVED: PipelineCounters = {
  frames: 0,
  trades: 0,
  messages: 0,
  deadLetters: 0,
  invalidTrades: 0,
  pings: 0,
  errorFrames: 0,
};

export class ProduceStage implements Stage<ProduceStats, ProduceSummary> {
  readonly name = 'produce';
  private readonly opts: ResolvedProduceOptions;
  /** Stops the source: the caller's signal, or the max-trades limit. */
  private readonly stop = new AbortController();
  private stopReason: ProduceSummary['stopReason'] = 'end of input';
  private source: TradeSource | undefined;
  private out: BatchingProducer | undefined;
  private pipeline: TradePipeline | undefined;
  private startedAt = 0;
  private stoppedAt = 0;

  constructor(options: ProduceOptions) {
    this.opts = withProduceDefaults(options);
  }

  async run(signal: AbortSignal): Promise<ProduceSummary> {
    const { opts } = this;
    const log = opts.logger;
    const source = (this.source = await createSource(opts.source, log, signal));
    // Before anything is created or written: a schema the registry refuses stops produce here.
    await opts.values?.prepare(opts.topics.raw, ['raw']);
    await createProduceTopics(opts);
    const producer = await connectProducer(opts);
    const out = (this.out = new BatchingProducer(producer, log, opts.batching));
    const reservedTopics = [opts.topics.raw, opts.topics.deadLetter, ...(opts.topics.late ? [opts.topics.late] : [])];
    const pipeline = (this.pipeline = new TradePipeline(
      out,
      opts.topics,
      log,
      { maxFutureMs: opts.maxFutureMs, reservedTopics },
      opts.values,
    ));
    const onAbort = (): void => {
      this.stopReason = 'signal';
      this.stop.abort();
    };
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    const recorder = opts.record ? await FrameRecorder.open(opts.record, log) : undefined;

    this.startedAt = Date.now();
    log.info({ source: source.description, topic: opts.topics.raw }, `producing from ${source.description} to ${opts.topics.raw}`);
    let failure: unknown;
    try {
      await source.run(this.frameSink(pipeline, recorder), this.stop.signal);
    } catch (error) {
      failure = error;
    }
    signal.removeEventListener('abort', onAbort);
    // Everything received is flushed, whatever stopped the source.
    try {
      await out.flush();
    } catch (error) {
      failure ??= error;
    }
    pipeline.close();
    await recorder?.close();
    await producer.disconnect().catch((error) => log.debug({ err: error }, 'producer disconnect failed'));
    this.stoppedAt = Date.now();
    if (failure) throw failure as Error; // what the source or the flush threw, as it was
    return { ...this.snapshot(), source: source.description, stopReason: this.stopReason };
  }

  snapshot(): ProduceStats {
    const raw = this.out?.acked.get(this.opts.topics.raw) ?? NOTHING_ACKED;
    const dlq = this.out?.acked.get(this.opts.topics.deadLetter) ?? NOTHING_ACKED;
    return {
      ...(this.pipeline?.counters ?? NOTHING_RECEIVED),
      reconnects: this.source?.reconnects ?? 0,
      frameGaps: this.source?.frameGaps ?? 0,
      clientErrors: this.source?.clientErrors ?? 0,
      tradesAcked: raw.weight,
      messagesAcked: raw.messages,
      bytesAcked: raw.bytes,
      deadLettersAcked: dlq.messages,
      bufferedBytes: this.out?.bufferedBytes ?? 0,
      elapsedMs: this.startedAt === 0 ? 0 : (this.stoppedAt || Date.now()) - this.startedAt,
    };
  }

  /** What the source feeds: the recorder, the pipeline, and the max-trades check after each. */
  private frameSink(pipeline: TradePipeline, recorder: FrameRecorder | undefined): FrameSink {
    const { maxTrades } = this.opts;
    const stop = this.stop;
    const checkLimit = (): void => {
      if (maxTrades !== undefined && pipeline.counters.trades >= maxTrades && !stop.signal.aborted) {
        this.stopReason = 'max trades';
        stop.abort();
      }
    };
    return {
      limits: pipeline.limits,
      frame(data, binary, origin) {
        if (stop.signal.aborted) return undefined; // stopped: a frame still in the socket's buffer is not taken
        const drained = recorder && !binary ? recorder.write(data) : undefined;
        const wait = pipeline.frame(data, binary, origin);
        checkLimit();
        return wait && drained ? Promise.all([wait, drained]).then(() => undefined) : (wait ?? drained);
      },
      trades(trades) {
        const acked = pipeline.trades(trades);
        checkLimit(); // the trades are counted as soon as they are queued
        return acked;
      },
      deadLetter: (value, reason, origin) => pipeline.deadLetter(value, reason, origin),
    };
  }
}

async function createProduceTopics({ kafka, logger, topics, partitions }: ResolvedProduceOptions): Promise<void> {
  await withAdmin(kafka, logger, async (admin) => {
    const results = await createTopics(
      admin,
      [
        { name: topics.raw, partitions, replicationFactor: 1 },
        { name: topics.deadLetter, partitions: 1, replicationFactor: 1 },
      ],
      { strict: false },
    );
    for (const r of results)
      if (r.status === 'created')
        logger.info({ topic: r.name, partitions: r.partitions }, `created topic ${r.name} (${r.partitions} partitions)`);
  });
}

async function connectProducer({ kafka, logger }: ResolvedProduceOptions): Promise<Producer> {
  const producer = createKafka(kafka, logger, 'produce').producer({
    idempotent: true, // with acks=all: no duplicates from kafkajs' own retries
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner, // murmur2, like the Java client: same key -> same partition
    retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 200, maxRetryTime: 10_000 },
  });
  try {
    await producer.connect();
  } catch (error) {
    throw kafkaUnavailable(error, kafka.brokers);
  }
  return producer;
}
