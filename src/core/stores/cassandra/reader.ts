import type cassandra from 'cassandra-driver';
import type { CassandraConfig } from '../../config';
import { FinpipeError } from '../../errors';
import { redactText } from '../../redact';
import type { CandleRow, LatestCandle, StoreContext, StoreHealth, StoreReader, SymbolSummary, TradeRow } from '../types';
import { connectOnce, describeCassandraError, releaseVersion, shutdownClient } from './client';
import { qualified, TABLES, TRADES_WINDOW } from './schema';
import { dayNumber, dayOf } from './statements';

const DAY_MS = 86_400_000;
/** A bigint column (the driver's Long) or a count as a number. */
const num = (v: unknown): number =>
  v === null || v === undefined ? 0 : typeof v === 'number' ? v : (v as cassandra.types.Long).toNumber();
const ms = (v: unknown): number => (v as Date).getTime();
/** As MySQL prints a DATETIME(3): `YYYY-MM-DD HH:MM:SS.mmm`, UTC. */
const datetimeText = (t: number): string => new Date(t).toISOString().replace('T', ' ').replace('Z', '');

/**
 * Reads what the sink wrote. Cassandra answers only queries that name a partition, so every
 * read starts from symbol_partitions (which symbols, window sizes and days exist) and then
 * reads those partitions, newest day first where only the newest rows are wanted. Nothing is
 * created: before the sink made the tables, every read finds nothing.
 */
export class CassandraReader implements StoreReader {
  private readonly config: CassandraConfig;
  private client: cassandra.Client | null = null;
  private tablesReady = false;

  constructor({ config }: StoreContext) {
    this.config = config.cassandra;
  }

  async open(): Promise<void> {
    try {
      this.client ??= await connectOnce(this.config, { connectTimeoutMs: 3_000 });
    } catch (error) {
      if (error instanceof FinpipeError && error.code === 'CASSANDRA_UNAVAILABLE') {
        throw new FinpipeError(error.code, error.message, {
          cause: error,
          hint: 'start Cassandra (from a checkout: `npm run services:up -- cassandra`) or set FINPIPE_CASSANDRA_CONTACT_POINTS',
        });
      }
      throw error;
    }
  }

  async health(): Promise<StoreHealth> {
    const { host, port, keyspace } = this.config;
    try {
      await this.open();
      return { reachable: true, host, port, database: keyspace, version: await releaseVersion(this.client!) };
    } catch (error) {
      return { reachable: false, host, port, database: keyspace, error: redactText(describeCassandraError(error)) };
    }
  }

  async symbols(): Promise<string[]> {
    if (!(await this.ready())) return [];
    const rows = await this.query(`SELECT DISTINCT symbol FROM ${this.table(TABLES.partitions)}`);
    return rows.map((r) => String(r.symbol)).sort();
  }

  async windowSizes(symbol: string): Promise<number[]> {
    const windows = new Set((await this.partitions(symbol)).map((p) => p.windowMs).filter((w) => w !== TRADES_WINDOW));
    return [...windows].sort((a, b) => a - b);
  }

  async symbolSummaries(): Promise<SymbolSummary[]> {
    const out: SymbolSummary[] = [];
    for (const symbol of await this.symbols()) {
      const parts = await this.partitions(symbol);
      let trades = 0;
      for (const p of parts.filter((q) => q.windowMs === TRADES_WINDOW)) trades += await this.countTrades(symbol, p.day, 0);
      const [newest] = await this.latestTrades(symbol, 1);
      const latest = await this.latestCandles([symbol]);
      const lastCandle = Math.max(-Infinity, ...latest.map((c) => Date.parse(`${c.window_start.replace(' ', 'T')}Z`) + c.window_ms));
      out.push({
        symbol,
        trades,
        lastTrade: newest ? new Date(newest.trade_timestamp).toISOString() : null,
        lastCandle: Number.isFinite(lastCandle) ? new Date(lastCandle).toISOString() : null,
      });
    }
    return out;
  }

  async rowCounts(symbols: string[], sinceMs: number): Promise<{ trades: number; candles: number }> {
    if (!(await this.ready())) throw new FinpipeError('CASSANDRA_ERROR', `the tables of keyspace ${this.config.keyspace} do not exist yet`);
    let trades = 0;
    let candles = 0;
    for (const symbol of symbols) {
      for (const p of await this.partitions(symbol)) {
        if (p.windowMs === TRADES_WINDOW) {
          if (p.day >= dayNumber(sinceMs)) trades += await this.countTrades(symbol, p.day, sinceMs);
        } else if (p.day >= dayNumber(sinceMs - p.windowMs)) {
          // window_end > since, i.e. window_start > since - window size
          const rows = await this.query(
            `SELECT COUNT(*) AS n FROM ${this.table(TABLES.candles)} WHERE symbol = ? AND window_ms = ? AND day = ? AND window_start > ?`,
            [symbol, p.windowMs, dayOf(p.day * DAY_MS), sinceMs - p.windowMs],
          );
          candles += num(rows[0]?.n);
        }
      }
    }
    return { trades, candles };
  }

