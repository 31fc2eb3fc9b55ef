import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { loadConfig, type Config } from '../../src/core/config';
import { FinpipeError } from '../../src/core/errors';
import { CassandraStore } from '../../src/core/stores/cassandra/store';
import { CassandraBatch } from '../../src/core/stores/cassandra/batch';
import { CassandraReader } from '../../src/core/stores/cassandra/reader';
import { connectOnce, shutdownClient } from '../../src/core/stores/cassandra/client';
import { migrate, SCHEMA_VERSION } from '../../src/core/stores/cassandra/schema';
import type { Candle, Trade } from '../../src/core/serde';
import { runCli } from '../helpers/cli';
import { createKeyspace, readCassandraCandles, readCassandraTrades, type TestKeyspace } from '../helpers/cassandra';
import { finalCandles, makeCandles, makeTrades, sortTrades } from './sink-fixtures';

const silent = pino({ level: 'silent' });

function configFor(ks: TestKeyspace): Config {
  return loadConfig({ env: { ...ks.env }, envFile: '/dev/null', onWarning: () => {} });
}

async function openStore(t: { after(fn: () => unknown): void }, ks: TestKeyspace): Promise<CassandraStore<number>> {
  const store = new CassandraStore<number>({ config: configFor(ks), logger: silent }, { maxInFlight: 2, chunkRows: 5_000 });
  t.after(() => store.close());
  await store.ensureSchema(new AbortController().signal);
  return store;
}

const tradeRows = (trades: Trade[]) => trades.map((trade, i) => ({ row: { kind: 'trade' as const, trade }, ref: i }));
const candleRows = (candles: Candle[]) => candles.map((candle, i) => ({ row: { kind: 'candle' as const, candle }, ref: 1_000 + i }));

test('the keyspace and tables are created when missing, keyed for their reads; migrating again changes nothing', async (t) => {
  const ks = await createKeyspace(t);
  const config = configFor(ks);
  const client = await connectOnce(config.cassandra);
  t.after(() => shutdownClient(client));
  assert.deepEqual(await migrate(client, config.cassandra), {
    from: 0,
    to: SCHEMA_VERSION,
    applied: [{ version: 1, name: 'create trades, candles and symbol_partitions' }],
  });
  const keyspace = await ks.client.execute('SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?', [ks.name]);
  assert.match((keyspace.first().replication as Record<string, string>).class, /SimpleStrategy/);
  const columns = await ks.client.execute(
    'SELECT table_name, column_name, kind, position, clustering_order, type FROM system_schema.columns WHERE keyspace_name = ?',
    [ks.name],
  );
  const keyOf = (table: string, kind: string) =>
    columns.rows
      .filter((r) => r.table_name === table && r.kind === kind)
      .sort((a, b) => Number(a.position) - Number(b.position))
      .map((r) => String(r.column_name));
  assert.deepEqual(keyOf('trades', 'partition_key'), ['symbol', 'day']);
  assert.deepEqual(keyOf('trades', 'clustering'), ['trade_timestamp', 'id']);
  assert.deepEqual(keyOf('candles', 'partition_key'), ['symbol', 'window_ms', 'day']);
  assert.deepEqual(keyOf('candles', 'clustering'), ['window_start']);
  const type = (table: string, column: string) =>
    String(columns.rows.find((r) => r.table_name === table && r.column_name === column)?.type);
  assert.equal(type('trades', 'price'), 'double');
  assert.equal(type('trades', 'trade_timestamp'), 'timestamp');
  assert.equal(type('trades', 'trade_conditions'), 'frozen<list<text>>');
  assert.deepEqual(await migrate(client, config.cassandra), { from: SCHEMA_VERSION, to: SCHEMA_VERSION, applied: [] });

  await ks.client.execute(
    `INSERT INTO ${ks.name}.finpipe_migrations (version, name, applied_at) VALUES (99, 'from the future', toTimestamp(now()))`,
  );
  await assert.rejects(
    migrate(client, config.cassandra),
    (e: unknown) => e instanceof FinpipeError && /schema version 99, newer than this finpipe knows/.test(e.message),
  );
});

