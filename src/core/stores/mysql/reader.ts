import type { Connection, QueryOptions, RowDataPacket } from 'mysql2/promise';
import type { MysqlConfig } from '../../config';
import { FinpipeError, describeError } from '../../errors';
import { redactText } from '../../redact';
import type { LatestCandle, StoreContext, StoreHealth, StoreReader, SymbolSummary } from '../types';
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

/**
 * Reads what the sink wrote, on one session that never creates the database (so the table
 * names are qualified). Times are read as strings, exactly as stored, in UTC.
 */
export class MysqlReader implements StoreReader {
  private readonly config: MysqlConfig;
  private readonly session: MysqlSession;
  private readonly trades: string;
  private readonly candles: string;

  constructor({ config, logger }: StoreContext) {
    this.config = config.mysql;
    this.session = new MysqlSession(config.mysql, logger, { connectTimeoutMs: 3_000, createDatabase: false });
    const database = quoteIdentifier(config.mysql.database, 'database name');
    this.trades = `${database}.${quoteIdentifier(TABLES.trades)}`;
    this.candles = `${database}.${quoteIdentifier(TABLES.candles)}`;
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
        `SELECT symbol, COUNT(*) AS n, MAX(trade_timestamp) AS last FROM ${this.trades} GROUP BY symbol ORDER BY symbol`,
      );
    } catch (error) {
      if (notCreatedYet(error)) return [];
      throw error;
    }
    const candles = new Map<string, string>();
    try {
      const [rows] = await this.query(`SELECT symbol, MAX(window_end) AS last FROM ${this.candles} GROUP BY symbol`);
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
    const [[t]] = await this.query(`SELECT COUNT(*) AS n FROM ${this.trades} WHERE symbol IN (?) AND trade_timestamp >= ?`, [
      symbols,
      since,
    ]);
    const [[c]] = await this.query(`SELECT COUNT(*) AS n FROM ${this.candles} WHERE symbol IN (?) AND window_end > ?`, [symbols, since]);
    return { trades: Number(t.n), candles: Number(c.n) };
  }

  async newestTradeAgeMs(symbols: string[], sinceMs: number): Promise<number | null> {
    const [[row]] = await this.query(
      `SELECT TIMESTAMPDIFF(MICROSECOND, MAX(trade_timestamp), UTC_TIMESTAMP(3)) / 1000 AS age ` +
        `FROM ${this.trades} WHERE symbol IN (?) AND trade_timestamp >= ?`,
      [symbols, datetimeText(sinceMs)],
    );
    return row?.age === null || row?.age === undefined ? null : Number(row.age);
  }

  async latestCandles(symbols: string[]): Promise<LatestCandle[]> {
    try {
      const [rows] = await this.query(
        `SELECT c.symbol, c.window_ms, c.window_start, c.open, c.high, c.low, c.close, c.volume, c.trade_count, c.is_final
         FROM ${this.candles} c
         JOIN (SELECT symbol, window_ms, MAX(window_start) AS ws FROM ${this.candles} WHERE symbol IN (?) GROUP BY symbol, window_ms) latest
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

  async close(): Promise<void> {
    await this.session.close();
  }

  private query(sql: string, values?: unknown[]): Promise<[RowDataPacket[], unknown]> {
    return this.session.run((conn: Connection) =>
      conn.query<RowDataPacket[]>({ sql, values, dateStrings: true, timeout: this.session.queryTimeoutMs } as QueryOptions),
    );
  }
}
