import type { Connection, RowDataPacket } from 'mysql2/promise';
import { FinpipeError } from '../../errors';
import type { Logger } from '../../log';
import { quoteIdentifier } from './identifiers';
import { CANDLE_COLUMNS, TRADE_COLUMNS } from './sql';

/**
 * The sink's tables, shared by all symbols (see "MySQL tables" in docs/data-model.md):
 *
 *   trades   one row per trade; PRIMARY KEY (symbol, trade_timestamp, id): the id makes
 *            replays no-ops (a trade's symbol and time come with its id), and clustering
 *            the rows by symbol and time serves "this symbol between t1 and t2" (Grafana's
 *            query) and keeps inserts near the end of each symbol's range. Until schema
 *            version 3 the key was the id alone, a random UUID: every insert landed on a
 *            random page of the table, and a growing table cost MariaDB more per row (1M
 *            rows: 11.8 s of server CPU against 6.5 s clustered, docs/benchmarks.md).
 *   candles  one row per (symbol, window_ms, window_start), holding the newest version;
 *            the primary key is also the per-symbol time-range index; INDEX (window_ms,
 *            window_start) serves cross-symbol time ranges ("all 1m candles in the last hour").
 *
 * Types: prices and volumes are DOUBLE — exactly the IEEE doubles that arrive in the Avro
 * records, with no rounding (a DECIMAL(p,s) would have to pick a scale that is either too
 * coarse for sub-satoshi crypto prices or wastes space for stocks). Times are DATETIME(3) in
 * UTC: written as UTC literals, and every finpipe session sets time_zone = '+00:00'
 * (DATETIME, unlike TIMESTAMP, is never converted by the server, and reaches year 9999).
 * Trade conditions are JSON (MariaDB: LONGTEXT with a JSON_VALID check; MySQL: native).
 *
 * Schema changes are forward-only migrations, recorded in `finpipe_migrations`. A migration
 * never drops a table: older tables are upgraded in place. DDL cannot be rolled back in
 * MySQL, so each step checks what exists before changing it (MySQL 8 has no
 * ADD INDEX IF NOT EXISTS), which makes a migration interrupted half-way safe to rerun.
 * Concurrent sinks starting at once serialise on a named lock (GET_LOCK works in both).
 */
export const TABLES = { trades: 'trades', candles: 'candles', migrations: 'finpipe_migrations' } as const;

export interface Migration {
  version: number;
  name: string;
  up(conn: Connection, database: string): Promise<void>;
}

async function tableExists(conn: Connection, database: string, table: string): Promise<boolean> {
  const [rows] = await conn.query<RowDataPacket[]>('SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?', [
    database,
    table,
  ]);
  return rows.length > 0;
}

async function indexExists(conn: Connection, database: string, table: string, index: string): Promise<boolean> {
  const [rows] = await conn.query<RowDataPacket[]>(
    'SELECT 1 FROM information_schema.statistics WHERE table_schema = ? AND table_name = ? AND index_name = ? LIMIT 1',
    [database, table, index],
  );
  return rows.length > 0;
}

/** The table's column names, lower case (empty when there is no such table). */
async function tableColumns(conn: Connection, database: string, table: string): Promise<Set<string>> {
  const [rows] = await conn.query<RowDataPacket[]>(
    'SELECT column_name AS c FROM information_schema.columns WHERE table_schema = ? AND table_name = ?',
    [database, table],
  );
  return new Set(rows.map((r) => String(r.c).toLowerCase()));
}

/** The columns of an index, in order ('PRIMARY' for the primary key); empty when there is no such index. */
async function indexColumns(conn: Connection, database: string, table: string, index: string): Promise<string[]> {
  const [rows] = await conn.query<RowDataPacket[]>(
    'SELECT column_name AS c FROM information_schema.statistics WHERE table_schema = ? AND table_name = ? AND index_name = ? ORDER BY seq_in_index',
    [database, table, index],
  );
  return rows.map((r) => String(r.c).toLowerCase());
}

