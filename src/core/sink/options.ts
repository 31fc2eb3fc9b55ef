import type { Config } from '../config';
import type { Logger } from '../log';

/** Every default of `finpipe sink`, for the command line and for code that builds a Sink. */
export const SINK_DEFAULTS = {
  /** A name registered in src/core/stores/index.ts. */
  store: 'mysql',
  groupId: 'finpipe-sink',
  batchRows: 5_000,
  flushMs: 1_000,
  writers: 2,
  chunkRows: 5_000,
  shutdownGraceMs: 15_000,
  topicPollMs: 2_000,
  patternPollMs: 10_000,
  sessionTimeoutMs: 10_000,
};

export interface SinkOptions {
  config: Config;
  logger: Logger;
  /** Topics named explicitly. */
  topics: string[];
  /** Also every existing topic whose whole name matches this (internal and finpipe's own topics excluded). */
  pattern?: RegExp;
  store?: string;
  groupId?: string;
  /** Flush when this many records are buffered. */
  batchRows?: number;
  /** ...or when the oldest buffered record is this old. */
  flushMs?: number;
  /** Rows per INSERT statement. */
  chunkRows?: number;
  /**
   * Writes in flight at once, each on its own connection. MySQL runs one statement per
   * connection on one core; two connections let it use two, while offsets are still
   * committed strictly in order (see flusher.ts).
   */
  writers?: number;
  /** How long to keep retrying an unreachable store after a shutdown signal before giving up (the rows are re-read on restart). */
  shutdownGraceMs?: number;
  /** How often to look for topics that do not exist yet. */
  topicPollMs?: number;
  /** With `pattern`: how often to look for matching topics created since. */
  patternPollMs?: number;
  /**
   * Consumer session timeout. After a crash (kill -9) the group waits this long for the dead
   * member before giving its partitions to a restarted sink, so it is shorter than kafkajs'
   * 30 s default; the broker's group.min.session.timeout.ms (6 s by default) is the floor.
   */
  sessionTimeoutMs?: number;
}

export type ResolvedSinkOptions = SinkOptions & typeof SINK_DEFAULTS;

/** The options with every field left out (or undefined) taken from SINK_DEFAULTS. */
export function withSinkDefaults(options: SinkOptions): ResolvedSinkOptions {
  const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
  return { ...SINK_DEFAULTS, ...given } as ResolvedSinkOptions;
}
