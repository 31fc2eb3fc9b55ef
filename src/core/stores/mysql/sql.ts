import { escape } from 'mysql2';
import type { Candle, Trade } from '../../serde';
import { quoteIdentifier } from './identifiers';

/**
 * The statements the batch writer sends, built as plain text: one multi-row INSERT per chunk.
 * Values are rendered here rather than through placeholders because it is several times
 * faster for thousands of rows and every value is either a number checked to be finite
 * (records.ts), a DATETIME literal built below, or a string escaped by mysql2.
 *
 * Both statements are idempotent, so replaying records after a crash changes nothing:
 * - trades: the primary key holds the trade id (a deterministic UUID; the symbol and time
 *   before it come with the id); a replayed trade hits ON DUPLICATE KEY UPDATE id = id, a no-op. (INSERT IGNORE would also turn data errors
 *   such as out-of-range values into silent warnings, so it is not used.)
 * - candles: keyed by (symbol, window_ms, window_start); an incoming version overwrites the
 *   row only when it is >= the stored one, so replaying older versions never regresses a
 *   candle. `version` is assigned last on purpose: MySQL and MariaDB evaluate the
 *   assignments left to right, and every earlier IF() must compare against the old version.
 *
 * VALUES(col) in ON DUPLICATE KEY UPDATE is accepted by MariaDB (all versions) and MySQL 8
 * (deprecated since 8.0.20 in favour of row aliases, which MariaDB does not accept; MySQL
 * only emits a warning).
 */