test('a table of the same name that finpipe did not create is reported, not written', async (t) => {
  const ks = await createKeyspace(t);
  await ks.client.execute(`CREATE KEYSPACE ${ks.name} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`);
  await ks.client.execute(`CREATE TABLE ${ks.name}.trades (id text PRIMARY KEY, note text)`);
  const store = new CassandraStore<number>({ config: configFor(ks), logger: silent }, { maxInFlight: 1, chunkRows: 1 });
  t.after(() => store.close());
  await assert.rejects(
    store.ensureSchema(new AbortController().signal),
    (e: unknown) =>
      e instanceof FinpipeError && !e.retriable && /trades exists but lacks columns|refused to create the schema/.test(e.message),
  );
});

test('candle versions never go backwards: older versions written after a newer one change nothing (USING TIMESTAMP = version)', async (t) => {
  const ks = await createKeyspace(t);
  const store = await openStore(t, ks);
  const versions = makeCandles('BTC', 4, 3);
  const byVersion = (v: number) => versions.filter((c) => c.version === v);
  await store.write(CassandraBatch.of(candleRows(byVersion(3))));
  await store.write(CassandraBatch.of(candleRows(byVersion(1))));
  await store.write(CassandraBatch.of(candleRows(byVersion(2))));
  assert.deepEqual(await readCassandraCandles(ks), byVersion(3));
  // A newer version with a null vwap replaces a value (the null is a newer cell too).
  const v4 = byVersion(3).map((c) => ({ ...c, version: 4, close: c.close + 1, vwap: null }));
  await store.write(CassandraBatch.of(candleRows(v4)));
  assert.deepEqual(await readCassandraCandles(ks), v4);
  // Within one batch only the newest version of a window is sent.
  const result = await store.write(CassandraBatch.of(candleRows([...byVersion(1), ...v4, ...byVersion(2)])));
  assert.equal(result.candles, 4);
  assert.deepEqual(await readCassandraCandles(ks), v4);
});

test('trades are idempotent by key, spread over day partitions, and a row Cassandra cannot take is rejected alone', async (t) => {
  const ks = await createKeyspace(t);
  const store = await openStore(t, ks);
  // 2,000 trades 50 s apart: about 1.2 days, so two day partitions per symbol.
  const trades = [...makeTrades('AAPL', 1_000), ...makeTrades('MSFT', 1_000)].map((tr, i) => ({
    ...tr,
    trade_timestamp: Date.UTC(2024, 0, 2, 20) + (i % 1_000) * 50_000,
  }));
  const first = await store.write(CassandraBatch.of(tradeRows(trades)));
  assert.deepEqual({ ...first, rejected: first.rejected.length }, { trades: 2_000, tradesInserted: 2_000, candles: 0, rejected: 0 });
  await store.write(CassandraBatch.of(tradeRows([...trades, ...trades.slice(0, 10)]))); // replayed, and a duplicate within the batch
  assert.deepEqual(await readCassandraTrades(ks), sortTrades(trades));

  // A row the driver cannot encode (a price that is not a number) stands in for any row Cassandra refuses.
  const bad = { ...makeTrades('AAPL', 1, Date.UTC(2024, 0, 5))[0], price: 'not a number' as unknown as number };
  const good = makeTrades('AAPL', 20, Date.UTC(2024, 0, 5, 0, 0, 1));
  const result = await store.write(CassandraBatch.of(tradeRows([bad, ...good])));
  assert.equal(result.rejected.length, 1);
  assert.equal(result.rejected[0].ref, 0);
  assert.match(result.rejected[0].reason, /rejected by Cassandra: .*/);
  assert.equal(result.trades, 20);
  assert.deepEqual(await readCassandraTrades(ks), sortTrades([...trades, ...good]));

  const days = await ks.client.execute(`SELECT symbol, window_ms, day FROM ${ks.name}.symbol_partitions WHERE symbol = 'MSFT'`);
  assert.deepEqual(
    days.rows.map((r) => `${String(r.window_ms)} ${String(r.day)}`),
    ['0 2024-01-02', '0 2024-01-03'],
  );
});

