/**
 * Frames in, Kafka messages out: validation, grouping and dead letters for every source.
 *
 * The raw topic's record layout (readable unchanged by Spark jobs using from_avro with trades.avsc):
 *   key     the symbol, UTF-8 (`BINANCE:BTCUSDT`): one partition per symbol keeps order
 *   value   plain Avro binary of FinnhubProducer.message (src/core/serde/schemas/trades.avsc)
 *           {"data": [{"c","p","s","t","v"}, ...], "type": "trade"}
 *           holding the trades of ONE frame for ONE symbol, in arrival order; a frame with
 *           three symbols becomes three messages. A message that would be larger than
 *           LIMITS.recordMaxBytes is split into consecutive messages with the same key
 *           (raw-records.ts), so the symbol's order is kept
 *   headers none; timestamp = when finpipe produced it (trade time is `t` inside)
 *
 * Invalid input goes to the dead-letter topic with the raw bytes as value and the reason
 * in `finpipe.dlq.reason` (see kafka/dead-letter.ts, which also cuts what is too large);
 * the valid trades of the same frame are still written. A well-formed trade that breaks a
 * limit (sources/trade-limits.ts) is dead-lettered on its own: the trade's JSON and its
 * reason.
 */
import type { RawTrade } from '../serde';
import { PLAIN_VALUES, type ValueWriter } from '../serde/registry';
import { deadLetterMessage } from '../kafka/dead-letter';
import { LIMITS } from '../limits';
import type { Logger } from '../log';
import { groupBySymbol, parseFrame, type RefusedTrade } from '../sources/frames';
import type { TradeLimits } from '../sources/trade-limits';
import type { FrameSink } from '../sources/types';
import type { BatchingProducer } from './batching-producer';
import { encodeRawRecords } from './raw-records';

export interface PipelineCounters {
  frames: number;
  /** Valid trades received (queued for Kafka). */
  trades: number;
  /** Raw-topic messages queued. */
  messages: number;
  /** Frames or requests (partly) rejected and dead-lettered. */
  deadLetters: number;
  /** Individual trades rejected (malformed, or breaking a limit). */
  invalidTrades: number;
  pings: number;
  errorFrames: number;
}

/** Logs at most `burst` warnings per `intervalMs`, then one line saying how many were suppressed. */
export class WarnLimiter {
  private windowStart = 0;
  private count = 0;
  private suppressed = 0;
  constructor(
    private readonly logger: Logger,
    private readonly burst = 5,
    private readonly intervalMs = 10_000,
    private readonly now = () => Date.now(),
  ) {}

  warn(fields: Record<string, unknown>, message: string, level: 'warn' | 'error' = 'warn'): void {
    const now = this.now();
    if (now - this.windowStart >= this.intervalMs) {
      this.flush();
      this.windowStart = now;
      this.count = 0;
    }
    if (this.count++ < this.burst) this.logger[level](fields, message);
    else this.suppressed++;
  }

  /** Reports suppressed warnings, if any. */
  flush(): void {
    if (this.suppressed > 0)
      this.logger.warn(
        { suppressed: this.suppressed },
        `${this.suppressed} similar warnings suppressed in the last ${Math.round(this.intervalMs / 1000)} s`,
      );
    this.suppressed = 0;
  }
}

export class TradePipeline implements FrameSink {
  readonly counters: PipelineCounters = { frames: 0, trades: 0, messages: 0, deadLetters: 0, invalidTrades: 0, pings: 0, errorFrames: 0 };
  private readonly encode = (data: RawTrade[]): Buffer => this.values.encode(this.topics.raw, 'raw', { data, type: 'trade' });
  private readonly warnings: WarnLimiter;
  private readonly errors: WarnLimiter;