export const TRADE_COLUMNS = ['id', 'symbol', 'price', 'volume', 'trade_timestamp', 'ingest_timestamp', 'trade_conditions'] as const;
export const CANDLE_COLUMNS = [
  'symbol',
  'window_ms',
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

const DAY_MS = 86_400_000;
const PAD2 = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const PAD3 = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
// Date#toISOString costs most of the time of building a trade row; rows of a batch share
// their day, so only the time of day is computed per row. (A per-second cache does not pay:
// the INSERT path sorts a batch by symbol first, so times jump between symbols.)
let dayCached = NaN;
let dayText = '';
let dayLiteral = '';

function datetime(ms: number, quoted: boolean): string {
  const day = Math.floor(ms / DAY_MS);
  if (day !== dayCached) {
    const iso = new Date(day * DAY_MS).toISOString();
    // Years outside 0000-9999 come out as "+033658-..."; pass them on unchanged so the
    // database rejects the row (a data error: that one row goes to the dead-letter topic).
    if (iso.length !== 24) {
      const text = new Date(ms).toISOString();
      return quoted ? `'${text}'` : text;
    }
    dayCached = day;
    dayText = `${iso.slice(0, 10)} `;
    dayLiteral = `'${dayText}`;
  }
  let rest = ms - day * DAY_MS;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = Math.floor(rest / 1000);
  const time = `${PAD2[h]}:${PAD2[m]}:${PAD2[s]}.${PAD3[rest - s * 1000]}`;
  return quoted ? `${dayLiteral}${time}'` : `${dayText}${time}`;
}

/** ms since the epoch (an integer) -> `'YYYY-MM-DD HH:MM:SS.mmm'` in UTC (a DATETIME(3) literal). */
export function datetimeLiteral(ms: number): string {
  return datetime(ms, true);
}

/** The same time as a bare `YYYY-MM-DD HH:MM:SS.mmm` (a LOAD DATA field). */
export function datetimeText(ms: number): string {
  return datetime(ms, false);
}

function num(value: number): string {
  return String(value);
}

// Escaping is the costliest part of building a statement, and most values repeat within a
// batch (one symbol per topic, a handful of condition sets): memoise their SQL literals.
const CACHE_LIMIT = 10_000;
const symbolLiterals = new Map<string, string>();
const conditionLiterals = new Map<string, string>();

function cached(cache: Map<string, string>, key: string, make: () => string): string {
  let literal = cache.get(key);
  if (literal === undefined) {
    if (cache.size >= CACHE_LIMIT) cache.clear();
    literal = make();
    cache.set(key, literal);
  }
  return literal;
}

const PLAIN_ID = /^[0-9A-Za-z-]{1,64}$/;

function idLiteral(id: string): string {
  // UUIDs need no escaping; anything else still goes through mysql2's escape().
  return PLAIN_ID.test(id) ? `'${id}'` : escape(id);
}

function conditionsLiteral(conditions: string[] | undefined): string {
  if (!conditions || conditions.length === 0) return "'[]'";
  const json = JSON.stringify(conditions);
  return cached(conditionLiterals, json, () => escape(json));
}

export function tradeTuple(t: Trade): string {
  const symbol = cached(symbolLiterals, t.symbol, () => escape(t.symbol));
  return (
    `(${idLiteral(t.id)},${symbol},${num(t.price)},${num(t.volume)},` +
    `${datetimeLiteral(t.trade_timestamp)},${datetimeLiteral(t.ingest_timestamp)},${conditionsLiteral(t.trade_conditions)})`
  );
}

export function candleTuple(c: Candle): string {
  return (
    `(${escape(c.symbol)},${num(c.window_ms)},${datetimeLiteral(c.window_start)},${datetimeLiteral(c.window_end)},` +
    `${num(c.open)},${num(c.high)},${num(c.low)},${num(c.close)},${num(c.volume)},${c.vwap === null ? 'NULL' : num(c.vwap)},` +
    `${num(c.trade_count)},${num(c.avg_price)},${c.is_final ? 1 : 0},${num(c.version)})`
  );
}

/**
 * The tuples of `rows`, comma-separated. Joined in small groups first: a tuple is a tree of
 * short concatenated strings, and joining thousands of them at the end keeps them all alive
 * until then, so they survive garbage collections and get copied into the old generation.
 * Flattening them while they are young makes the statement about twice as fast to build.
 */
function tuples<T>(rows: T[], tuple: (row: T) => string): string {
  const GROUP = 64;
  if (rows.length <= GROUP) return rows.map(tuple).join(',');
  const groups: string[] = [];
  const group: string[] = [];
  for (const row of rows) {
    group.push(tuple(row));
    if (group.length === GROUP) {
      groups.push(group.join(','));
      group.length = 0;
    }
  }
  if (group.length > 0) groups.push(group.join(','));
  return groups.join(',');
}

/**
 * The LOAD DATA fast path for trades (see MysqlBatchWriter): the same rows as the INSERT, as
 * tab-separated lines. LOAD DATA LOCAL turns data errors and duplicate keys into warnings
 * (the server cannot stop the client's upload half-way), so the writer treats any warning as
 * "not for the fast path": it rolls back and writes the batch with the INSERT statements,
 * which refuse bad rows and make replays no-ops. Fields use LOAD DATA's default escaping
 * (backslash); every text field is escaped, so a symbol such as `\N` is not read as NULL.
 */
export function loadTradesSql(table: string): string {
  return (
    `LOAD DATA LOCAL INFILE 'finpipe-trades.tsv' INTO TABLE ${quoteIdentifier(table, 'table name')} CHARACTER SET utf8mb4 ` +
    `FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (${TRADE_COLUMNS.join(',')})`
  );
}

const TSV_SPECIAL = /[\\\t\n\0]/g;
const TSV_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\0': '\\0' };
const tsvText = (value: string) => value.replace(TSV_SPECIAL, (c) => TSV_ESCAPES[c]);
const symbolFields = new Map<string, string>();
const conditionFields = new Map<string, string>();

function conditionsField(conditions: string[] | undefined): string {
  if (!conditions || conditions.length === 0) return '[]';
  const json = JSON.stringify(conditions);
  return cached(conditionFields, json, () => tsvText(json));
}

/** One trade as a LOAD DATA line (columns in TRADE_COLUMNS order, newline-terminated). */
export function tradeLine(t: Trade): string {
  const id = PLAIN_ID.test(t.id) ? t.id : tsvText(t.id);
  const symbol = cached(symbolFields, t.symbol, () => tsvText(t.symbol));
  return (
    `${id}\t${symbol}\t${num(t.price)}\t${num(t.volume)}\t` +
    `${datetimeText(t.trade_timestamp)}\t${datetimeText(t.ingest_timestamp)}\t${conditionsField(t.trade_conditions)}\n`
  );
}

export function insertTradesSql(table: string, trades: Trade[]): string {
  return (
    `INSERT INTO ${quoteIdentifier(table, 'table name')} (${TRADE_COLUMNS.join(',')}) ` +
    `VALUES ${tuples(trades, tradeTuple)} ON DUPLICATE KEY UPDATE id = id`
  );
}

export function upsertCandlesSql(table: string, candles: Candle[]): string {
  const newer = 'VALUES(version) >= version';
  const updates = CANDLE_COLUMNS.filter((c) => c !== 'symbol' && c !== 'window_ms' && c !== 'window_start' && c !== 'version')
    .map((c) => `${c} = IF(${newer}, VALUES(${c}), ${c})`)
    .concat(`version = IF(${newer}, VALUES(version), version)`);
  return (
    `INSERT INTO ${quoteIdentifier(table, 'table name')} (${CANDLE_COLUMNS.join(',')}) ` +
    `VALUES ${tuples(candles, candleTuple)} ON DUPLICATE KEY UPDATE ${updates.join(', ')}`
  );
}

export function candleKey(c: Candle): string {
  return `${c.symbol}\u0000${c.window_ms}\u0000${c.window_start}`;
}

/**
 * Keeps one entry per key: for candles the highest version (on a tie the later one), for
 * trades the first. Fewer rows to send, and a batch holding several versions of one
 * window then needs no ordering guarantees from the database.
 */
export function latestCandles<T extends { candle: Candle }>(items: T[]): T[] {
  const byKey = new Map<string, T>();
  for (const item of items) {
    const key = candleKey(item.candle);
    const seen = byKey.get(key);
    if (!seen || item.candle.version >= seen.candle.version) byKey.set(key, item);
  }
  return [...byKey.values()];
}

export function uniqueTrades<T extends { trade: Trade }>(items: T[]): T[] {
  const byId = new Map<string, T>();
  for (const item of items) if (!byId.has(item.trade.id)) byId.set(item.trade.id, item);
  return byId.size === items.length ? items : [...byId.values()];
}
