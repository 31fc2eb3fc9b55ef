import type { Candle, Trade } from '../../serde';
import { decodeCandle, decodeTrade, recordKind, type SinkRow, type SourceMessage } from '../records';
import type { StoreBatch } from '../types';

/**
 * The rows of one write to Cassandra, decoded as records arrive (the store's work while the
 * previous batch is being written). Each row keeps an opaque reference back to its source
 * record, for dead letters.
 */
export class CassandraBatch<R> implements StoreBatch<R> {
  readonly trades: { trade: Trade; ref: R }[] = [];
  readonly candles: { candle: Candle; ref: R }[] = [];

  /** A batch of rows already decoded (tests, benchmarks). */
  static of<R>(items: { row: SinkRow; ref: R }[]): CassandraBatch<R> {
    const batch = new CassandraBatch<R>();
    for (const { row, ref } of items) {
      if (row.kind === 'trade') batch.trades.push({ trade: row.trade, ref });
      else batch.candles.push({ candle: row.candle, ref });
    }
    return batch;
  }

  get size(): number {
    return this.trades.length + this.candles.length;
  }

  /** Throws DECODE_FAILED (the dead-letter reason) when the record is not a valid trade or candle; nothing is added then. */
  add(record: SourceMessage, ref: R): void {
    if (recordKind(record) === 'trade') this.trades.push({ trade: decodeTrade(record.value!), ref });
    else this.candles.push({ candle: decodeCandle(record.value!), ref });
  }

  /** Each trade id once (the first seen): a re-read after a rebalance can bring one twice. */
  uniqueTrades(): { trade: Trade; ref: R }[] {
    const seen = new Set<string>();
    const out: { trade: Trade; ref: R }[] = [];
    for (const t of this.trades) {
      if (seen.has(t.trade.id)) continue;
      seen.add(t.trade.id);
      out.push(t);
    }
    return out;
  }

  /** The newest version of each candle window in the batch (the others would be overwritten anyway). */
  latestCandles(): { candle: Candle; ref: R }[] {
    const newest = new Map<string, { candle: Candle; ref: R }>();
    for (const c of this.candles) {
      const key = `${c.candle.symbol}\u0000${c.candle.window_ms}\u0000${c.candle.window_start}`;
      const seen = newest.get(key);
      if (!seen || seen.candle.version <= c.candle.version) newest.set(key, c);
    }
    return [...newest.values()];
  }
}
