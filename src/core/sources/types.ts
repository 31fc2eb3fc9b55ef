import type { RawTrade } from '../serde';

/**
 * The contract every trade source follows (websocket, file replay, HTTP):
 *
 *   run(sink, signal)   connects, reads and hands what arrives to `sink` until the input
 *                       ends (file: end of file) or `signal` aborts; then it stops reading
 *                       and resolves. Transient failures (a dropped websocket) are handled
 *                       inside (reconnect with backoff); run() rejects only on fatal ones
 *                       (token refused, file unreadable, port taken) or when the sink fails.
 *
 * Backpressure: when a sink method returns a promise, the buffer behind it is full and the
 * source must not hand over more until it resolves (the websocket pauses its socket, the
 * file stops reading, HTTP delays its answer). A rejected promise is fatal.
 */
export interface FrameSink {
  /** A raw Finnhub frame; `origin` names where it came from for dead letters (redacted URL, file:line). */
  frame(data: Buffer, binary: boolean, origin: string): void | Promise<void>;
  /** Trades already validated by the source (HTTP validates before answering). */
  trades(trades: RawTrade[], origin: string): void | Promise<void>;
  /** Input the source itself rejected, kept with its reason. */
  deadLetter(value: Buffer, reason: string, origin: string): void | Promise<void>;
}

export interface TradeSource {
  /** What it reads from, safe to print (no token). */
  readonly description: string;
  run(sink: FrameSink, signal: AbortSignal): Promise<void>;
  /** Successful reconnects so far (0 for sources that do not reconnect). */
  readonly reconnects: number;
}
