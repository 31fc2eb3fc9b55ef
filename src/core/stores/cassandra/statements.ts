import cassandra from 'cassandra-driver';
import type { Candle, Trade } from '../../serde';
import { CANDLE_COLUMNS, qualified, TABLES, TRADE_COLUMNS, TRADES_WINDOW } from './schema';

/**
 * The writes of one batch as Cassandra statements, grouped by partition: every group goes
 * out as one UNLOGGED batch, which Cassandra applies as a single mutation of that one
 * partition (unlogged batches across partitions only add coordinator work, so there are none).
 */

const DAY_MS = 86_400_000;
const dayCache = new Map<number, cassandra.types.LocalDate>();

/** The UTC day of a time, as Cassandra's date type (cached: a batch has few distinct days). */
export function dayOf(ms: number): cassandra.types.LocalDate {
  const n = Math.floor(ms / DAY_MS);
  let day = dayCache.get(n);
  if (!day) {
    const d = new Date(n * DAY_MS);
    day = new cassandra.types.LocalDate(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate());
    if (dayCache.size > 10_000) dayCache.clear();
    dayCache.set(n, day);
  }
  return day;
}

export function dayNumber(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

export interface Cql {
  trade: string;
  candle: string;
  partition: string;
}

export function cql(keyspace: string): Cql {
  const marks = (n: number) => Array.from({ length: n }, () => '?').join(', ');
  return {
    trade: `INSERT INTO ${qualified(keyspace, TABLES.trades)} (${TRADE_COLUMNS.join(', ')}) VALUES (${marks(TRADE_COLUMNS.length)})`,
    // The candle's version is the write timestamp: Cassandra keeps, cell by cell, the value
    // with the highest timestamp, so an older version written later changes nothing.
    candle:
      `INSERT INTO ${qualified(keyspace, TABLES.candles)} (${CANDLE_COLUMNS.join(', ')}) ` +
      `VALUES (${marks(CANDLE_COLUMNS.length)}) USING TIMESTAMP ?`,
    partition: `INSERT INTO ${qualified(keyspace, TABLES.partitions)} (symbol, window_ms, day) VALUES (?, ?, ?)`,
  };
}

/** In TRADE_COLUMNS order. */
export function tradeParams(t: Trade): unknown[] {
  return [t.symbol, dayOf(t.trade_timestamp), t.trade_timestamp, t.id, t.price, t.volume, t.ingest_timestamp, t.trade_conditions];
}

/** In CANDLE_COLUMNS order, then the write timestamp. */
export function candleParams(c: Candle): unknown[] {
  return [
    c.symbol,
    c.window_ms,
    dayOf(c.window_start),
    c.window_start,
    c.window_end,
    c.open,
    c.high,
    c.low,
    c.close,
    c.volume,
    c.vwap,
    c.trade_count,
    c.avg_price,
    c.is_final,
    c.version,
    c.version,
  ];
}

/** One unlogged batch (or a single statement): rows of one partition, with their refs. */
export interface PartitionWrite<R> {
  queries: { query: string; params: unknown[] }[];
  /** The source record of each query; null for the symbol_partitions rows, which have none. */
  refs: (R | null)[];
}

/**
 * Cassandra warns about batches over 5 KiB (batch_size_warn_threshold) and refuses them over
 * 50 KiB; this keeps them under the warning, estimated from the variable-length fields.
 */
export const BATCH_BYTES = 4_500;
const TRADE_FIXED_BYTES = 80;
const CANDLE_BYTES = 160;

function tradeBytes(t: Trade): number {
  let n = TRADE_FIXED_BYTES + t.id.length + t.symbol.length;
  for (const c of t.trade_conditions) n += c.length + 4;
  return n;
}

/** Splits rows grouped by partition into batches of at most BATCH_BYTES. */
function chunk<T, R>(
  groups: Map<string, { item: T; ref: R | null }[]>,
  query: string,
  params: (item: T) => unknown[],
  bytes: (item: T) => number,
  out: PartitionWrite<R>[],
): void {
  for (const rows of groups.values()) {
    let current: PartitionWrite<R> = { queries: [], refs: [] };
    let size = 0;
    for (const { item, ref } of rows) {
      const b = bytes(item);
      if (current.queries.length > 0 && size + b > BATCH_BYTES) {
        out.push(current);
        current = { queries: [], refs: [] };
        size = 0;
      }
      current.queries.push({ query, params: params(item) });
      current.refs.push(ref);
      size += b;
    }
    if (current.queries.length > 0) out.push(current);
  }
}

function groupBy<T, R>(items: { item: T; ref: R }[], key: (item: T) => string): Map<string, { item: T; ref: R }[]> {
  const groups = new Map<string, { item: T; ref: R }[]>();
  for (const entry of items) {
    const k = key(entry.item);
    let group = groups.get(k);
    if (!group) groups.set(k, (group = []));
    group.push(entry);
  }
  return groups;
}

/**
 * Every write of a batch: trades and candles per partition, plus one batch per symbol
 * recording which partitions exist (symbol_partitions is partitioned by symbol).
 */
export function partitionWrites<R>(
  statements: Cql,
  trades: { trade: Trade; ref: R }[],
  candles: { candle: Candle; ref: R }[],
): PartitionWrite<R>[] {
  const out: PartitionWrite<R>[] = [];
  const tradeItems = trades.map(({ trade, ref }) => ({ item: trade, ref }));
  const candleItems = candles.map(({ candle, ref }) => ({ item: candle, ref }));
  chunk(
    groupBy(tradeItems, (t) => `${t.symbol}\u0000${dayNumber(t.trade_timestamp)}`),
    statements.trade,
    tradeParams,
    tradeBytes,
    out,
  );
  chunk(
    groupBy(candleItems, (c) => `${c.symbol}\u0000${c.window_ms}\u0000${dayNumber(c.window_start)}`),
    statements.candle,
    candleParams,
    () => CANDLE_BYTES,
    out,
  );
  const seen = new Map<string, { symbol: string; windowMs: number; day: number }>();
  for (const { item: t } of tradeItems) {
    const day = dayNumber(t.trade_timestamp);
    seen.set(`${t.symbol}\u0000${TRADES_WINDOW}\u0000${day}`, { symbol: t.symbol, windowMs: TRADES_WINDOW, day });
  }
  for (const { item: c } of candleItems) {
    const day = dayNumber(c.window_start);
    seen.set(`${c.symbol}\u0000${c.window_ms}\u0000${day}`, { symbol: c.symbol, windowMs: c.window_ms, day });
  }
  const entries = [...seen.values()].map((p) => ({ item: p, ref: null }));
  chunk(
    groupBy(entries, (p) => p.symbol),
    statements.partition,
    (p) => [p.symbol, p.windowMs, dayOf(p.day * DAY_MS)],
    (p) => 40 + p.symbol.length,
    out,
  );
  return out;
}
