import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import mysql from 'mysql2/promise';
import pino from 'pino';
import { FinpipeError } from '../../src/core/errors';
import { MysqlSession } from '../../src/core/stores/mysql/connection';
import { migrate, SCHEMA_VERSION } from '../../src/core/stores/mysql/schema';
import { MysqlBatchWriter } from '../../src/core/stores/mysql/writer';
import { WriteBatch } from '../../src/core/stores/mysql/batch';
import { codecs } from '../../src/core/serde';
import { createDatabase, MYSQL } from '../helpers/mysql';
import { makeCandles, makeTrades, readCandles, readTrades, sortTrades } from './sink-fixtures';
import type { MysqlConfig } from '../../src/core/config';

const silent = pino({ level: 'silent' });

function mysqlConfig(database: string, port = MYSQL.port): MysqlConfig {
  return {
    url: `mysql://root@127.0.0.1:${port}/${database}`,
    host: MYSQL.host,
    port,
    user: MYSQL.user,
    password: MYSQL.password || undefined,
    database,
  };
}

async function session(t: { after(fn: () => unknown): void }, database: string): Promise<MysqlSession> {
  const s = new MysqlSession(mysqlConfig(database), silent);
  t.after(() => s.close());
  await s.waitConnected();
  return s;
}

test('the database and tables are created when missing, with UTC DATETIME(3), DOUBLE and idempotent keys', async (t) => {
  const name = `fp_test_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
  const admin = await mysql.createConnection(MYSQL);
  t.after(async () => {
    await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
    await admin.end();
  });
  const s = await session(t, name);
  const result = await s.run((conn) => migrate(conn, name));
  assert.deepEqual(result, {
    from: 0,
    to: SCHEMA_VERSION,
    applied: [
      { version: 1, name: 'create trades and candles' },
      { version: 2, name: 'index candles by (window_ms, window_start) for cross-symbol time ranges' },
      { version: 3, name: 'cluster trades by (symbol, trade_timestamp, id)' },
    ],
  });
  const [[trades]] = await admin.query<mysql.RowDataPacket[]>(`SHOW CREATE TABLE \`${name}\`.trades`);
  const ddl = String(trades['Create Table']);
  assert.match(ddl, /`price` double NOT NULL/);
  assert.match(ddl, /`trade_timestamp` datetime\(3\) NOT NULL/);
  assert.match(ddl, /PRIMARY KEY \(`symbol`,`trade_timestamp`,`id`\)/);
  assert.doesNotMatch(ddl, /trades_symbol_time/, "the key's prefix serves (symbol, time) ranges");
  const [[candles]] = await admin.query<mysql.RowDataPacket[]>(`SHOW CREATE TABLE \`${name}\`.candles`);
  assert.match(String(candles['Create Table']), /PRIMARY KEY \(`symbol`,`window_ms`,`window_start`\)/);
  const [[tz]] = await s.run((conn) => conn.query<mysql.RowDataPacket[]>('SELECT @@session.time_zone AS tz'));
  assert.equal(tz.tz, '+00:00');
  // Running it again changes nothing.
  assert.deepEqual(await s.run((conn) => migrate(conn, name)), { from: SCHEMA_VERSION, to: SCHEMA_VERSION, applied: [] });
});

test('an older schema is upgraded in place, keeping its rows; a newer one is refused; a foreign table is reported', async (t) => {
  const db = await createDatabase(t);
  const s = await session(t, db.name);
  await s.run((conn) => migrate(conn, db.name, undefined, 1));
  const writer = new MysqlBatchWriter(s, silent);
  const [candle] = makeCandles('AAPL', 1, 1);
  const trades = [...makeTrades('AAPL', 50), ...makeTrades('MSFT', 50)];
  await writer.write(
    WriteBatch.of([
      { row: { kind: 'candle', candle }, ref: 0 },
      ...trades.map((trade, i) => ({ row: { kind: 'trade' as const, trade }, ref: i + 1 })),
    ]),
  );

  const result = await s.run((conn) => migrate(conn, db.name));
  assert.deepEqual(
    result.applied.map((a) => a.version),
    [2, 3],
  );
  assert.deepEqual(await readCandles(db.connection, db.name), [candle]);
  assert.deepEqual(await readTrades(db.connection, db.name), sortTrades(trades), 'the trades table rebuilt with its rows');
  const [[created]] = await db.connection.query<mysql.RowDataPacket[]>(`SHOW CREATE TABLE \`${db.name}\`.trades`);
  assert.match(String(created['Create Table']), /PRIMARY KEY \(`symbol`,`trade_timestamp`,`id`\)/);
  // Replays stay no-ops under the new key.
  await writer.write(WriteBatch.of(trades.map((trade, i) => ({ row: { kind: 'trade' as const, trade }, ref: i }))));
  assert.equal((await readTrades(db.connection, db.name)).length, trades.length);
  const [indexes] = await db.connection.query<mysql.RowDataPacket[]>(
    `SHOW INDEX FROM \`${db.name}\`.candles WHERE Key_name = 'candles_window_time'`,
  );
  assert.equal(indexes.length, 2);

  await db.connection.query(`INSERT INTO \`${db.name}\`.finpipe_migrations VALUES (99, 'from the future', UTC_TIMESTAMP(3))`);
  await assert.rejects(
    s.run((conn) => migrate(conn, db.name)),
    (e: unknown) => e instanceof FinpipeError && /schema version 99, newer than this finpipe knows/.test(e.message),
  );

  const other = await createDatabase(t);
  await other.connection.query(`CREATE TABLE \`${other.name}\`.trades (id INT PRIMARY KEY, note TEXT)`);
  const s2 = await session(t, other.name);
  await assert.rejects(
    s2.run((conn) => migrate(conn, other.name)),
    (e: unknown) =>
      e instanceof FinpipeError &&
      /trades exists but lacks columns symbol, price/.test(e.message) &&
      /not created by finpipe/.test(e.message),
  );
});

