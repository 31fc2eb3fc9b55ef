/**
 * Per stage: which metric values its snapshot() gives, and when it is ready. The registry
 * calls `samples` once per scrape and `readiness` once per /readyz (and scrape), so the
 * stages' hot paths carry no metric code for these; they keep the counters they already had.
 */
import type { DashboardStats } from '../dashboard';
import type { ProcessStats } from '../process/stats';
import type { ProduceStats } from '../produce/stage';
import type { SimulatorStats } from '../simulator/types';
import type { SinkStats } from '../sink/stats';
import type { MetricName } from './definitions';

export interface Sample {
  /** Labels besides `stage`, which the registry adds. */
  labels?: Record<string, string | number>;
  value: number;
}

export type Samples = Partial<Record<MetricName, Sample[]>>;

export interface Readiness {
  ready: boolean;
  /** Why, for a person: "consuming 3 raw partitions", "MySQL unreachable: consumption paused". */
  reason: string;
}

export interface StageMetrics<S> {
  /** The `stage` label. */
  stage: string;
  /** The stage talks to Kafka: readiness also needs the broker to answer (probe.ts). */
  usesKafka: boolean;
  /** The `store` label of store metrics (sink). */
  store?: string;
  samples(snapshot: S): Samples;
  /** Whether it is doing its work, judged from the snapshot (the runner adds starting, stopping and the broker). */
  readiness(snapshot: S): Readiness;
}

const one = (value: number): Sample[] => [{ value }];

export const produceMetrics: StageMetrics<ProduceStats> = {
  stage: 'produce',
  usesKafka: true,
  samples: (s) => ({
    finpipe_trades_total: one(s.tradesAcked),
    finpipe_trades_received_total: one(s.trades),
    finpipe_records_in_total: one(s.frames),
    finpipe_records_out_total: one(s.messagesAcked),
    finpipe_websocket_reconnects_total: one(s.reconnects),
    finpipe_websocket_frame_gaps_total: one(s.frameGaps),
    finpipe_websocket_frames_total: [
      { labels: { kind: 'trade' }, value: s.frames - s.pings - s.errorFrames },
      { labels: { kind: 'ping' }, value: s.pings },
      { labels: { kind: 'error' }, value: s.errorFrames },
    ],
    finpipe_buffered_bytes: one(s.bufferedBytes),
  }),
  readiness: (s) =>
    s.elapsedMs > 0
      ? { ready: true, reason: 'producing: the source is read and Kafka takes its batches' }
      : { ready: false, reason: 'connecting to the source and Kafka' },
};

/** `rawTopic`: the topic label of the lag (process reads one topic). */
export function processMetrics(rawTopic: string): StageMetrics<ProcessStats> {
  return {
    stage: 'process',
    usesKafka: true,
    samples: (s) => ({
      finpipe_trades_total: one(s.trades),
      finpipe_records_in_total: one(s.records),
      finpipe_records_out_total: one(s.trades + s.candles + s.late),
      finpipe_candles_total: one(s.candles),
      finpipe_late_trades_total: one(s.late),
      finpipe_transactions_total: one(s.transactions),
      finpipe_consumer_lag: [...s.lag].map(([partition, lag]) => ({ labels: { topic: rawTopic, partition }, value: lag })),
      finpipe_assigned_partitions: one(s.assigned.length),
    }),
    readiness: (s) => {
      if (s.joinedAt === 0) return { ready: false, reason: `joining the consumer group of ${rawTopic}` };
      return s.assigned.length > 0
        ? { ready: true, reason: `consuming raw partitions ${s.assigned.join(',')} of ${rawTopic}` }
        : { ready: true, reason: `in the consumer group, idle: no partition of ${rawTopic} assigned (more instances than partitions)` };
    },
  };
}

/** `store`: the store's name as configured (`mysql`), the `store` label. */
export function sinkMetrics(store: string): StageMetrics<SinkStats> {
  return {
    stage: 'sink',
    usesKafka: true,
    store,
    samples: (s) => ({
      finpipe_trades_total: one(s.trades),
      finpipe_records_in_total: one(s.records + s.deadLetters),
      finpipe_records_out_total: one(s.records),
      finpipe_candles_total: one(s.candles),
      finpipe_transactions_total: one(s.transactions),
      finpipe_consumer_lag: s.partitions.map(({ topic, partition, lag }) => ({ labels: { topic, partition }, value: lag })),
      finpipe_assigned_partitions: one(s.partitions.length),
      finpipe_store_paused: [{ labels: { store }, value: s.paused ? 1 : 0 }],
    }),
    readiness: (s) => {
      if (s.paused) return { ready: false, reason: `${s.store} unreachable: consumption paused, retrying the write` };
      switch (s.state) {
        case 'starting':
          return { ready: false, reason: `connecting to ${s.store} (creating or checking its tables)` };
        case 'waiting for topics':
          return { ready: false, reason: 'waiting for the per-symbol topics to exist' };
        case 'stopping':
          return { ready: false, reason: 'stopping' };
        default:
          return { ready: true, reason: `consuming ${s.topics.size} topic(s) into ${s.store}` };
      }
    },
  };
}

export const simulatorMetrics: StageMetrics<SimulatorStats> = {
  stage: 'simulate',
  usesKafka: false,
  samples: (s) => ({
    finpipe_trades_total: one(s.tradesSent),
    finpipe_records_out_total: one(s.framesSent),
    finpipe_connections: one(s.connections),
  }),
  readiness: () => ({ ready: true, reason: 'serving the Finnhub websocket and REST API' }),
};

export const dashboardMetrics: StageMetrics<DashboardStats> = {
  stage: 'dashboard',
  usesKafka: true,
  samples: (s) => ({
    finpipe_records_in_total: one(s.live.records),
    finpipe_connections: one(s.clients),
  }),
  readiness: (s) =>
    s.live.error === null
      ? { ready: true, reason: `serving; the live feed reads ${s.live.topics} topic(s)` }
      : { ready: false, reason: `the live feed is not reading: ${s.live.error}` },
};
