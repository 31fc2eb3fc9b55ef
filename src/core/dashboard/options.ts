import type { Config } from '../config';
import type { Logger } from '../log';

/** `finpipe dashboard`'s defaults; the command's --help shows these same values. */
export const DASHBOARD_DEFAULTS = {
  port: 8080,
  host: '127.0.0.1',
  /** Topics the live feed reads (anchored regex); the raw, dead-letter, late and state topics are always left out. */
  pattern: '.*',
  /** How often the pipeline health (what `finpipe status` shows) is collected. */
  statusIntervalMs: 5_000,
  /** How often the topic list is read for new per-symbol topics. */
  topicPollMs: 3_000,
};

/** Hard bounds of the API and of each browser's pending updates. */
export const DASHBOARD_LIMITS = {
  /** Candles one /api/candles answer holds at most (a larger limit is capped). */
  maxCandles: 10_000,
  /** Trades one /api/trades answer holds at most. */
  maxTrades: 1_000,
  /** Per client: candles waiting to be sent (one per window start; the oldest go first). */
  pendingCandles: 500,
  /** Per client: trades waiting to be sent (the oldest are dropped). */
  pendingTrades: 200,
  /** A client's socket is sent to only while less than this is buffered. */
  maxBufferedBytes: 256 * 1024,
  /** How often pending updates are flushed. */
  flushIntervalMs: 50,
};

export interface DashboardOptions {
  config: Config;
  logger: Logger;
  host: string;
  /** 0 = any free port. */
  port: number;
  /** Required for a non-loopback host; checked on the API and the websocket. */
  authToken?: string;
  pattern: string;
  statusIntervalMs: number;
  topicPollMs: number;
  /** Called once the server listens, with its URL (no token in it). */
  onListening?: (url: string) => void;
}

export function isLoopback(host: string): boolean {
  return ['127.0.0.1', 'localhost', '::1'].includes(host) || host.startsWith('127.');
}
