import mysql, { type Connection } from 'mysql2/promise';
import { format } from 'mysql2';
import type { MysqlConfig } from '../../config';
import { FinpipeError, describeError } from '../../errors';
import type { Logger } from '../../log';
import { retry, type BackoffOptions } from '../../retry';
import { ensureDatabase } from './schema';

/**
 * How the sink talks to MySQL/MariaDB: one connection (the writer is sequential, and one
 * connection keeps a transaction and its session settings together), re-opened on demand
 * after the server went away. Errors are sorted into three kinds, because each needs a
 * different reaction:
 *
 *   unavailable  the server is down, restarting, overloaded or the connection broke, or a
 *                transient conflict (deadlock, lock wait timeout): retry the whole
 *                transaction later with backoff; nothing is lost because offsets are only
 *                committed after COMMIT.
 *   data         the server refused a value (out of range, bad datetime, too long, NULL):
 *                the same statement will always fail, so the offending row must be found
 *                and dead-lettered, and the other rows written.
 *   fatal        anything else (syntax, privileges, missing table): a bug or a setup
 *                problem; stop with a clear error instead of spinning.
 */
export type MysqlErrorKind = 'unavailable' | 'data' | 'fatal';

// Client-side connection failures (mysql2 and node error codes).
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED',
  'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR', 'PROTOCOL_ENQUEUE_AFTER_QUIT',
  'PROTOCOL_ENQUEUE_HANDSHAKE_TWICE', 'ER_CONNECTION_CLOSED',
]);
// Server errors that go away by themselves: too many connections (1040), shutdown in
// progress (1053), lock wait timeout (1205), deadlock (1213), read-only during a failover
// (1290, 1836), connection killed (1927, MariaDB), gone away / lost (2006, 2013), server
// busy starting up (1043 handshake), query interrupted by shutdown (1317), client
// interaction timeout (4031).
const UNAVAILABLE_ERRNOS = new Set([1040, 1043, 1053, 1205, 1213, 1290, 1317, 1836, 1927, 2002, 2003, 2006, 2013, 4031]);
// Data errors that MySQL reports with SQLSTATE HY000: incorrect integer/decimal value (1366),
// data truncated (1265), incorrect datetime (1292 is usually 22007, sometimes HY000).
const DATA_ERRNOS = new Set([1265, 1292, 1366, 1367, 3140]);

export function classifyMysqlError(error: unknown): MysqlErrorKind {
  if (error instanceof FinpipeError) return error.code === 'MYSQL_UNAVAILABLE' ? 'unavailable' : 'fatal';
  const e = error as { code?: string; errno?: number; sqlState?: string; fatal?: boolean } | null;
  if (!e || typeof e !== 'object') return 'fatal';
  if (typeof e.errno === 'number' && UNAVAILABLE_ERRNOS.has(e.errno)) return 'unavailable';
  if (e.code && UNAVAILABLE_CODES.has(e.code)) return 'unavailable';
  // SQLSTATE class 22 = data exception, 23 = integrity constraint (NOT NULL, CHECK such as
  // MariaDB's JSON_VALID). Duplicate keys cannot occur: every write is an upsert.
  if (e.sqlState && /^2[23]/.test(e.sqlState)) return 'data';
  if (typeof e.errno === 'number' && DATA_ERRNOS.has(e.errno)) return 'data';
  // A fatal protocol error means the connection is unusable, whatever caused it.
  if (e.fatal) return 'unavailable';
  return 'fatal';
}

export function describeMysqlError(error: unknown): string {
  const e = error as { code?: string; errno?: number; sqlMessage?: string } | null;
  const message = e?.sqlMessage ?? describeError(error);
  return e?.code && !message.includes(e.code) ? `${e.code}: ${message}` : message;
}

export function mysqlUnavailable(config: MysqlConfig, error: unknown): FinpipeError {
  return new FinpipeError('MYSQL_UNAVAILABLE', `cannot reach MySQL at ${config.host}:${config.port}: ${describeMysqlError(error)}`, {
    cause: error,
    hint: 'start the database (`npm run services:up`) or fix FINPIPE_MYSQL_URL; finpipe keeps retrying',
  });
}

/** Every session: UTC, strict (out-of-range values are errors, not silent clamping), READ COMMITTED. */
const SESSION_SETUP = [
  "SET time_zone = '+00:00'",
  "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'",
  // Fewer gap locks than REPEATABLE READ when several sinks insert into the same tables.
  'SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED',
];

export interface SessionOptions {
  /** Per-statement timeout: a server that stops answering (network partition) counts as unavailable. */
  queryTimeoutMs?: number;
  connectTimeoutMs?: number;
}

export class MysqlSession {
  private conn: Connection | null = null;
  private connecting: Promise<Connection> | null = null;

