import type { Connection, QueryOptions, RowDataPacket } from 'mysql2/promise';
import type { MysqlConfig } from '../../config';
import { FinpipeError, describeError } from '../../errors';
import { redactText } from '../../redact';
import type { CandleRow, LatestCandle, StoreContext, StoreHealth, StoreReader, SymbolSummary, TradeRow } from '../types';
import { MysqlSession } from './connection';
import { quoteIdentifier } from './identifiers';
import { TABLES } from './schema';
import { datetimeText } from './sql';

/** The tables are missing (1146) or the whole database is (1049): the sink has not started yet. */
const NOT_CREATED_YET = new Set([1049, 1146]);

function notCreatedYet(error: unknown): boolean {
  return NOT_CREATED_YET.has((error as { errno?: number }).errno ?? 0);
}

/** DATETIME(3) read as a string in UTC ('2026-11-21 08:40:21.123') -> ISO 8601. */
function toIso(value: unknown): string {
  return `${String(value).replace(' ', 'T')}Z`;
}

/** DATETIME(3) read as a string in UTC -> ms since the epoch. */
function toMs(value: unknown): number {
  return Date.parse(toIso(value));
}

/** Runs a read that finds nothing (rather than failing) before the sink created its tables. */
async function orEmpty<T>(read: () => Promise<T[]>): Promise<T[]> {
  try {
    return await read();
  } catch (error) {
    if (notCreatedYet(error)) return [];
    throw error;
  }
}

/**
 * Reads what the sink wrote, on one session that never creates the database (so the table
 * names are qualified). Times are read as strings, exactly as stored, in UTC.
 */
export class MysqlReader implements StoreReader {
  private readonly config: MysqlConfig;
  private readonly session: MysqlSession;
  private readonly tradesTable: string;
  private readonly candlesTable: string;

  constructor({ config, logger }: StoreContext) {
    this.config = config.mysql;
    this.session = new MysqlSession(config.mysql, logger, { connectTimeoutMs: 3_000, createDatabase: false });
    const database = quoteIdentifier(config.mysql.database, 'database name');
    this.tradesTable = `${database}.${quoteIdentifier(TABLES.trades)}`;
    this.candlesTable = `${database}.${quoteIdentifier(TABLES.candles)}`;
  }

  async open(): Promise<void> {
    try {
      await this.session.connection();
    } catch (error) {
      // The session's own hint promises retries; a reader does not retry.
      if (error instanceof FinpipeError && error.code === 'MYSQL_UNAVAILABLE') {
        throw new FinpipeError(error.code, redactText(error.message), {
          cause: error,
          hint: 'start MySQL/MariaDB (from a checkout: `npm run services:up`) or set FINPIPE_MYSQL_URL',
        });
      }
      throw error;
    }
  }

  async health(): Promise<StoreHealth> {
    const { host, port, database } = this.config;
    try {
      const [[row]] = await this.query('SELECT VERSION() AS v');
      return { reachable: true, host, port, database, version: String(row.v) };
    } catch (error) {
      return { reachable: false, host, port, database, error: redactText(describeError(error)) };
    }
  }

  async symbolSummaries(): Promise<SymbolSummary[]> {
    let trades: RowDataPacket[];
    try {
      [trades] = await this.query(
        `SELECT symbol, COUNT(*) AS n, MAX(trade_timestamp) AS last FROM ${this.tradesTable} GROUP BY symbol ORDER BY symbol`,
      );
    } catch (error) {
      if (notCreatedYet(error)) return [];
      throw error;
    }
    const candles = new Map<string, string>();
    try {
      const [rows] = await this.query(`SELECT symbol, MAX(window_end) AS last FROM ${this.candlesTable} GROUP BY symbol`);
      for (const r of rows) if (r.last) candles.set(String(r.symbol), toIso(r.last));
    } catch (error) {
      if (!notCreatedYet(error)) throw error;
    }
    const symbols: SymbolSummary[] = trades.map((r) => ({
      symbol: String(r.symbol),
      trades: Number(r.n),
      lastTrade: r.last ? toIso(r.last) : null,
      lastCandle: candles.get(String(r.symbol)) ?? null,
    }));
    for (const [symbol, last] of candles)
      if (!symbols.some((s) => s.symbol === symbol)) symbols.push({ symbol, trades: 0, lastTrade: null, lastCandle: last || null });
    return symbols;
  }

