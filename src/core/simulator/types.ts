import type { Logger } from 'pino';

export interface SimulatorFaults {
  /** Close every client connection every N seconds (fractions allowed) with terminate(): the client sees an abrupt 1006 close. */
  dropEverySec?: number;
  /** Stop sending {"type":"ping"} heartbeats (Finnhub's free tier does this after hours). */
  noPing?: boolean;
  /**
   * 0..1 fraction of trade frames replaced by malformed ones (invalid JSON, missing or
   * mistyped fields, negative/NaN-ish numbers, unknown type, binary frame). The trades a
   * malformed frame replaces are never sent.
   */
  malformedFraction?: number;
  /**
   * Symbols that REST /search never returns although they stream and are listed by the
   * exchange endpoints (users report /search missing plain US tickers).
   */
  hiddenFromSearch?: string[];
}

export interface SimulatorOptions {
  host?: string;
  /** 0 = ephemeral. */
  port: number;
  /** Simulated symbols: REST lists them; subscriptions to other symbols are accepted but stay silent (like Finnhub). */
  symbols: string[];
  /** Target trades per second per connection across its subscriptions; 0 = as fast as the client reads. */
  rate: number;
  /** Same seed => same trade sequence per symbol. */
  seed: number;
  /** Accepted tokens; undefined = any non-empty token. */
  tokens?: string[];
  /** Subscriptions allowed per connection. */
  symbolLimit?: number;
  /** Heartbeat period. */
  pingIntervalMs?: number;
  /** Stop sending trades to a connection after N valid trades (benchmarks); pings continue. */
  maxTrades?: number;
  /** REST calls allowed per token per minute. */
  restLimitPerMinute?: number;
  faults?: SimulatorFaults;
  logger: Logger;
}

/** Every default of the simulator and of `finpipe simulate` (port, rate and seed are the command's). */
export const SIMULATOR_DEFAULTS = {
  host: '127.0.0.1',
  port: 8765,
  rate: 200,
  seed: 1,
  /** Finnhub's free tier. */
  symbolLimit: 50,
  pingIntervalMs: 5000,
  /** Finnhub's free tier: REST calls per key per minute. */
  restLimitPerMinute: 60,
} as const;

export interface SimulatorStats {
  /** Currently open websocket connections. */
  connections: number;
  /** Trades sent in valid trade frames. */
  tradesSent: number;
  /** Every websocket frame sent: trades, pings, errors, malformed. */
  framesSent: number;
  malformedSent: number;
  /** Connections terminated by the dropEverySec fault. */
  drops: number;
}

export interface RunningSimulator {
  /** ws://host:port — append ?token=... */
  url: string;
  /** http://host:port/api/v1 */
  restUrl: string;
  port: number;
  stats(): SimulatorStats;
  /** Closes every socket and the server; resolves when nothing is left running. Idempotent. */
  close(): Promise<void>;
}
