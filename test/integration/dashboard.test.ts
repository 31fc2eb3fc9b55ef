import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { createDatabase } from '../helpers/mysql';
import { migrate } from '../../src/core/stores/mysql/schema';

/**
 * The Grafana dashboard's SQL must run against the tables `finpipe sink` creates. Grafana
 * expands its macros before sending a query; this test expands the ones the dashboard uses
 * the way Grafana's MySQL datasource does, then runs every query on real, migrated tables.
 */
const DASHBOARD = path.resolve(__dirname, '../../../docker/grafana/dashboards/finpipe.json');

interface Target {
  rawSql: string;
}
interface Panel {
  title: string;
  targets: Target[];
}

function expandMacros(sql: string, vars: Record<string, string>, from: Date, to: Date): string {
  const epoch = (d: Date) => Math.floor(d.getTime() / 1000);
  let out = sql
    .replace(/\$__timeFilter\(([^)]+)\)/g, (_, col) => `${col} BETWEEN FROM_UNIXTIME(${epoch(from)}) AND FROM_UNIXTIME(${epoch(to)})`)
    .replace(
      /\$__timeGroupAlias\(([^,]+),\s*'(\d+)s'\)/g,
      (_, col, secs) => `cast(cast(UNIX_TIMESTAMP(${col})/(${secs}) as signed)*${secs} as signed) AS "time"`,
    );
  for (const [name, value] of Object.entries(vars)) out = out.replaceAll(`$${name}`, value);
  assert.doesNotMatch(out, /\$\w/, `unexpanded macro or variable left in:\n${out}`);
  return out;
}

test("every dashboard query runs against the sink's tables and returns the data", async (t) => {
  const db = await createDatabase(t, 'fp_dash');
  const conn = db.connection;
  await conn.query(`USE \`${db.name}\``);
  await conn.query("SET time_zone = '+00:00'");
  await migrate(conn, db.name);

  const now = Date.now();
  const windowStart = Math.floor((now - 60_000) / 10_000) * 10_000;
  const utc = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
  await conn.query(
    `INSERT INTO trades (id, symbol, price, volume, trade_timestamp, ingest_timestamp, trade_conditions) VALUES
     ('00000000-0000-5000-8000-000000000001', 'BINANCE:BTCUSDT', 60000.5, 0.25, ?, ?, '[]'),
     ('00000000-0000-5000-8000-000000000002', 'BINANCE:BTCUSDT', 60001.5, 0.5, ?, ?, '["1"]'),
     ('00000000-0000-5000-8000-000000000003', 'AAPL', 190.1, 10, ?, ?, '[]')`,
    [
      utc(windowStart + 1000),
      utc(windowStart + 1040),
      utc(windowStart + 2000),
      utc(windowStart + 2010),
      utc(windowStart + 3000),
      utc(windowStart + 3100),
    ],
  );
  await conn.query(
    `INSERT INTO candles (symbol, window_ms, window_start, window_end, open, high, low, close, volume, vwap, trade_count, avg_price, is_final, version) VALUES
     ('BINANCE:BTCUSDT', 10000, ?, ?, 60000.5, 60001.5, 60000.5, 60001.5, 0.75, 60001.1666, 2, 60001, 1, 3),
     ('AAPL', 10000, ?, ?, 190.1, 190.1, 190.1, 190.1, 10, 190.1, 1, 190.1, 1, 1)`,
    [utc(windowStart), utc(windowStart + 10_000), utc(windowStart), utc(windowStart + 10_000)],
  );

  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
    refresh: string;
    panels: Panel[];
    templating: { list: { name: string; query: string }[] };
  };
  assert.equal(dashboard.refresh, '1s');
  const from = new Date(now - 15 * 60_000);
  const to = new Date(now + 60_000);

  // Template variables first: their queries feed the panels.
  const variables: Record<string, string[]> = {};
  for (const v of dashboard.templating.list) {
    const [rows] = await conn.query<RowDataPacket[]>(v.query);
    variables[v.name] = rows.map((r) => String(Object.values(r)[0]));
  }
  assert.deepEqual(variables.symbol, ['AAPL', 'BINANCE:BTCUSDT']);
  assert.deepEqual(variables.window, ['10000']);

  const results = new Map<string, RowDataPacket[]>();
  for (const panel of dashboard.panels) {
    for (const target of panel.targets) {
      const sql = expandMacros(target.rawSql, { symbol: 'BINANCE:BTCUSDT', window: '10000' }, from, to);
      const [rows] = await conn.query<RowDataPacket[]>(sql);
      results.set(panel.title, rows);
    }
  }
  const candles = results.get('$symbol candles ($window ms windows)')!;
  assert.equal(candles.length, 1);
  assert.deepEqual(
    [candles[0].open, candles[0].high, candles[0].low, candles[0].close, candles[0].volume],
    [60000.5, 60001.5, 60000.5, 60001.5, 0.75],
  );
  const closes = results.get('Last close per symbol')!;
  assert.deepEqual(
    closes.map((r): unknown[] => [r.metric, r.value]),
    [
      ['AAPL', 190.1],
      ['BINANCE:BTCUSDT', 60001.5],
    ],
  );
  assert.equal(results.get('$symbol volume per window')!.length, 1);
  const rates = results.get('Trades/s per symbol')!;
  assert.equal(
    rates.reduce((sum, r) => sum + Number(r.value), 0),
    3,
    'every trade counted once',
  );
  const delays = results.get('Ingest delay (trade time -> produce), ms')!;
  assert.ok(
    delays.some((r) => r.metric === 'BINANCE:BTCUSDT' && Math.abs(Number(r.value) - 40) < 0.01),
    JSON.stringify(delays),
  );
});
