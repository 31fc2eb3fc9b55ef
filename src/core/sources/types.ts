import type { RawTrade } from '../serde';
import type { TradeLimits } from './trade-limits';

/**
 * The contract every trade source follows (websocket, file replay, HTTP):
 *
 *   run(sink, signal)   connects, reads and hands what arrives to `sink` until the input
 *                       ends (file: end of file) or `signal` aborts; then it stops reading
 *                       and resolves. Transient failures (a dropped websocket) are handled
 *                       inside (reconnect with backoff); run() rejects only on fatal ones
 *                       (token refused, file unreadable, port taken) or when the sink fails.
 *
 * Backpressure: when frame() returns a promise, the buffer behind it is full and the source
 * must not hand over more until it resolves (the websocket pauses its socket, the file stops
 * reading). trades() and deadLetter() always return one, resolved once Kafka acknowledged
 * what they were given: HTTP answers only then. A rejected promise is fatal.
 */
export interface FrameSink {
  /** A raw Finnhub frame; `origin` names where it came from for dead letters (redacted URL, file:line). */
  frame(data: Buffer, binary: boolean, origin: string): void | Promise<void>;
  /** Trades already validated by the source (HTTP validates before answering); resolves once acknowledged. */
  trades(trades: RawTrade[], origin: string): Promise<void>;
  /** Input the source itself rejected, kept with its reason; resolves once acknowledged. */
  deadLetter(value: Buffer, reason: string, origin: string): Promise<void>;
  /** The limits every trade is checked against (HTTP checks them before answering). */
  readonly limits: TradeLimits;
}

export interface TradeSource {
  /** What it reads from, safe to print (no token). */
  readonly description: string;
  run(sink: FrameSink, signal: AbortSignal): Promise<void>;
  /** Successful reconnects so far (0 for sources that do not reconnect). */
  readonly reconnects: number;
  /** Requests that failed on the client's side (aborted uploads, bad encoding): HTTP only. */
  readonly clientErrors?: number;
  /** Times the watchdog found no frame at all for its period and reconnected: websocket only. */
  readonly frameGaps?: number;
}