test('the reader answers status, demo and dashboard queries from the partitions it knows', async (t) => {
  const ks = await createKeyspace(t);
  const reader = new CassandraReader({ config: configFor(ks), logger: silent });
  t.after(() => reader.close());
  await reader.open();
  assert.deepEqual(await reader.symbols(), [], 'nothing before the sink created the tables');
  assert.deepEqual(await reader.symbolSummaries(), []);
  await assert.rejects(reader.rowCounts(['AAPL'], 0), /do not exist yet/);

  const store = await openStore(t, ks);
  const trades = makeTrades('AAPL', 300);
  const candles = makeCandles('AAPL', 30, 2);
  await store.write(CassandraBatch.of([...tradeRows(trades), ...candleRows(candles)]));
  const finals = finalCandles(candles);
  const last = trades[trades.length - 1];

  assert.deepEqual(await reader.symbols(), ['AAPL']);
  assert.deepEqual(await reader.windowSizes('AAPL'), [10_000]);
  assert.deepEqual(await reader.symbolSummaries(), [
    {
      symbol: 'AAPL',
      trades: 300,
      lastTrade: new Date(last.trade_timestamp).toISOString(),
      lastCandle: new Date(finals[finals.length - 1].window_end).toISOString(),
    },
  ]);
  const since = trades[100].trade_timestamp;
  assert.deepEqual(await reader.rowCounts(['AAPL', 'NONE'], since), {
    trades: 200,
    candles: finals.filter((c) => c.window_end > since).length,
  });
  const latest = await reader.latestTrades('AAPL', 3);
  assert.deepEqual(
    latest.map((r) => r.id),
    trades
      .slice(-3)
      .reverse()
      .map((tr) => tr.id),
  );
  const range = await reader.candles('AAPL', 10_000, { fromMs: finals[5].window_start, toMs: finals[20].window_start, limit: 4 });
  assert.deepEqual(
    range.map((c) => c.window_start),
    finals.slice(16, 20).map((c) => c.window_start),
  );
  const [newest] = await reader.latestCandles(['AAPL']);
  assert.equal(newest.window_start, new Date(finals[finals.length - 1].window_start).toISOString().replace('T', ' ').replace('Z', ''));
  assert.equal(newest.is_final, 1);
  assert.ok(((await reader.newestTradeAgeMs(['AAPL'], 0)) ?? 0) >= Date.now() - last.trade_timestamp - 1_000);

  const status = await runCli(['status', '--format', 'json'], ks.env);
  const json = JSON.parse(status.stdout) as {
    store: string;
    services: { cassandra: { reachable: boolean; version: string } };
    symbols: unknown[];
  };
  assert.equal(json.store, 'cassandra');
  assert.equal(json.services.cassandra.reachable, true, status.stderr);
  assert.match(json.services.cassandra.version, /^5\./);
  assert.deepEqual(json.symbols, await reader.symbolSummaries());
});

test('status names an unreachable Cassandra and says how to start it', async () => {
  const r = await runCli(['status'], { FINPIPE_STORE: 'cassandra', FINPIPE_CASSANDRA_CONTACT_POINTS: '127.0.0.1:1' });
  assert.equal(r.code, 1);
  assert.match(r.stdout, /cassandra {2}.*DOWN.*127\.0\.0\.1:1\/finpipe/);
  assert.match(r.stderr, /Cassandra unreachable.*services:up -- cassandra/);
});
