import type cassandra from 'cassandra-driver';
import type { CassandraConfig } from '../../config';
import { KEYSPACE_NAME } from '../../config/cassandra';
import { FinpipeError } from '../../errors';
import type { Logger } from '../../log';

/**
 * The Cassandra tables, modelled on how they are read rather than copied from MySQL's
 * (see "Cassandra" in the README):
 *
 *   trades             PRIMARY KEY ((symbol, day), trade_timestamp, id). A partition holds
 *                      one symbol's trades of one UTC day, sorted by time: "this symbol
 *                      between t1 and t2" reads one or a few partitions in order, and a
 *                      partition stays bounded however long the feed runs. The trade id
 *                      (a deterministic UUID) ends the key, so a replay overwrites the same
 *                      row: nothing is duplicated.
 *   candles            PRIMARY KEY ((symbol, window_ms, day), window_start): one series per
 *                      symbol and window size, one partition per day, sorted by window start.
 *                      Written with USING TIMESTAMP <version>, so the newest version wins
 *                      whatever order versions arrive in (a retried older batch cannot undo
 *                      a newer one).
 *   symbol_partitions  PRIMARY KEY (symbol, window_ms, day): which partitions exist
 *                      (window_ms 0 = trades), so status and dashboards find symbols, window
 *                      sizes and days without scanning the big tables.
 *   finpipe_migrations the forward-only schema migrations applied, as in MySQL.
 *
 * Prices and volumes are double (the Avro doubles as sent), times are timestamp (ms, UTC),
 * trade conditions a frozen list (one cell: no tombstones when a trade is replayed).
 */
export const TABLES = {
  trades: 'trades',
  candles: 'candles',
  partitions: 'symbol_partitions',
  migrations: 'finpipe_migrations',
} as const;

/** The partition key of symbol_partitions rows that stand for trades. */
export const TRADES_WINDOW = 0;

export const TRADE_COLUMNS = ['symbol', 'day', 'trade_timestamp', 'id', 'price', 'volume', 'ingest_timestamp', 'trade_conditions'] as const;
export const CANDLE_COLUMNS = [
  'symbol',
  'window_ms',
  'day',
  'window_start',
  'window_end',
  'open',
  'high',
  'low',
  'close',
  'volume',
  'vwap',
  'trade_count',
  'avg_price',
  'is_final',
  'version',
] as const;
const PARTITION_COLUMNS = ['symbol', 'window_ms', 'day'] as const;

/** `"keyspace".table`: the keyspace name is validated by the configuration (KEYSPACE_NAME) and quoted, so it keeps its case. */
export function qualified(keyspace: string, table: string): string {
  if (!KEYSPACE_NAME.test(keyspace)) {
    throw new FinpipeError(
      'CONFIG_INVALID',
      `refusing keyspace name "${keyspace.slice(0, 60)}": a letter, then up to 47 letters, digits or "_"`,
      {
        hint: 'set FINPIPE_CASSANDRA_KEYSPACE to a plain name such as finpipe',
      },
    );
  }
  return `"${keyspace}".${table}`;
}

