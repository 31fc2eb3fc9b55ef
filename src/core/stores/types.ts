import type { Config } from '../config';
import type { Logger } from '../log';
import type { SourceMessage } from './records';

/**
 * What `finpipe sink` needs from a store (MySQL today), and what `finpipe status`, `finpipe
 * demo` and dashboards read back from it. Each store is a folder under src/core/stores with
 * one implementation of both, registered by name in ./index.ts.
 *
 * The write side, in the order the sink calls it (like Redpanda Connect's output contract):
 *
 *   ensureSchema(signal)  once, before anything is read from Kafka. Waits for the store with
 *                         backoff while it is unreachable, then creates or migrates what the
 *                         writes need. Resolves when ready; rejects with the store's
 *                         retriable "unavailable" error once `signal` aborts while waiting (the
 *                         sink then stops cleanly: nothing was read), or with a non-retriable
 *                         FinpipeError for a setup problem (privileges, a newer schema).
 *   newBatch()            whenever the sink starts a buffer. The sink adds every record it
 *                         takes from Kafka as it arrives, so a store can do its decoding and
 *                         rendering work while the previous batch is being written.
 *   write(batch)          when a flush is due and fewer than `maxInFlight` writes run. Writes
 *                         the whole batch atomically (one transaction: all rows or none) and
 *                         idempotently (a replay after a crash changes nothing), and resolves
 *                         only once it is durable: the sink commits the Kafka offsets after it.
 *                         Rejects with:
 *                           a retriable FinpipeError   the store is unreachable or a transient
 *                                                      conflict: the sink pauses consumption and
 *                                                      retries the SAME batch with backoff.
 *                           a non-retriable one        a setup problem or a bug: the sink stops
 *                                                      without committing the batch.
 *                         Rows the store refuses for their content are not errors: they are
 *                         returned in `rejected` with the reason (the sink dead-letters them)
 *                         and every other row of the batch is written.
 *   maxInFlight           how many write() calls may run at once (each on its own session).
 *                         Their results are committed to Kafka in batch order whatever order
 *                         they finish in.
 *   health()              any time; never throws.
 *   close()               once, after the last write has settled.
 */
export interface Store<R> {
  readonly maxInFlight: number;
  ensureSchema(signal: AbortSignal): Promise<void>;
  newBatch(): StoreBatch<R>;
  /** Only ever given batches this store's newBatch() made. */
  write(batch: StoreBatch<R>): Promise<WriteResult<R>>;
  health(): Promise<StoreHealth>;
  close(): Promise<void>;
}

/**
 * The rows of one write, each with an opaque reference back to the record it came from
 * (its source for dead letters, its raw bytes).
 */
export interface StoreBatch<R> {
  /** Rows added (records that failed to decode are not added). */
  readonly size: number;
  /**
   * Adds a record as read from a per-symbol topic (see records.ts). Throws a DECODE_FAILED
   * FinpipeError, whose message is the dead-letter reason, when the record is not a valid
   * trade or candle; nothing is added then.
   */
  add(record: SourceMessage, ref: R): void;
}

export interface WriteResult<R> {
  /** Trade rows sent (after removing duplicates within the batch). */
  trades: number;
  /** Trades that were new to the store (the rest were replays: no-ops). */
  tradesInserted: number;
  /** Candle rows sent (after keeping only the newest version per window within the batch). */
  candles: number;
  /** Rows the store refused, with its reason: they go to the dead-letter topic. */
  rejected: { ref: R; reason: string }[];
}

/** Where a store is and whether it answers, as `finpipe status` shows it. */
export interface StoreHealth {
  reachable: boolean;
  host: string;
  port: number;
  /** The database (a keyspace, for stores that call it that). */
  database: string;
  version?: string;
  /** Why it is unreachable, or what failed after connecting. */
  error?: string;
}

/** The read side, for status, the demo and dashboards. Times are ms since the epoch, UTC. */
export interface StoreReader {
  /**
   * Connects once, without retrying, so a command that needs the store fails at once with
   * a clear error. Throws the store's retriable "unavailable" FinpipeError, or a
   * non-retriable one for a setup problem (credentials).
   */
  open(): Promise<void>;
  /** Reachability and server version; never throws. */
  health(): Promise<StoreHealth>;
  /** Per symbol: trades stored, the last trade's time and the last candle's end (ISO 8601); empty before the sink created anything. */
  symbolSummaries(): Promise<SymbolSummary[]>;
  /** Rows of these symbols from `sinceMs` on (trade time, candle end). Throws until the sink has created its tables. */
  rowCounts(symbols: string[], sinceMs: number): Promise<{ trades: number; candles: number }>;
  /** How old the newest trade of these symbols from `sinceMs` on is, by the store's clock; null when there is none. */
  newestTradeAgeMs(symbols: string[], sinceMs: number): Promise<number | null>;
  /** The latest candle of each symbol and window size; empty before the sink created anything. */
  latestCandles(symbols: string[]): Promise<LatestCandle[]>;
  /** Every symbol with trades or candles, sorted; empty before the sink created anything. (Dashboard.) */
  symbols(): Promise<string[]>;
  /** The window sizes (ms) this symbol has candles for, ascending; empty when none. (Dashboard.) */
  windowSizes(symbol: string): Promise<number[]>;
  /**
   * The newest `limit` candles of one symbol and window size with `fromMs <= window_start < toMs`,
   * oldest first; empty before the sink created anything. (Dashboard.)
   */
  candles(symbol: string, windowMs: number, range: { fromMs: number; toMs: number; limit: number }): Promise<CandleRow[]>;
  /** The newest `limit` trades of one symbol, newest first; empty when none. (Dashboard.) */
  latestTrades(symbol: string, limit: number): Promise<TradeRow[]>;
  close(): Promise<void>;
}

/** One candle as the dashboard draws it: times in ms since the epoch. */
export interface CandleRow {
  window_start: number;
  window_end: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  vwap: number | null;
  trade_count: number;
  is_final: boolean;
}

/** One trade as the dashboard's tape shows it: time in ms since the epoch. */
export interface TradeRow {
  id: string;
  price: number;
  volume: number;
  trade_timestamp: number;
}

export interface SymbolSummary {
  symbol: string;
  trades: number;
  lastTrade: string | null;
  lastCandle: string | null;
}

export interface LatestCandle {
  symbol: string;
  window_ms: number;
  /** As the store prints it, UTC (MySQL: `YYYY-MM-DD HH:MM:SS.mmm`). */
  window_start: string;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  trade_count: number;
  is_final: number;
}

export interface StoreContext {
  config: Config;
  logger: Logger;
}

export interface StoreWriteOptions {
  /** Writes in flight at once: the store opens one session per write slot. */
  maxInFlight: number;
  /** Rows per statement, for stores that split a batch into statements. */
  chunkRows: number;
}

/** One store: what ./index.ts registers under its name. */
export interface StoreImplementation {
  /** How people call it in messages ("MySQL unavailable: paused"). */
  readonly label: string;
  openStore<R>(context: StoreContext, options: StoreWriteOptions): Store<R>;
  openReader(context: StoreContext): StoreReader;
}
