import { describeError } from '../../errors';
import type { Candle, Trade } from '../../serde';
import { decodeCandle, decodeTrade, recordKind, type SinkRow, type SourceMessage } from '../records';
import type { StoreBatch } from '../types';
import { appendTradeLine, LineBuffer } from './trade-lines';
import { tradeLine } from './sql';

/** One row to write, with an opaque reference back to its source record (for dead letters). */
export interface WriteItem<R> {
  row: SinkRow;
  ref: R;
}

/**
 * The rows of one database transaction, filled as records arrive (MysqlBatchWriter.write
 * takes one). Each row keeps an opaque reference back to its source record, for dead letters.
 *
 * With `lines` (the LOAD DATA fast path, see MysqlBatchWriter), trades are rendered into
 * LOAD DATA lines as they are added, straight from their Avro bytes (trade-lines.ts), so a
 * busy sink never builds a Trade object. If the batch then has to be written with INSERT
 * statements after all (a warning, a replay, LOAD DATA not allowed), trades() decodes them
 * again; that is the rare path. Without `lines`, trades are decoded when added.
 */
export class WriteBatch<R> implements StoreBatch<R> {
  /** LOAD DATA lines of every trade, in the order added (null: trades are kept as objects only). */
  readonly lines: LineBuffer | null;
  /** Per trade, its Avro bytes (lines mode) or the decoded trade. */
  private readonly tradeSources: (Buffer | Trade)[] = [];
  private readonly tradeRefs: R[] = [];
  readonly candles: { candle: Candle; ref: R }[] = [];

  constructor(lines: boolean) {
    this.lines = lines ? new LineBuffer() : null;
  }

  /** A batch of rows already decoded (tests, benchmarks, the INSERT path's callers). */
  static of<R>(items: WriteItem<R>[], lines = true): WriteBatch<R> {
    const batch = new WriteBatch<R>(lines);
    for (const { row, ref } of items) {
      if (row.kind === 'trade') batch.addTrade(row.trade, ref);
      else batch.addCandle(row.candle, ref);
    }
    return batch;
  }

  get tradeCount(): number {
    return this.tradeRefs.length;
  }

  get size(): number {
    return this.tradeRefs.length + this.candles.length;
  }

  add(record: SourceMessage, ref: R): void {
    if (recordKind(record) === 'trade') this.addTradeAvro(record.value!, ref);
    else this.addCandle(decodeCandle(record.value!), ref);
  }

  /** Adds a trade from its Avro bytes. Throws DECODE_FAILED (the dead-letter reason) when they are not a valid trade; nothing is added then. */
  addTradeAvro(value: Buffer, ref: R): void {
    if (this.lines) {
      // The fast transcoder, or for what it leaves alone the exact path (which throws for poison).
      if (!appendTradeLine(this.lines, value)) this.lines.appendText(tradeLine(decodeTrade(value)));
      this.tradeSources.push(value);
    } else {
      this.tradeSources.push(decodeTrade(value));
    }
    this.tradeRefs.push(ref);
  }

  /** Adds a decoded (and validated) trade. */
  addTrade(trade: Trade, ref: R): void {
    this.lines?.appendText(tradeLine(trade));
    this.tradeSources.push(trade);
    this.tradeRefs.push(ref);
  }

  addCandle(candle: Candle, ref: R): void {
    this.candles.push({ candle, ref });
  }

  /**
   * The trades as objects, for the INSERT path. Bytes that rendered as a line decode the
   * same way, so `failed` stays empty in practice; if not, those rows are dead-lettered
   * rather than stopping the sink.
   */
  trades(): { decoded: { trade: Trade; ref: R }[]; failed: { ref: R; reason: string }[] } {
    const decoded: { trade: Trade; ref: R }[] = [];
    const failed: { ref: R; reason: string }[] = [];
    for (let i = 0; i < this.tradeSources.length; i++) {
      const source = this.tradeSources[i];
      const ref = this.tradeRefs[i];
      if (!Buffer.isBuffer(source)) {
        decoded.push({ trade: source, ref });
        continue;
      }
      try {
        decoded.push({ trade: decodeTrade(source), ref });
      } catch (error) {
        failed.push({ ref, reason: describeError(error) });
      }
    }
    return { decoded, failed };
  }
}