export interface Migration {
  version: number;
  name: string;
  statements(keyspace: string): string[];
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'create trades, candles and symbol_partitions',
    statements: (ks) => [
      `CREATE TABLE IF NOT EXISTS ${qualified(ks, TABLES.trades)} (
        symbol text, day date, trade_timestamp timestamp, id text,
        price double, volume double, ingest_timestamp timestamp, trade_conditions frozen<list<text>>,
        PRIMARY KEY ((symbol, day), trade_timestamp, id)
      ) WITH CLUSTERING ORDER BY (trade_timestamp ASC, id ASC)`,
      `CREATE TABLE IF NOT EXISTS ${qualified(ks, TABLES.candles)} (
        symbol text, window_ms bigint, day date, window_start timestamp,
        window_end timestamp, open double, high double, low double, close double, volume double, vwap double,
        trade_count bigint, avg_price double, is_final boolean, version bigint,
        PRIMARY KEY ((symbol, window_ms, day), window_start)
      ) WITH CLUSTERING ORDER BY (window_start ASC)`,
      `CREATE TABLE IF NOT EXISTS ${qualified(ks, TABLES.partitions)} (
        symbol text, window_ms bigint, day date,
        PRIMARY KEY (symbol, window_ms, day)
      )`,
    ],
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

export interface MigrationResult {
  from: number;
  to: number;
  applied: { version: number; name: string }[];
}

/** The replication map of CREATE KEYSPACE, as CQL text (names validated by the configuration). */
export function replicationCql(replication: CassandraConfig['replication']): string {
  if (replication.class === 'SimpleStrategy') return `{'class': 'SimpleStrategy', 'replication_factor': ${replication.replicationFactor}}`;
  const dcs = Object.entries(replication.datacenters).map(([dc, n]) => `'${dc}': ${n}`);
  return `{'class': 'NetworkTopologyStrategy', ${dcs.join(', ')}}`;
}

/**
 * Creates the keyspace when missing (with the configured replication; an existing one is
 * left as it is) and applies every migration newer than the keyspace's version, up to
 * `target`. DDL in Cassandra is idempotent with IF NOT EXISTS, so a migration interrupted
 * half-way, or two sinks migrating at once, is safe to rerun.
 */
export async function migrate(
  client: cassandra.Client,
  config: CassandraConfig,
  logger?: Logger,
  target = SCHEMA_VERSION,
): Promise<MigrationResult> {
  const ks = config.keyspace;
  await client.execute(`CREATE KEYSPACE IF NOT EXISTS "${ks}" WITH replication = ${replicationCql(config.replication)}`);
  const migrations = qualified(ks, TABLES.migrations);
  await client.execute(`CREATE TABLE IF NOT EXISTS ${migrations} (version int PRIMARY KEY, name text, applied_at timestamp)`);
  const rows = (await client.execute(`SELECT version FROM ${migrations}`)).rows;
  const from = Math.max(0, ...rows.map((r) => Number(r.version)));
  if (from > SCHEMA_VERSION) {
    throw new FinpipeError(
      'CASSANDRA_ERROR',
      `keyspace ${ks} has schema version ${from}, newer than this finpipe knows (${SCHEMA_VERSION})`,
      {
        hint: 'upgrade finpipe; an older sink must not write into tables it does not understand',
      },
    );
  }
  const applied: MigrationResult['applied'] = [];
  for (const m of MIGRATIONS) {
    if (m.version <= from || m.version > target) continue;
    logger?.info({ version: m.version, migration: m.name, keyspace: ks }, 'applying Cassandra schema migration');
    for (const statement of m.statements(ks)) await client.execute(statement);
    await client.execute(`INSERT INTO ${migrations} (version, name, applied_at) VALUES (?, ?, ?)`, [m.version, m.name, new Date()], {
      prepare: true,
    });
    applied.push({ version: m.version, name: m.name });
  }
  if (target >= SCHEMA_VERSION) await checkColumns(client, ks);
  return { from, to: Math.max(from, ...applied.map((a) => a.version)), applied };
}

const REQUIRED_COLUMNS: Record<string, readonly string[]> = {
  [TABLES.trades]: TRADE_COLUMNS,
  [TABLES.candles]: CANDLE_COLUMNS,
  [TABLES.partitions]: PARTITION_COLUMNS,
};

/** A table of the same name that finpipe did not create is reported, not half-written. */
async function checkColumns(client: cassandra.Client, keyspace: string): Promise<void> {
  for (const [table, required] of Object.entries(REQUIRED_COLUMNS)) {
    const rs = await client.execute(
      'SELECT column_name FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?',
      [keyspace, table],
      {
        prepare: true,
      },
    );
    if (rs.rows.length === 0) {
      throw new FinpipeError('CASSANDRA_ERROR', `table ${keyspace}.${table} is missing although migrations say it was created`, {
        hint: `someone dropped it; TRUNCATE ${keyspace}.${TABLES.migrations} to recreate the tables (data in them is gone anyway)`,
      });
    }
    const present = new Set(rs.rows.map((r) => String(r.column_name)));
    const missing = required.filter((c) => !present.has(c));
    if (missing.length > 0) {
      throw new FinpipeError(
        'CASSANDRA_ERROR',
        `table ${keyspace}.${table} exists but lacks columns ${missing.join(', ')}: it was not created by finpipe`,
        {
          hint: 'drop or move that table, or point FINPIPE_CASSANDRA_KEYSPACE at another keyspace',
        },
      );
    }
  }
}
