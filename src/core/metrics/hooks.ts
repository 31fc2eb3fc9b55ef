/**
 * The few observations a snapshot cannot give (timings, dead letters by reason): the stages
 * call these where the thing happens. They are no-ops until a metrics server is started
 * (registry.ts installs the real ones), so a stage without --metrics-port pays one empty
 * function call per batch. This file imports nothing, so any module may call it.
 */
export interface MetricHooks {
  /** A Kafka batch was acknowledged: its send-to-ack time and its message count. */
  kafkaProduced(seconds: number, messages: number): void;
  /** A Kafka transaction committed: its duration and the raw records it consumed. */
  transactionCommitted(seconds: number, records: number): void;
  /** A store write committed: its duration, records, and the last run of records added (for the freshness of its last trade). */
  storeWritten(seconds: number, records: number, lastRun: RecordRun | undefined): void;
  /** A store write failed and will be retried. */
  storeRetried(): void;
  /** A dead letter was made, with its human-readable reason (classified, never used as a label). */
  deadLettered(stage: string, reason: string): void;
}

/** A per-symbol record as the sink read it (kafkajs' KafkaMessage fits). */
export interface NewestRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, Buffer | string | (Buffer | string)[] | undefined>;
}

/** messages[from, to): records of one partition added to a write, as the sink's consumer fetched them. */
export interface RecordRun {
  messages: readonly NewestRecord[];
  from: number;
  to: number;
}

const noop = (): void => {};

export const metricHooks: MetricHooks = {
  kafkaProduced: noop,
  transactionCommitted: noop,
  storeWritten: noop,
  storeRetried: noop,
  deadLettered: noop,
};

/** Installs real hooks (or the no-ops again, with `undefined`). */
export function setMetricHooks(hooks: MetricHooks | undefined): void {
  Object.assign(
    metricHooks,
    hooks ?? { kafkaProduced: noop, transactionCommitted: noop, storeWritten: noop, storeRetried: noop, deadLettered: noop },
  );
}

export const DEAD_LETTER_REASONS = ['binary', 'limit', 'symbol', 'malformed', 'store_refused', 'other'] as const;
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number];

/**
 * A dead letter's reason class, for a label: reasons are free text (they quote the bad
 * value), so they are sorted into a closed list instead. The patterns follow the messages
 * of sources/frames.ts, sources/trade-limits.ts, process/transform.ts and the stores.
 */
export function deadLetterReasonClass(stage: string, reason: string): DeadLetterReason {
  if (/binary frame/i.test(reason)) return 'binary';
  if (/too (large|long|many|far)|more than|exceeds|at most|ahead of|in the future|stores (can )?hold|limit/i.test(reason)) return 'limit';
  if (/symbol/i.test(reason)) return 'symbol';
  if (stage === 'sink' && !/decode|avro|schema|tombstone|no value/i.test(reason)) return 'store_refused';
  if (/json|avro|decode|parse|schema|tombstone|no value|must be|missing|not a|invalid|malformed|expected/i.test(reason)) return 'malformed';
  return 'other';
}