  constructor(
    readonly config: MysqlConfig,
    private readonly logger: Logger,
    private readonly options: SessionOptions = {},
  ) {}

  get queryTimeoutMs(): number {
    return this.options.queryTimeoutMs ?? 60_000;
  }

  /** The open connection, opening one (once, no retry) when there is none. Throws MYSQL_UNAVAILABLE. */
  async connection(): Promise<Connection> {
    if (this.conn) return this.conn;
    this.connecting ??= this.open().finally(() => (this.connecting = null));
    return this.connecting;
  }

  private async open(): Promise<Connection> {
    const { host, port, user, password, database } = this.config;
    let conn: Connection;
    try {
      conn = await mysql.createConnection({
        host, port, user, password,
        connectTimeout: this.options.connectTimeoutMs ?? 5_000,
        timezone: 'Z',
        charset: 'utf8mb4',
        supportBigNumbers: true,
        multipleStatements: false,
        // affectedRows then counts a replayed trade (a no-op upsert) as 0, a new one as 1.
        // LOCAL_FILES: the writer's LOAD DATA LOCAL fast path. mysql2 only ever sends the
        // stream a query supplies itself (infileStreamFactory); a server asking for any
        // other file gets nothing, so this cannot leak local files.
        flags: ['-FOUND_ROWS', '+LOCAL_FILES'],
        // mysql2 scans every statement for `?` placeholders even when it has no values: a
        // full extra pass over each multi-megabyte INSERT. Statements without values are
        // sent as they are; the others are formatted exactly as mysql2 would.
        queryFormat: (sql: string, values: unknown) =>
          values === undefined || values === null || (Array.isArray(values) && values.length === 0) ? sql : format(sql, values as Parameters<typeof format>[1], false, 'Z'),
      });
    } catch (error) {
      throw this.wrap(error);
    }
    // An idle connection whose server goes away emits 'error'; without a listener that
    // would crash the process. Forget the connection; the next use reconnects.
    conn.on('error', (error: unknown) => {
      this.logger.debug({ err: describeMysqlError(error) }, 'MySQL connection closed');
      if (this.conn === conn) this.conn = null;
    });
    try {
      for (const sql of SESSION_SETUP) await conn.query(sql);
      await ensureDatabase(conn, database);
    } catch (error) {
      conn.destroy();
      throw this.wrap(error);
    }
    this.conn = conn;
    return conn;
  }

  /** Unavailable errors become a retriable MYSQL_UNAVAILABLE; others become MYSQL_ERROR with the server's message. */
  private wrap(error: unknown): FinpipeError {
    if (error instanceof FinpipeError) return error;
    if (classifyMysqlError(error) === 'unavailable') return mysqlUnavailable(this.config, error);
    const e = error as { errno?: number };
    const hint = e.errno === 1045 || e.errno === 1044 || e.errno === 1142 || e.errno === 1227
      ? 'check the user, password and privileges in FINPIPE_MYSQL_URL (the sink needs CREATE, ALTER, INSERT, UPDATE and SELECT)'
      : 'see the MySQL message; rerun with --log-level debug for details';
    return new FinpipeError('MYSQL_ERROR', `MySQL at ${this.config.host}:${this.config.port} refused: ${describeMysqlError(error)}`, { cause: error, hint });
  }

  /** Opens the connection, retrying with backoff while the server is unavailable (until `signal` aborts). */
  async waitConnected(signal?: AbortSignal, backoff: BackoffOptions = { initialMs: 250, maxMs: 10_000 }): Promise<Connection> {
    return retry(() => this.connection(), {
      ...backoff,
      signal,
      onRetry: (error, attempt, delayMs) =>
        this.logger.warn({ attempt: attempt + 1, retryInMs: delayMs, err: describeError(error) }, `waiting for MySQL at ${this.config.host}:${this.config.port}`),
    });
  }

  /**
   * Runs `fn` on the connection. If it fails because the connection broke, the connection
   * is dropped (the next call reconnects) and a MYSQL_UNAVAILABLE error is thrown; data
   * and fatal errors are rethrown unchanged so the caller can inspect them.
   */
  async run<T>(fn: (conn: Connection) => Promise<T>): Promise<T> {
    const conn = await this.connection();
    try {
      return await fn(conn);
    } catch (error) {
      if (classifyMysqlError(error) === 'unavailable') {
        this.drop(conn);
        throw mysqlUnavailable(this.config, error);
      }
      throw error;
    }
  }

  private drop(conn: Connection): void {
    if (this.conn === conn) this.conn = null;
    try {
      conn.destroy();
    } catch {
      // already gone
    }
  }

  async close(): Promise<void> {
    const conn = this.conn;
    this.conn = null;
    if (conn) await conn.end().catch(() => conn.destroy());
  }
}
