/**
 * Every metric finpipe exposes on /metrics (besides prom-client's default process and
 * Node.js metrics), with its type, labels and meaning. This table is the single source for
 * the registry (registry.ts) and for the README's metric table (a test checks they agree).
 *
 * Label values are bounded: `stage` is one of five names, `topic` comes from configuration
 * (the raw topic, the sink's named or matched per-symbol topics, which follow the
 * subscription), `partition` from the topic's partition count, `reason` from the closed list
 * in hooks.ts (DEAD_LETTER_REASONS), `kind` and `store` from closed lists. No label ever holds
 * a raw error message or a value taken from input.
 */
export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricDefinition {
  name: string;
  type: MetricType;
  help: string;
  labels: readonly string[];
  /** The stages that report it (README). */
  stages: readonly string[];
  /** Histograms: bucket upper bounds. */
  buckets?: readonly number[];
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const FRESHNESS_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const BATCH_BUCKETS = [1, 5, 10, 50, 100, 500, 1_000, 5_000, 10_000, 50_000];

const KAFKA = ['produce', 'process', 'sink'] as const;

export const METRICS = [
  // Throughput, derived from each stage's snapshot() at scrape time.
  {
    name: 'finpipe_trades_total',
    type: 'counter',
    help:
      'Trades delivered downstream: acknowledged by Kafka (produce), committed to the per-symbol topics ' +
      '(process), committed to the store (sink), sent (simulate).',
    labels: ['stage'],
    stages: [...KAFKA, 'simulate'],
  },
  {
    name: 'finpipe_trades_received_total',
    type: 'counter',
    help: 'Valid trades received from the source (websocket, file or HTTP), before Kafka acknowledged them.',
    labels: ['stage'],
    stages: ['produce'],
  },
  {
    name: 'finpipe_records_in_total',
    type: 'counter',
    help:
      'Input taken: websocket or file frames (produce), raw records (process), per-symbol records ' +
      'committed, dead letters included (sink), live records (dashboard).',
    labels: ['stage'],
    stages: ['produce', 'process', 'sink', 'dashboard'],
  },
  {
    name: 'finpipe_records_out_total',
    type: 'counter',
    help:
      'Records written: raw-topic messages acknowledged (produce), trades, candles and late copies committed ' +
      '(process), rows committed to the store (sink), frames sent (simulate).',
    labels: ['stage'],
    stages: ['produce', 'process', 'sink', 'simulate'],
  },
  {
    name: 'finpipe_candles_total',
    type: 'counter',
    help: 'Candle versions committed to the per-symbol topics (process) or upserted into the store (sink).',
    labels: ['stage'],
    stages: ['process', 'sink'],
  },
  {
    name: 'finpipe_late_trades_total',
    type: 'counter',
    help: 'Trades that missed a closed window: copied to the late topic (their trade is still written).',
    labels: ['stage'],
    stages: ['process'],
  },
  {
    name: 'finpipe_transactions_total',
    type: 'counter',
    help: 'Committed transactions: Kafka transactions (process), store transactions with their offset commit (sink).',
    labels: ['stage'],
    stages: ['process', 'sink'],
  },
  {
    name: 'finpipe_dead_letters_total',
    type: 'counter',
    help:
      'Dead letters sent, by reason class: malformed, limit (a trade limit), symbol (no valid topic for it), ' +
      'binary (a binary frame), store_refused (the store refused the row), other.',
    labels: ['stage', 'reason'],
    stages: KAFKA,
  },
  {
    name: 'finpipe_websocket_reconnects_total',
    type: 'counter',
    help: 'Reconnections of the Finnhub websocket (every one after the first connection).',
    labels: ['stage'],
    stages: ['produce'],
  },
  {
    name: 'finpipe_websocket_frame_gaps_total',
    type: 'counter',
    help: 'Times no frame at all (trade or ping) arrived for the watchdog period, which makes produce reconnect.',
    labels: ['stage'],
    stages: ['produce'],
  },
  {
    name: 'finpipe_websocket_frames_total',
    type: 'counter',
    help: 'Websocket frames received, by kind: trade (any frame with trades or invalid data), ping, error (a Finnhub error frame).',
    labels: ['stage', 'kind'],
    stages: ['produce'],
  },
  {
    name: 'finpipe_consumer_lag',
    type: 'gauge',
    help: 'Records in a topic-partition this stage has not yet committed (high watermark minus committed offset), per assigned partition.',
    labels: ['stage', 'topic', 'partition'],
    stages: ['process', 'sink'],
  },
  {
    name: 'finpipe_assigned_partitions',
    type: 'gauge',
    help: 'Partitions assigned to this instance by its consumer group (process: of the raw topic; sink: of the per-symbol topics it reads with lag known).',
    labels: ['stage'],
    stages: ['process', 'sink'],
  },
  {
    name: 'finpipe_buffered_bytes',
    type: 'gauge',
    help: 'Bytes received but not yet acknowledged by Kafka (the in-flight buffer bounded by --max-buffer).',
    labels: ['stage'],
    stages: ['produce'],
  },
  {
    name: 'finpipe_store_paused',
    type: 'gauge',
    help: '1 while the store is unreachable and consumption is paused, else 0.',
    labels: ['stage', 'store'],
    stages: ['sink'],
  },
  {
    name: 'finpipe_connections',
    type: 'gauge',
    help: 'Open websocket connections: simulated Finnhub clients (simulate), browsers (dashboard).',
    labels: ['stage'],
    stages: ['simulate', 'dashboard'],
  },
  {
    name: 'finpipe_ready',
    type: 'gauge',
    help: '1 while /readyz answers ready, else 0 (the reason is in the /readyz answer).',
    labels: ['stage'],
    stages: ['produce', 'process', 'sink', 'simulate', 'dashboard'],
  },
  // Timings, observed where they happen (hooks.ts).
  {
    name: 'finpipe_kafka_produce_seconds',
    type: 'histogram',
    help: 'Time from sending a batch to Kafka until it is acknowledged (acks=all).',
    labels: ['stage'],
    stages: ['produce'],
    buckets: LATENCY_BUCKETS,
  },
  {
    name: 'finpipe_kafka_transaction_seconds',
    type: 'histogram',
    help: "Time to commit one Kafka transaction: its records' sends, the offset commit and the commit itself.",
    labels: ['stage'],
    stages: ['process'],
    buckets: LATENCY_BUCKETS,
  },
  {
    name: 'finpipe_batch_size',
    type: 'histogram',
    help: 'Records per batch: messages per Kafka send (produce), raw records per transaction (process), records per store write (sink).',
    labels: ['stage'],
    stages: KAFKA,
    buckets: BATCH_BUCKETS,
  },
  {
    name: 'finpipe_store_write_seconds',
    type: 'histogram',
    help: 'Time of one successful store write (one transaction), retries not included.',
    labels: ['stage', 'store'],
    stages: ['sink'],
    buckets: LATENCY_BUCKETS,
  },
  {
    name: 'finpipe_store_write_retries_total',
    type: 'counter',
    help: 'Store writes that failed and were retried (the store was unreachable or refused the transaction).',
    labels: ['stage', 'store'],
    stages: ['sink'],
  },
  {
    name: 'finpipe_freshness_seconds',
    type: 'histogram',
    help: 'Trade to stored: the age of the last trade of each store write (now minus its trade time) when the write committed.',
    labels: ['stage', 'store'],
    stages: ['sink'],
    buckets: FRESHNESS_BUCKETS,
  },
] as const satisfies readonly MetricDefinition[];

export type MetricName = (typeof METRICS)[number]['name'];

/** The README table of metrics (finpipe's own; the default process metrics are listed after it). */
export function metricsMarkdownTable(): string {
  const rows = METRICS.map(
    (m: MetricDefinition) =>
      `| \`${m.name}\` | ${m.type} | ${m.labels.map((l) => `\`${l}\``).join(', ')} | ${m.stages.join(', ')} | ${m.help} |`,
  );
  return ['| metric | type | labels | stages | meaning |', '|---|---|---|---|---|', ...rows].join('\n');
}
