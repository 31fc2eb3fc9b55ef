import mysql, { type Connection, type SslOptions } from 'mysql2/promise';
import { format } from 'mysql2';
import type { MysqlConfig, MysqlTls } from '../../config';
import { describeError } from '../../errors';
import { classifyMysqlError, describeMysqlError, mysqlUnavailable, toMysqlError } from './errors';
import type { Logger } from '../../log';
import { retry, type BackoffOptions } from '../../retry';
import { ensureDatabase } from './schema';

/**
 * How the MySQL store talks to MySQL/MariaDB: one connection per session (a writer is
 * sequential, and one connection keeps a transaction and its session settings together),
 * re-opened on demand after the server went away. Errors are classified in errors.ts.
 */

/** Every session: UTC, strict (out-of-range values are errors, not silent clamping), READ COMMITTED. */
const SESSION_SETUP = [
  "SET time_zone = '+00:00'",
  "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'",
  // Fewer gap locks than REPEATABLE READ when several sinks insert into the same tables.
  'SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED',
];

/**
 * MySQL's ssl-mode as mysql2's `ssl` option (node's TLS settings). Without a CA file the
 * system's CAs are trusted. undefined = plain TCP.
 */
export function mysqlSslOptions(tls: MysqlTls | undefined): SslOptions | undefined {
  if (!tls) return undefined;
  if (tls.mode === 'REQUIRED') return { rejectUnauthorized: false };
  return { ...(tls.ca ? { ca: tls.ca } : {}), rejectUnauthorized: true, verifyIdentity: tls.mode === 'VERIFY_IDENTITY' };
}

export interface SessionOptions {
  /** Per-statement timeout: a server that stops answering (network partition) counts as unavailable. */
  queryTimeoutMs?: number;
  connectTimeoutMs?: number;
  /**
   * Create the database when missing and make it the default (the default). Readers pass
   * false: looking at a store must not create one, so they qualify their table names.
   */
  createDatabase?: boolean;
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
        host,
        port,
        user,
        password,
        ssl: mysqlSslOptions(this.config.tls),
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
          values === undefined || values === null || (Array.isArray(values) && values.length === 0)
            ? sql
            : format(sql, values as Parameters<typeof format>[1], false, 'Z'),
      });
    } catch (error) {
      throw toMysqlError(this.config, error);
    }
    // An idle connection whose server goes away emits 'error'; without a listener that
    // would crash the process. Forget the connection; the next use reconnects.
    conn.on('error', (error: unknown) => {
      this.logger.debug({ err: describeMysqlError(error) }, 'MySQL connection closed');
      if (this.conn === conn) this.conn = null;
    });
    try {
      for (const sql of SESSION_SETUP) await conn.query(sql);
      if (this.options.createDatabase !== false) await ensureDatabase(conn, database);
    } catch (error) {
      conn.destroy();
      throw toMysqlError(this.config, error);
    }
    this.conn = conn;
    return conn;
  }

  /** Opens the connection, retrying with backoff while the server is unavailable (until `signal` aborts). */
  async waitConnected(signal?: AbortSignal, backoff: BackoffOptions = { initialMs: 250, maxMs: 10_000 }): Promise<Connection> {
    return retry(() => this.connection(), {
      ...backoff,
      signal,
      onRetry: (error, attempt, delayMs) =>
        this.logger.warn(
          { attempt: attempt + 1, retryInMs: delayMs, err: describeError(error) },
          `waiting for MySQL at ${this.config.host}:${this.config.port}`,
        ),
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
