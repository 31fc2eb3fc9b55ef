import { FinpipeError } from '../errors';

/**
 * kafkajs errors become finpipe's here, at the Kafka adapter's edge, once. Callers decide
 * on FinpipeError codes and flags (see retry.ts), never on kafkajs error names or messages.
 */

interface KafkaJsErrorLike {
  name?: string;
  type?: string;
  code?: number;
  message?: string;
  retriable?: boolean;
  cause?: unknown;
  originalError?: unknown;
}

/** The error and the errors it wraps (kafkajs nests them as `cause` or `originalError`). */
function errorChain(error: unknown): KafkaJsErrorLike[] {
  const chain: KafkaJsErrorLike[] = [];
  let e = error as KafkaJsErrorLike | undefined;
  for (let i = 0; e && typeof e === 'object' && i < 5; i++) {
    chain.push(e);
    e = (e.cause ?? e.originalError) as KafkaJsErrorLike | undefined;
  }
  return chain;
}

/** Another producer with our transactional id took over (the partition moved to another instance). */
export function isFenced(error: unknown): boolean {
  return errorChain(error).some(
    (e) => e.type === 'INVALID_PRODUCER_EPOCH' || e.type === 'PRODUCER_FENCED' || e.code === 47 || e.code === 90,
  );
}

/** The broker could not be reached or went away (as opposed to a broker answering with an error). */
export function isKafkaConnectionError(error: unknown): boolean {
  return errorChain(error).some((e) => /Connection|NumberOfRetriesExceeded|BrokerNotFound/.test(e.name ?? ''));
}

/** A clear, retriable FinpipeError for a broker that cannot be reached. */
export function kafkaUnavailable(error: unknown, brokers: string[]): FinpipeError {
  return new FinpipeError(
    'KAFKA_UNAVAILABLE',
    `cannot reach Kafka at ${brokers.join(',')}: ${(error as Error)?.message ?? String(error)}`,
    {
      cause: error,
      hint: 'start Kafka (from a checkout: `npm run services:up`) or set FINPIPE_KAFKA_BROKERS / --brokers',
    },
  );
}

/**
 * Any error from a Kafka call as a FinpipeError: ours pass through, connection failures
 * become KAFKA_UNAVAILABLE, anything else KAFKA_ERROR (retriable when kafkajs says so).
 */
export function toKafkaError(error: unknown, brokers: string[]): FinpipeError {
  if (error instanceof FinpipeError) return error;
  if (isKafkaConnectionError(error)) return kafkaUnavailable(error, brokers);
  const e = error as KafkaJsErrorLike | undefined;
  return new FinpipeError('KAFKA_ERROR', `Kafka: ${e?.message ?? String(error)}`, { cause: error, retriable: e?.retriable === true });
}

/**
 * kafkajs logs at error level much that is not an error for a finpipe user:
 *  - answers it retries itself and that are routine: a transaction started right after a
 *    commit gets CONCURRENT_TRANSACTIONS, a fresh broker's coordinator is loading, a group
 *    is rebalancing or its coordinator moved, a partition is electing a leader;
 *  - failures it also throws to the caller: a broker it cannot connect to, a consumer crash
 *    it restarts. finpipe reports those itself, once: the one-line error of a command, or a
 *    stage's own "waiting for Kafka" / "consumer failed" warning. Logged as kafkajs errors
 *    too, an unreachable broker printed 8 records with stacks before the one-line error.
 * The bridge logs both at debug level.
 */
const ROUTINE_RETRY = new RegExp(
  [
    'another concurrent operation on the same transaction',
    'coordinator is (?:loading|not available|not aware of this member)',
    'not the correct coordinator',
    'group is rebalancing',
    'not the leader for that topic-partition',
    'no leader for this topic-partition',
    'CONCURRENT_TRANSACTIONS|COORDINATOR_LOAD_IN_PROGRESS|COORDINATOR_NOT_AVAILABLE|NOT_COORDINATOR|REBALANCE_IN_PROGRESS',
  ].join('|'),
  'i',
);
const REPORTED_BY_CALLER = new RegExp(
  [
    '^Connection (?:error|timeout|closed)',
    '^Failed to connect to (?:seed )?broker',
    '^Failed to send messages: Connection',
    '^Crash: KafkaJS',
    '^Restarting the consumer in',
  ].join('|'),
  'i',
);

export function isRoutineRetry(message: string, extra: Record<string, unknown>): boolean {
  const error = typeof extra.error === 'string' ? extra.error : '';
  return ROUTINE_RETRY.test(message) || ROUTINE_RETRY.test(error) || REPORTED_BY_CALLER.test(message);
}