  constructor(
    private readonly out: BatchingProducer,
    private readonly topics: { raw: string; deadLetter: string },
    private readonly logger: Logger,
    readonly limits: TradeLimits,
    private readonly values: ValueWriter = PLAIN_VALUES.writer,
  ) {
    this.warnings = new WarnLimiter(logger);
    this.errors = new WarnLimiter(logger, 5, 60_000);
  }

  frame(data: Buffer, binary: boolean, origin: string): void | Promise<void> {
    this.counters.frames++;
    const parsed = parseFrame(data, binary, this.limits);
    switch (parsed.kind) {
      case 'ping':
        this.counters.pings++;
        return undefined;
      case 'error':
        this.counters.errorFrames++;
        this.errors.warn(
          { source: origin, finnhubError: parsed.message },
          /too many symbols/i.test(parsed.message)
            ? `Finnhub error: "${parsed.message}" (this connection asked for more symbols than the key's plan allows; lower the symbol count or --symbol-limit)`
            : `Finnhub error: "${parsed.message}"`,
          'error',
        );
        return undefined;
      case 'invalid':
        this.counters.invalidTrades += countTrades(parsed.problems);
        this.queueDeadLetter(data, parsed.problems.join('; '), origin);
        return this.out.waitForSpace();
      case 'trade':
        this.write(parsed.trades);
        if (parsed.problems.length > 0) {
          this.counters.invalidTrades += countTrades(parsed.problems);
          this.queueDeadLetter(data, parsed.problems.join('; '), origin);
        }
        this.refuse(parsed.refused, origin);
        return this.out.waitForSpace();
    }
  }

  /** Trades the source validated (HTTP); resolves once Kafka acknowledged them. */
  trades(trades: RawTrade[]): Promise<void> {
    return this.whenRoom(() => this.write(trades));
  }

  /** Input the source refused (HTTP); resolves once Kafka acknowledged the dead letter. */
  deadLetter(value: Buffer, reason: string, origin: string): Promise<void> {
    return this.whenRoom(() => this.queueDeadLetter(value, reason, origin));
  }

  /** Reports suppressed warnings; call at the end. */
  close(): void {
    this.warnings.flush();
    this.errors.flush();
  }

  /** Queues at once when the buffer has room (else once it has), then waits for Kafka's acknowledgement. */
  private async whenRoom(queue: () => void): Promise<void> {
    const space = this.out.waitForSpace();
    if (space) await space;
    queue();
    await this.out.whenAcked();
  }

  private write(trades: RawTrade[]): void {
    this.counters.trades += trades.length;
    for (const [symbol, data] of groupBySymbol(trades)) {
      for (const record of encodeRawRecords(data, LIMITS.recordMaxBytes, this.encode)) {
        this.counters.messages++;
        this.out.add(this.topics.raw, { key: symbol, value: record.value }, record.trades);
      }
    }
  }

  /** Each well-formed trade that breaks a limit: its own dead letter, the trade as received. */
  private refuse(refused: RefusedTrade[], origin: string): void {
    for (const { item, reason } of refused) {
      this.counters.invalidTrades++;
      this.queueDeadLetter(Buffer.from(JSON.stringify(item)), reason, origin);
    }
  }

  private queueDeadLetter(value: Buffer, reason: string, origin: string): void {
    this.counters.deadLetters++;
    this.warnings.warn(
      { source: origin, reason: reason.slice(0, 2000), bytes: value.length },
      `dead-lettered invalid input from ${origin}: ${reason.length > 300 ? `${reason.slice(0, 300)}...` : reason}`,
    );
    this.out.add(this.topics.deadLetter, deadLetterMessage({ stage: 'produce', reason, source: origin, value }), 0);
  }
}

/** How many distinct trades (`data[3].p`, `data[3].v` -> one) the reasons are about. */
function countTrades(problems: string[]): number {
  const indices = new Set<string>();
  for (const p of problems) {
    const m = /^[a-z]*\[(\d+)\]/.exec(p);
    if (m) indices.add(m[1]);
  }
  return indices.size;
}
