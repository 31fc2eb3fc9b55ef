import { Readable } from 'node:stream';
import type { Connection, QueryOptions, ResultSetHeader } from 'mysql2/promise';
import type { Candle, Trade } from '../../serde';
import { FinpipeError } from '../../errors';
import type { Logger } from '../../log';
import type { WriteResult } from '../types';
import type { WriteBatch } from './batch';
import type { MysqlSession } from './connection';
import { classifyMysqlError, describeMysqlError, isPrivilegeError, isSetupError, PRIVILEGE_HINT, toMysqlError } from './errors';
import { migrate, TABLES, type MigrationResult } from './schema';
import { insertTradesSql, latestCandles, loadTradesSql, uniqueTrades, upsertCandlesSql } from './sql';

/** Thrown inside the fast path's transaction to roll it back and write the batch with INSERT statements instead. */
class UseInserts extends Error {}

/**
 * LOAD DATA LOCAL itself failed with an error that is neither a connection problem nor a data
 * error, typically because the server does not allow it: local_infile=0 (MariaDB 4166, older
 * servers 1148) or MySQL 8's default "local data disabled" (3948). The writer then switches to
 * INSERT statements for good; if those fail the same way, that error is reported from there.
 */
class LoadDataRefused extends Error {
  constructor(readonly error: unknown) {
    super(describeMysqlError(error));
  }
}