test('candle upserts keep the newest version: replaying older versions never regresses a row', async (t) => {
  const db = await createDatabase(t);
  const s = await session(t, db.name);
  await s.run((conn) => migrate(conn, db.name));
  const writer = new MysqlBatchWriter(s, silent, { chunkRows: 3 });
  const versions = makeCandles('BTC', 4, 3);
  const byVersion = (v: number) => versions.filter((c) => c.version === v);
  await writer.write(WriteBatch.of(byVersion(3).map((candle) => ({ row: { kind: 'candle' as const, candle }, ref: 0 }))));
  await writer.write(
    WriteBatch.of([...byVersion(1), ...byVersion(2)].map((candle) => ({ row: { kind: 'candle' as const, candle }, ref: 0 }))),
  );
  assert.deepEqual(await readCandles(db.connection, db.name), byVersion(3));
  const v4 = byVersion(3).map((c) => ({ ...c, version: 4, close: c.close + 1 }));
  await writer.write(WriteBatch.of(v4.map((candle) => ({ row: { kind: 'candle' as const, candle }, ref: 0 }))));
  assert.deepEqual(await readCandles(db.connection, db.name), v4);

  // Trades: the first write takes LOAD DATA (rendered from Avro bytes as the sink does);
  // a replay has duplicate-key warnings, so it goes through the INSERT path (several
  // statements of 3 rows in one transaction) and reports no new rows, as does a batch
  // kept as objects (the path when the server does not allow LOAD DATA).
  const trades = makeTrades('BTC', 10);
  const fromAvro = new WriteBatch<number>(true);
  for (const trade of trades) fromAvro.addTradeAvro(codecs().trade.encode(trade), 0);
  assert.equal((await writer.write(fromAvro)).tradesInserted, 10);
  assert.equal((await writer.write(fromAvro)).tradesInserted, 0);
  const items = trades.map((trade) => ({ row: { kind: 'trade' as const, trade }, ref: 0 }));
  assert.equal((await writer.write(WriteBatch.of(items, false))).tradesInserted, 0);
  assert.deepEqual(
    await readTrades(db.connection, db.name),
    [...trades].sort((a, b) => (a.id < b.id ? -1 : 1)),
  );
});

test('waiting for MySQL retries with backoff until it answers or the wait is cancelled', async () => {
  const lines: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (l: string) => lines.push(l) });
  const s = new MysqlSession(mysqlConfig('finpipe', 1), logger); // nothing listens on port 1
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 1_500);
  await assert.rejects(
    s.waitConnected(controller.signal, { initialMs: 100, maxMs: 400 }),
    (e: unknown) => e instanceof FinpipeError && e.code === 'MYSQL_UNAVAILABLE' && /cannot reach MySQL at 127\.0\.0\.1:1/.test(e.message),
  );
  const waits = lines
    .map((l) => JSON.parse(l) as { msg?: string; attempt?: number })
    .filter((r) => r.msg === 'waiting for MySQL at 127.0.0.1:1');
  assert.ok(waits.length >= 3, `retried ${waits.length} times`);
  assert.ok(waits.every((w, i) => w.attempt === i + 1));
});

test('a database name that is not a safe identifier is refused', async () => {
  const s = new MysqlSession(mysqlConfig('x`; DROP DATABASE finpipe; --'), silent);
  await assert.rejects(s.connection(), (e: unknown) => e instanceof FinpipeError && /refusing database name/.test(e.message));
});
