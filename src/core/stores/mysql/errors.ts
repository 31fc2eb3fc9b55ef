import type { MysqlConfig } from '../../config';
import { FinpipeError, describeError } from '../../errors';

/**
 * mysql2 and server errors become finpipe's here, at the MySQL adapter's edge. They are
 * sorted into three kinds, because each needs a different reaction:
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
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'PROTOCOL_ENQUEUE_AFTER_QUIT',
  'PROTOCOL_ENQUEUE_HANDSHAKE_TWICE',
  'ER_CONNECTION_CLOSED',
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

const TLS_SETUP_CODE = /^HANDSHAKE_NO_SSL_SUPPORT$|^ERR_(?:TLS|SSL)_|CERT|SELF_SIGNED|UNABLE_TO_(?:GET|VERIFY)/;

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
  // TLS set up wrongly (the server has no TLS, its certificate fails verification) is a
  // setup problem: retrying cannot fix it, although mysql2 marks it fatal.
  if (e.code && TLS_SETUP_CODE.test(e.code)) return 'fatal';
  // A fatal protocol error means the connection is unusable, whatever caused it.
  if (e.fatal) return 'unavailable';
  return 'fatal';
}

// Missing privileges (1044, 1045, 1142, 1143, 1227) and a missing table (1146): the setup is
// wrong, whatever the statement. Named so that they are never mistaken for "this server does
// not allow LOAD DATA LOCAL" (writer.ts) and get a hint that names privileges.
const PRIVILEGE_ERRNOS = new Set([1044, 1045, 1142, 1143, 1227]);
const NO_TABLE_ERRNO = 1146;

export function isPrivilegeError(error: unknown): boolean {
  const errno = (error as { errno?: unknown } | null)?.errno;
  return typeof errno === 'number' && PRIVILEGE_ERRNOS.has(errno);
}

/** Fails every statement on the tables alike: a missing privilege or a dropped table. */
export function isSetupError(error: unknown): boolean {
  return isPrivilegeError(error) || (error as { errno?: unknown } | null)?.errno === NO_TABLE_ERRNO;
}

export const PRIVILEGE_HINT =
  'check the user, password and privileges in FINPIPE_MYSQL_URL (the sink needs CREATE, ALTER, INDEX, INSERT, UPDATE and SELECT on the database)';

export function describeMysqlError(error: unknown): string {
  const e = error as { code?: string; errno?: number; sqlMessage?: string } | null;
  const message = e?.sqlMessage ?? describeError(error);
  return e?.code && !message.includes(e.code) ? `${e.code}: ${message}` : message;
}

export function mysqlUnavailable(config: MysqlConfig, error: unknown): FinpipeError {
  return new FinpipeError('MYSQL_UNAVAILABLE', `cannot reach MySQL at ${config.host}:${config.port}: ${describeMysqlError(error)}`, {
    cause: error,
    hint: 'start MySQL/MariaDB (from a checkout: `npm run services:up`) or fix FINPIPE_MYSQL_URL; finpipe keeps retrying',
  });
}

/** Unavailable errors become a retriable MYSQL_UNAVAILABLE; others become MYSQL_ERROR with the server's message and a hint. */
export function toMysqlError(config: MysqlConfig, error: unknown): FinpipeError {
  if (error instanceof FinpipeError) return error;
  if (classifyMysqlError(error) === 'unavailable') return mysqlUnavailable(config, error);
  const e = error as { code?: string };
  const hint = isPrivilegeError(error)
    ? PRIVILEGE_HINT
    : e.code && TLS_SETUP_CODE.test(e.code)
      ? "check ssl-mode and ssl-ca (FINPIPE_MYSQL_URL's options or FINPIPE_MYSQL_SSL_MODE / FINPIPE_MYSQL_SSL_CA) against the server's TLS setup"
      : 'see the MySQL message; rerun with --log-level debug for details';
  return new FinpipeError('MYSQL_ERROR', `MySQL at ${config.host}:${config.port} refused: ${describeMysqlError(error)}`, {
    cause: error,
    hint,
  });
}