  async rowCounts(symbols: string[], sinceMs: number): Promise<{ trades: number; candles: number }> {
    const since = datetimeText(sinceMs);
    const [[t]] = await this.query(`SELECT COUNT(*) AS n FROM ${this.tradesTable} WHERE symbol IN (?) AND trade_timestamp >= ?`, [
      symbols,
      since,
    ]);
    const [[c]] = await this.query(`SELECT COUNT(*) AS n FROM ${this.candlesTable} WHERE symbol IN (?) AND window_end > ?`, [
      symbols,
      since,
    ]);
    return { trades: Number(t.n), candles: Number(c.n) };
  }

  async newestTradeAgeMs(symbols: string[], sinceMs: number): Promise<number | null> {
    const [[row]] = await this.query(
      `SELECT TIMESTAMPDIFF(MICROSECOND, MAX(trade_timestamp), UTC_TIMESTAMP(3)) / 1000 AS age ` +
        `FROM ${this.tradesTable} WHERE symbol IN (?) AND trade_timestamp >= ?`,
      [symbols, datetimeText(sinceMs)],
    );
    return row?.age === null || row?.age === undefined ? null : Number(row.age);
  }

  async latestCandles(symbols: string[]): Promise<LatestCandle[]> {
    try {
      const [rows] = await this.query(
        `SELECT c.symbol, c.window_ms, c.window_start, c.open, c.high, c.low, c.close, c.volume, c.trade_count, c.is_final
         FROM ${this.candlesTable} c
         JOIN (SELECT symbol, window_ms, MAX(window_start) AS ws FROM ${this.candlesTable} WHERE symbol IN (?) GROUP BY symbol, window_ms) latest
           ON latest.symbol = c.symbol AND latest.window_ms = c.window_ms AND latest.ws = c.window_start
         ORDER BY c.symbol, c.window_ms`,
        [symbols],
      );
      return rows as LatestCandle[];
    } catch (error) {
      if (notCreatedYet(error)) return [];
      throw error;
    }
  }

  async symbols(): Promise<string[]> {
    const rows = await orEmpty(async () => {
      const [r] = await this.query(`SELECT symbol FROM ${this.tradesTable} UNION SELECT symbol FROM ${this.candlesTable} ORDER BY symbol`);
      return r;
    });
    return rows.map((r) => String(r.symbol));
  }

  async windowSizes(symbol: string): Promise<number[]> {
    const rows = await orEmpty(async () => {
      const [r] = await this.query(`SELECT DISTINCT window_ms FROM ${this.candlesTable} WHERE symbol = ? ORDER BY window_ms`, [symbol]);
      return r;
    });
    return rows.map((r) => Number(r.window_ms));
  }

  async candles(symbol: string, windowMs: number, range: { fromMs: number; toMs: number; limit: number }): Promise<CandleRow[]> {
    const rows = await orEmpty(async () => {
      const [r] = await this.query(
        `SELECT window_start, window_end, open, high, low, close, volume, vwap, trade_count, is_final FROM ${this.candlesTable}
         WHERE symbol = ? AND window_ms = ? AND window_start >= ? AND window_start < ? ORDER BY window_start DESC LIMIT ?`,
        [symbol, windowMs, datetimeText(range.fromMs), datetimeText(range.toMs), range.limit],
      );
      return r;
    });
    return rows.reverse().map((r) => ({
      window_start: toMs(r.window_start),
      window_end: toMs(r.window_end),
      open: Number(r.open),
      high: Number(r.high),
      low: Number(r.low),
      close: Number(r.close),
      volume: Number(r.volume),
      vwap: r.vwap === null ? null : Number(r.vwap),
      trade_count: Number(r.trade_count),
      is_final: Boolean(Number(r.is_final)),
    }));
  }

  async latestTrades(symbol: string, limit: number): Promise<TradeRow[]> {
    const rows = await orEmpty(async () => {
      const [r] = await this.query(
        `SELECT id, price, volume, trade_timestamp FROM ${this.tradesTable} WHERE symbol = ? ORDER BY trade_timestamp DESC, id DESC LIMIT ?`,
        [symbol, limit],
      );
      return r;
    });
    return rows.map((r) => ({
      id: String(r.id),
      price: Number(r.price),
      volume: Number(r.volume),
      trade_timestamp: toMs(r.trade_timestamp),
    }));
  }

  async close(): Promise<void> {
    await this.session.close();
  }

  private query(sql: string, values?: unknown[]): Promise<[RowDataPacket[], unknown]> {
    return this.session.run((conn: Connection) =>
      conn.query<RowDataPacket[]>({ sql, values, dateStrings: true, timeout: this.session.queryTimeoutMs } as QueryOptions),
    );
  }
}