  async newestTradeAgeMs(symbols: string[], sinceMs: number): Promise<number | null> {
    let newest: number | null = null;
    for (const symbol of symbols) {
      const [t] = await this.latestTrades(symbol, 1);
      if (t && t.trade_timestamp >= sinceMs && (newest === null || t.trade_timestamp > newest)) newest = t.trade_timestamp;
    }
    return newest === null ? null : Date.now() - newest;
  }

  async latestCandles(symbols: string[]): Promise<LatestCandle[]> {
    const out: LatestCandle[] = [];
    for (const symbol of [...symbols].sort()) {
      for (const windowMs of await this.windowSizes(symbol)) {
        const [c] = await this.candles(symbol, windowMs, { fromMs: 0, toMs: Number.MAX_SAFE_INTEGER, limit: 1 });
        if (!c) continue;
        const { window_end: _end, vwap: _vwap, ...rest } = c;
        out.push({ ...rest, symbol, window_ms: windowMs, window_start: datetimeText(c.window_start), is_final: c.is_final ? 1 : 0 });
      }
    }
    return out;
  }

  async candles(symbol: string, windowMs: number, range: { fromMs: number; toMs: number; limit: number }): Promise<CandleRow[]> {
    const days = (await this.partitions(symbol))
      .filter((p) => p.windowMs === windowMs && p.day >= dayNumber(range.fromMs) && p.day <= dayNumber(range.toMs))
      .map((p) => p.day)
      .sort((a, b) => b - a);
    const out: CandleRow[] = [];
    for (const day of days) {
      if (out.length >= range.limit) break;
      const rows = await this.query(
        `SELECT window_start, window_end, open, high, low, close, volume, vwap, trade_count, is_final FROM ${this.table(TABLES.candles)} ` +
          'WHERE symbol = ? AND window_ms = ? AND day = ? AND window_start >= ? AND window_start < ? ORDER BY window_start DESC LIMIT ?',
        [symbol, windowMs, dayOf(day * DAY_MS), range.fromMs, Math.min(range.toMs, 8.64e15), range.limit - out.length],
      );
      for (const r of rows) {
        out.push({
          window_start: ms(r.window_start),
          window_end: ms(r.window_end),
          open: r.open as number,
          high: r.high as number,
          low: r.low as number,
          close: r.close as number,
          volume: r.volume as number,
          vwap: r.vwap === null ? null : (r.vwap as number),
          trade_count: num(r.trade_count),
          is_final: Boolean(r.is_final),
        });
      }
    }
    return out.reverse();
  }

  async latestTrades(symbol: string, limit: number): Promise<TradeRow[]> {
    const days = (await this.partitions(symbol))
      .filter((p) => p.windowMs === TRADES_WINDOW)
      .map((p) => p.day)
      .sort((a, b) => b - a);
    const out: TradeRow[] = [];
    for (const day of days) {
      if (out.length >= limit) break;
      const rows = await this.query(
        `SELECT id, price, volume, trade_timestamp FROM ${this.table(TABLES.trades)} WHERE symbol = ? AND day = ? ` +
          'ORDER BY trade_timestamp DESC, id DESC LIMIT ?',
        [symbol, dayOf(day * DAY_MS), limit - out.length],
      );
      for (const r of rows)
        out.push({ id: String(r.id), price: r.price as number, volume: r.volume as number, trade_timestamp: ms(r.trade_timestamp) });
    }
    return out;
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = null;
    await shutdownClient(client);
  }

  private table(name: string): string {
    return qualified(this.config.keyspace, name);
  }

  /** Whether the sink has created the tables (remembered once true). */
  private async ready(): Promise<boolean> {
    if (this.tablesReady) return true;
    const rows = await this.query('SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?', [this.config.keyspace]);
    const names = new Set(rows.map((r) => String(r.table_name)));
    this.tablesReady = [TABLES.trades, TABLES.candles, TABLES.partitions].every((t) => names.has(t));
    return this.tablesReady;
  }

  private async partitions(symbol: string): Promise<{ windowMs: number; day: number }[]> {
    if (!(await this.ready())) return [];
    const rows = await this.query(`SELECT window_ms, day FROM ${this.table(TABLES.partitions)} WHERE symbol = ?`, [symbol]);
    return rows.map((r) => ({ windowMs: num(r.window_ms), day: dayNumber(Date.parse(`${String(r.day)}T00:00:00Z`)) }));
  }

  private async countTrades(symbol: string, day: number, sinceMs: number): Promise<number> {
    const rows = await this.query(
      `SELECT COUNT(*) AS n FROM ${this.table(TABLES.trades)} WHERE symbol = ? AND day = ? AND trade_timestamp >= ?`,
      [symbol, dayOf(day * DAY_MS), sinceMs],
    );
    return num(rows[0]?.n);
  }

  private async query(cql: string, params?: unknown[]): Promise<cassandra.types.Row[]> {
    await this.open();
    // Paged through: a count over a busy day reads many rows, and one page must not time out.
    const rows: cassandra.types.Row[] = [];
    let pageState: string | undefined;
    do {
      const rs = await this.client!.execute(cql, params, { prepare: true, fetchSize: 5_000, pageState });
      rows.push(...rs.rows);
      pageState = rs.pageState ?? undefined;
    } while (pageState);
    return rows;
  }
}