const TRADES_KEY = ['symbol', 'trade_timestamp', 'id'];

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'create trades and candles',
    async up(conn) {
      await conn.query(`CREATE TABLE IF NOT EXISTS ${quoteIdentifier(TABLES.trades)} (
        id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL COMMENT 'deterministic UUID from process',
        symbol VARCHAR(128) NOT NULL,
        price DOUBLE NOT NULL,
        volume DOUBLE NOT NULL,
        trade_timestamp DATETIME(3) NOT NULL COMMENT 'event time, UTC',
        ingest_timestamp DATETIME(3) NOT NULL COMMENT 'when produce wrote the raw record, UTC',
        trade_conditions JSON NOT NULL,
        PRIMARY KEY (id),
        KEY trades_symbol_time (symbol, trade_timestamp)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
      await conn.query(`CREATE TABLE IF NOT EXISTS ${quoteIdentifier(TABLES.candles)} (
        symbol VARCHAR(128) NOT NULL,
        window_ms INT UNSIGNED NOT NULL COMMENT 'window size in ms',
        window_start DATETIME(3) NOT NULL COMMENT 'inclusive, UTC',
        window_end DATETIME(3) NOT NULL COMMENT 'exclusive, UTC',
        open DOUBLE NOT NULL,
        high DOUBLE NOT NULL,
        low DOUBLE NOT NULL,
        close DOUBLE NOT NULL,
        volume DOUBLE NOT NULL,
        vwap DOUBLE NULL COMMENT 'NULL when volume is 0',
        trade_count INT UNSIGNED NOT NULL,
        avg_price DOUBLE NOT NULL,
        is_final BOOLEAN NOT NULL COMMENT '1 once no later version can follow',
        version INT UNSIGNED NOT NULL COMMENT 'newest version written wins',
        PRIMARY KEY (symbol, window_ms, window_start)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
    },
  },
  {
    version: 2,
    name: 'index candles by (window_ms, window_start) for cross-symbol time ranges',
    async up(conn, database) {
      if (!(await indexExists(conn, database, TABLES.candles, 'candles_window_time'))) {
        await conn.query(`ALTER TABLE ${quoteIdentifier(TABLES.candles)} ADD INDEX candles_window_time (window_ms, window_start)`);
      }
    },
  },
  {
    version: 3,
    // Rebuilds the trades table (InnoDB copies it in place; concurrent reads go on): a large
    // table takes a while, once. The (symbol, trade_timestamp) index is the key's prefix now.
    name: 'cluster trades by (symbol, trade_timestamp, id)',
    async up(conn, database) {
      const trades = quoteIdentifier(TABLES.trades);
      // A table of that name finpipe did not create is left alone: checkColumns reports it.
      const present = await tableColumns(conn, database, TABLES.trades);
      if (!TRADES_KEY.every((c) => present.has(c))) return;
      if ((await indexColumns(conn, database, TABLES.trades, 'PRIMARY')).join() !== TRADES_KEY.join()) {
        await conn.query(`ALTER TABLE ${trades} DROP PRIMARY KEY, ADD PRIMARY KEY (${TRADES_KEY.join(', ')})`);
      }
      if (await indexExists(conn, database, TABLES.trades, 'trades_symbol_time')) {
        await conn.query(`ALTER TABLE ${trades} DROP INDEX trades_symbol_time`);
      }
    },
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

export interface MigrationResult {
  from: number;
  to: number;
  applied: { version: number; name: string }[];
}

/** Columns the writer needs; checked after migrating so a foreign table of the same name is reported, not half-written. */
const REQUIRED_COLUMNS: Record<string, readonly string[]> = {
  [TABLES.trades]: TRADE_COLUMNS,
  [TABLES.candles]: CANDLE_COLUMNS,
};

/**
 * Creates the database when missing; `conn` must not have a default database yet. Leaves
 * `conn` using it.
 */
export async function ensureDatabase(conn: Connection, database: string): Promise<void> {
  const quoted = quoteIdentifier(database, 'database name');
  await conn.query(`CREATE DATABASE IF NOT EXISTS ${quoted} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  await conn.query(`USE ${quoted}`);
}

/** Applies every migration newer than the database's version, up to `target` (default: all). */
export async function migrate(conn: Connection, database: string, logger?: Logger, target = SCHEMA_VERSION): Promise<MigrationResult> {
  const lockName = `finpipe_migrations.${database}`;
  const [[lock]] = await conn.query<RowDataPacket[]>('SELECT GET_LOCK(?, 60) AS got', [lockName]);
  if (Number(lock?.got) !== 1) {
    throw new FinpipeError('MYSQL_ERROR', `could not take the migration lock ${lockName} within 60 s`, {
      hint: 'another finpipe sink may be stuck migrating; check SHOW PROCESSLIST',
      retriable: true,
    });
  }
  try {
    await conn.query(`CREATE TABLE IF NOT EXISTS ${quoteIdentifier(TABLES.migrations)} (
      version INT UNSIGNED NOT NULL PRIMARY KEY,
      name VARCHAR(200) NOT NULL,
      applied_at DATETIME(3) NOT NULL
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`);
    const [rows] = await conn.query<RowDataPacket[]>(`SELECT COALESCE(MAX(version), 0) AS v FROM ${quoteIdentifier(TABLES.migrations)}`);
    const from = Number(rows[0].v);
    if (from > SCHEMA_VERSION) {
      throw new FinpipeError(
        'MYSQL_ERROR',
        `database ${database} has schema version ${from}, newer than this finpipe knows (${SCHEMA_VERSION})`,
        {
          hint: 'upgrade finpipe; an older sink must not write into tables it does not understand',
        },
      );
    }
    const applied: MigrationResult['applied'] = [];
    for (const m of MIGRATIONS) {
      if (m.version <= from || m.version > target) continue;
      logger?.info({ version: m.version, migration: m.name, database }, 'applying schema migration');
      await m.up(conn, database);
      await conn.query(`INSERT INTO ${quoteIdentifier(TABLES.migrations)} (version, name, applied_at) VALUES (?, ?, UTC_TIMESTAMP(3))`, [
        m.version,
        m.name,
      ]);
      applied.push({ version: m.version, name: m.name });
    }
    if (target >= SCHEMA_VERSION) await checkColumns(conn, database);
    return { from, to: Math.max(from, ...applied.map((a) => a.version)), applied };
  } finally {
    await conn.query('SELECT RELEASE_LOCK(?)', [lockName]).catch(() => {});
  }
}

async function checkColumns(conn: Connection, database: string): Promise<void> {
  for (const [table, required] of Object.entries(REQUIRED_COLUMNS)) {
    if (!(await tableExists(conn, database, table))) {
      throw new FinpipeError('MYSQL_ERROR', `table ${database}.${table} is missing although migrations say it was created`, {
        hint: `someone dropped it; delete the rows of ${TABLES.migrations} to recreate the tables (data in them is gone anyway)`,
      });
    }
    const present = await tableColumns(conn, database, table);
    const missing = required.filter((c) => !present.has(c));
    if (missing.length > 0) {
      throw new FinpipeError(
        'MYSQL_ERROR',
        `table ${database}.${table} exists but lacks columns ${missing.join(', ')}: it was not created by finpipe`,
        {
          hint: `rename or move that table, or point FINPIPE_MYSQL_URL at another database`,
        },
      );
    }
  }
}