/** The trades table's key order: (symbol, trade_timestamp, id). */
function compareTrades({ trade: a }: { trade: Trade }, { trade: b }: { trade: Trade }): number {
  if (a.symbol !== b.symbol) return a.symbol < b.symbol ? -1 : 1;
  if (a.trade_timestamp !== b.trade_timestamp) return a.trade_timestamp - b.trade_timestamp;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function compareCandles(a: Candle, b: Candle): number {
  if (a.symbol !== b.symbol) return a.symbol < b.symbol ? -1 : 1;
  return a.window_ms - b.window_ms || a.window_start - b.window_start;
}

export interface WriterOptions {
  /** Rows per INSERT statement; bounded so a statement stays far below max_allowed_packet (16 MB on MariaDB by default). */
  chunkRows?: number;
  /** Write trades with LOAD DATA LOCAL INFILE when the server allows it (default true); see write(). */
  loadData?: boolean;
}

/**
 * Writes batches of trades and candles into the shared tables, each batch in one
 * transaction, so a batch is either entirely in the database or not at all (and then
 * retried, and since every statement is an idempotent upsert, retried safely).
 *
 * Errors thrown by write():
 *   FinpipeError MYSQL_UNAVAILABLE (retriable)  the server is unreachable: retry later.
 *   FinpipeError MYSQL_ERROR (not retriable)    a setup problem or a bug: stop.
 * Data errors are not thrown: the batch is rolled back and written again row by row inside
 * one transaction; each row the server refuses is returned in `rejected` and the others are
 * committed. (A failed statement only rolls back itself in InnoDB, not the transaction.)
 */
export class MysqlBatchWriter {
  private readonly chunkRows: number;
  private loadData: boolean;

  constructor(
    private readonly session: MysqlSession,
    private readonly logger: Logger,
    options: WriterOptions = {},
  ) {
    this.chunkRows = options.chunkRows ?? 5_000;
    this.loadData = options.loadData ?? true;
  }

  /** Waits for the server (with backoff), creates the database if needed and migrates the schema. */
  async prepare(signal?: AbortSignal): Promise<MigrationResult> {
    await this.session.waitConnected(signal);
    // A server error here (a missing privilege, most likely) becomes a MYSQL_ERROR with a hint.
    return this.session
      .run((conn) => migrate(conn, this.session.config.database, this.logger))
      .catch((error: unknown) => {
        throw toMysqlError(this.session.config, error);
      });
  }

  async write<R>(batch: WriteBatch<R>): Promise<WriteResult<R>> {
    const candles = latestCandles(batch.candles);
    if (batch.tradeCount === 0 && candles.length === 0) return { trades: 0, tradesInserted: 0, candles: 0, rejected: [] };
    candles.sort((a, b) => compareCandles(a.candle, b.candle));
    // Trades go in with LOAD DATA LOCAL INFILE when possible: the server parses tab-separated
    // lines with much less work than a multi-row INSERT (~25% less server CPU here), and the
    // lines were rendered as the records arrived (WriteBatch). It is only a fast path: LOAD
    // DATA LOCAL downgrades data errors and duplicate keys to warnings, so a statement with
    // any warning rolls the whole transaction back and the batch is written with the INSERT
    // statements below instead (which refuse bad rows, isolated row by row, and make
    // replayed trades no-ops). A replay after a crash therefore takes the INSERT path, and
    // nothing about what ends up in the tables depends on which path wrote it. (So does a
    // batch holding one trade twice, which only a re-read after a rebalance produces.)
    // The lines go in arrival order: sorting them by id did not save the server any work
    // (measured), and a lock conflict with another writer (a rebalance handing the
    // partition over mid-batch) ends in a deadlock error at worst, which is retried.
    if (this.loadData && batch.lines && batch.tradeCount > 0) {
      const pieces = batch.lines.pieces();
      try {
        const tradesInserted = await this.transaction(async (conn) => {
          const [result] = await conn
            .query<ResultSetHeader>({
              sql: loadTradesSql(TABLES.trades),
              timeout: this.session.queryTimeoutMs,
              infileStreamFactory: () => Readable.from(pieces),
            } as QueryOptions)
            .catch((error: unknown) => {
              // A missing privilege or table fails INSERT alike: reported as what it is below.
              throw classifyMysqlError(error) === 'fatal' && !isSetupError(error) ? new LoadDataRefused(error) : error;
            });
          if (result.warningStatus > 0) throw new UseInserts();
          await this.writeCandles(conn, candles);
          return result.affectedRows;
        });
        return { trades: batch.tradeCount, tradesInserted, candles: candles.length, rejected: [] };
      } catch (error) {
        if (error instanceof LoadDataRefused) {
          this.loadData = false;
          this.logger.info(
            { err: error.message },
            'LOAD DATA LOCAL INFILE is not available (is local_infile off on the server?); writing trades with INSERT statements from now on (a little slower)',
          );
        } else if (!(error instanceof UseInserts) && classifyMysqlError(error) !== 'data') {
          throw this.wrapFatal(error);
        }
        // Warnings or a refused candle: the INSERT path below sorts it out.
      }
    }
    const { decoded, failed } = batch.trades();
    // In primary-key order: InnoDB then fills B-tree pages in sequence, and concurrent sinks
    // take row locks in one order. A trade's symbol and time come with its id, so repeated
    // ids end up adjacent (the sort is stable: in arrival order); only when there are any
    // does uniqueTrades (a Map) run, keeping the first.
    let trades = decoded.sort(compareTrades);
    for (let i = 1; i < trades.length; i++) {
      if (trades[i].trade.id === trades[i - 1].trade.id) {
        trades = uniqueTrades(trades);
        break;
      }
    }
    const result = await this.insert(trades, candles);
    return failed.length === 0 ? result : { ...result, rejected: [...failed, ...result.rejected] };
  }

  /** Whether write() takes the LOAD DATA fast path (until the server refuses it): batches should then be filled with lines. */
  get usesLoadData(): boolean {
    return this.loadData;
  }

  /** The INSERT path: multi-row upserts in one transaction; on a data error, row by row. */
  private async insert<R>(trades: { trade: Trade; ref: R }[], candles: { candle: Candle; ref: R }[]): Promise<WriteResult<R>> {
    try {
      const tradesInserted = await this.transaction(async (conn) => {
        let inserted = 0;
        for (let i = 0; i < trades.length; i += this.chunkRows) {
          inserted += await this.exec(
            conn,
            insertTradesSql(
              TABLES.trades,
              trades.slice(i, i + this.chunkRows).map((t) => t.trade),
            ),
          );
        }
        await this.writeCandles(conn, candles);
        return inserted;
      });
      return { trades: trades.length, tradesInserted, candles: candles.length, rejected: [] };
    } catch (error) {
      if (classifyMysqlError(error) !== 'data') throw this.wrapFatal(error);
      this.logger.warn(
        { err: describeMysqlError(error), rows: trades.length + candles.length },
        'the database refused a row; writing this batch row by row to isolate it',
      );
    }
    return this.writeRowByRow(trades, candles);
  }

  private async writeRowByRow<R>(trades: { trade: Trade; ref: R }[], candles: { candle: Candle; ref: R }[]): Promise<WriteResult<R>> {
    const rejected: { ref: R; reason: string }[] = [];
    let okTrades = 0;
    let okCandles = 0;
    const tradesInserted = await this.transaction(async (conn) => {
      // Reset on every attempt: the transaction may be retried after a reconnect.
      rejected.length = 0;
      okTrades = 0;
      okCandles = 0;
      let inserted = 0;
      const attempt = async (sql: string, ref: R): Promise<number | null> => {
        try {
          return await this.exec(conn, sql);
        } catch (error) {
          if (classifyMysqlError(error) !== 'data') throw error;
          rejected.push({ ref, reason: `rejected by the database: ${describeMysqlError(error)}` });
          return null;
        }
      };
      for (const t of trades) {
        const n = await attempt(insertTradesSql(TABLES.trades, [t.trade]), t.ref);
        if (n !== null) {
          okTrades++;
          inserted += n;
        }
      }
      for (const c of candles) {
        if ((await attempt(upsertCandlesSql(TABLES.candles, [c.candle]), c.ref)) !== null) okCandles++;
      }
      return inserted;
    }).catch((error) => {
      throw this.wrapFatal(error);
    });
    return { trades: okTrades, tradesInserted, candles: okCandles, rejected };
  }

  private async writeCandles<R>(conn: Connection, candles: { candle: Candle; ref: R }[]): Promise<void> {
    for (let i = 0; i < candles.length; i += this.chunkRows) {
      await this.exec(
        conn,
        upsertCandlesSql(
          TABLES.candles,
          candles.slice(i, i + this.chunkRows).map((c) => c.candle),
        ),
      );
    }
  }

  /** Affected rows of one statement; for the trades' no-op upsert that is 1 per new row. */
  private async exec(conn: Connection, sql: string): Promise<number> {
    const [result] = await conn.query<ResultSetHeader>({ sql, timeout: this.session.queryTimeoutMs });
    return result.affectedRows;
  }

  private async transaction<T>(fn: (conn: Connection) => Promise<T>): Promise<T> {
    return this.session.run(async (conn) => {
      await conn.query('START TRANSACTION');
      try {
        const result = await fn(conn);
        await conn.query('COMMIT');
        return result;
      } catch (error) {
        // After a broken connection the server rolls back by itself; the ROLLBACK may fail.
        await conn.query('ROLLBACK').catch(() => {});
        throw error;
      }
    });
  }

  private wrapFatal(error: unknown): unknown {
    if (error instanceof FinpipeError) return error;
    const check = isPrivilegeError(error) ? PRIVILEGE_HINT : 'check the tables (`SHOW CREATE TABLE trades`) and privileges';
    return new FinpipeError('MYSQL_ERROR', `MySQL refused a write: ${describeMysqlError(error)}`, {
      cause: error,
      hint: `this is not a data problem of one row; ${check}, then restart the sink — nothing was committed for the batch`,
    });
  }
}
