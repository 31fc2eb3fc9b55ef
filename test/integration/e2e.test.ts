import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { runCli, startCli, type RunningCli } from '../helpers/cli';
import { deleteTopicsQuietly, waitFor } from '../helpers/kafka';
import { createDatabase } from '../helpers/mysql';
import { symbolToTopic } from '../../src/core/symbols';
import { freePort } from '../../src/core/net';

/**
 * The whole pipeline, every stage a real `finpipe` process: simulate -> produce -> process
 * -> sink -> MariaDB. The input is what produce received (its --record file); the output
 * is what MySQL holds. They must be equal exactly, and every closed candle must equal a
 * recomputation by SQL from the trades table — also when process or sink is killed with
 * SIGKILL in the middle of the run and restarted.
 *
 * Lateness is 5 s, more than the simulator's out-of-order spread (at most 3 s), so no
 * trade is late and the trades table holds exactly the trades the candles were built from.
 */
const TRADES = 8000;
const RATE = 1000;

interface Pipeline {
  symbols: string[];
  db: Awaited<ReturnType<typeof createDatabase>>;
  env: Record<string, string>;
  recordFile: string;
  processArgs: string[];
  sinkArgs: string[];
  stages: Record<'simulate' | 'produce' | 'process' | 'sink', RunningCli>;
}

async function startPipeline(t: TestContext, label: string): Promise<Pipeline> {
  const tag = randomUUID().slice(0, 6).toUpperCase();
  const symbols = [`E2E${tag}:BTC`, `E2E${tag}:ETH`, `E2E${tag}:EUR USD`];
  const outputs = symbols.map(symbolToTopic);
  const db = await createDatabase(t, `fp_e2e_${label}`);
  const id = tag.toLowerCase();
  const env = {
    FINPIPE_RAW_TOPIC: `e2e-raw-${id}`,
    FINPIPE_DLQ_TOPIC: `e2e-dlq-${id}`,
    FINPIPE_LATE_TOPIC: `e2e-late-${id}`,
    FINPIPE_MYSQL_URL: db.url,
    FINNHUB_TOKEN: 'e2e-test-token',
  };
  const processGroup = `e2e-process-${id}`;
  t.after(() =>
    deleteTopicsQuietly([env.FINPIPE_RAW_TOPIC, env.FINPIPE_DLQ_TOPIC, env.FINPIPE_LATE_TOPIC, `${processGroup}-state`, ...outputs]),
  );
  const recordFile = path.join(mkdtempSync(path.join(tmpdir(), 'finpipe-e2e-')), 'received.ndjson');
  const port = await freePort();
  const processArgs = ['process', ...symbols, '--group', processGroup, '--windows', '1s,10s', '--lateness', '5s'];
  const sinkArgs = ['sink', ...outputs, '--group', `e2e-sink-${id}`];

  // Start-up order: topics, sink and process (the consumers), then the feed.
  const topics = await runCli(['topics', 'create'], env);
  assert.equal(topics.code, 0, topics.stderr);
  const sink = startCli(t, sinkArgs, env);
  const processStage = startCli(t, processArgs, env);
  const simulate = startCli(
    t,
    [
      'simulate',
      '--port',
      String(port),
      '--symbols',
      symbols.join(','),
      '--rate',
      String(RATE),
      '--seed',
      '7',
      '--max-trades',
      String(TRADES),
    ],
    env,
  );
  await waitFor(
    'the simulator to listen',
    () =>
      fetch(`http://127.0.0.1:${port}/api/v1/search?q=E2E&token=x`).then(
        (r) => r.ok,
        () => false,
      ),
    20_000,
  );
  const produce = startCli(t, ['produce', ...symbols, '--url', `ws://127.0.0.1:${port}`, '--record', recordFile], env);
  return { symbols, db, env, recordFile, processArgs, sinkArgs, stages: { simulate, produce, process: processStage, sink } };
}

/** Waits like waitFor, but on a timeout shows what each stage said (the only clue in CI). */
async function waitForPipeline(p: Pipeline, what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  try {
    await waitFor(what, check, timeoutMs, 50);
  } catch (error) {
    const logs = Object.entries(p.stages).map(
      ([name, s]) =>
        `--- ${name} (exit ${s.child.exitCode ?? s.child.signalCode ?? 'running'}) ---\n${s.output().stderr.slice(-1500)}${s.output().stdout.slice(-500)}`,
    );
    throw new Error(`${(error as Error).message}; ${await tradesInMysql(p)} trades in MySQL\n${logs.join('\n')}`);
  }
}

async function tradesInMysql(p: Pipeline): Promise<number> {
  try {
    const [[row]] = await p.db.connection.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${p.db.name}\`.trades`);
    return Number(row.n);
  } catch {
    return 0; // the sink has not created the table yet
  }
}

/** What produce received, as sorted comparable rows. */
function receivedTrades(file: string): string[] {
  const rows: string[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const frame = JSON.parse(line) as { type: string; data?: { s: string; p: number; t: number; v: number; c?: string[] }[] };
    if (frame.type !== 'trade') continue;
    for (const d of frame.data ?? []) rows.push(JSON.stringify([d.s, d.p, d.t, d.v, d.c ?? []]));
  }
  return rows.sort();
}

async function storedTrades(p: Pipeline): Promise<string[]> {
  const [rows] = await p.db.connection.query<RowDataPacket[]>(
    `SELECT symbol, price, ROUND(UNIX_TIMESTAMP(trade_timestamp) * 1000) AS t, volume, trade_conditions AS c FROM \`${p.db.name}\`.trades`,
  );
  return rows
    .map((r) => JSON.stringify([r.symbol, r.price, Number(r.t), r.volume, typeof r.c === 'string' ? JSON.parse(r.c) : r.c]))
    .sort();
}

async function finish(p: Pipeline): Promise<void> {
  await waitForPipeline(p, `all ${TRADES} trades in MySQL`, async () => (await tradesInMysql(p)) >= TRADES, 30_000);
  // Let process emit the candles the last watermark closes, and sink write them.
  await new Promise((r) => setTimeout(r, 1500));
  for (const name of ['produce', 'simulate', 'process', 'sink'] as const) {
    const r = await p.stages[name].stop('SIGTERM');
    assert.equal(r.code, 0, `${name} exits 0 on SIGTERM:\n${r.stderr.slice(-2000)}`);
  }
}

async function assertExactOutput(p: Pipeline): Promise<void> {
  await p.db.connection.query("SET time_zone = '+00:00'");
  const input = receivedTrades(p.recordFile);
  assert.equal(input.length, TRADES, 'the simulator sent exactly --max-trades trades');
  const output = await storedTrades(p);
  assert.equal(output.length, input.length, 'every trade exactly once in MySQL');
  assert.deepEqual(output, input);

  const [ids] = await p.db.connection.query<RowDataPacket[]>(`SELECT COUNT(DISTINCT id) AS n FROM \`${p.db.name}\`.trades`);
  assert.equal(Number(ids[0].n), TRADES);

  // Every closed candle against SQL over the trades table.
  const [candles] = await p.db.connection
    .query<RowDataPacket[]>(
      `
    SELECT c.symbol, c.window_ms, c.window_start, c.open, c.high, c.low, c.close, c.volume, c.vwap, c.trade_count, c.avg_price,
           r.n, r.hi, r.lo, r.vol, r.avg_p, r.pv,
           (SELECT JSON_ARRAYAGG(t.price) FROM \`${p.db.name}\`.trades t WHERE t.symbol = c.symbol AND t.trade_timestamp = r.first_t) AS opens,
           (SELECT JSON_ARRAYAGG(t.price) FROM \`${p.db.name}\`.trades t WHERE t.symbol = c.symbol AND t.trade_timestamp = r.last_t) AS closes
    FROM \`${p.db.name}\`.candles c
    JOIN LATERAL (
      SELECT COUNT(*) AS n, MAX(price) AS hi, MIN(price) AS lo, SUM(volume) AS vol, AVG(price) AS avg_p, SUM(price * volume) AS pv,
             MIN(trade_timestamp) AS first_t, MAX(trade_timestamp) AS last_t
      FROM \`${p.db.name}\`.trades t
      WHERE t.symbol = c.symbol AND t.trade_timestamp >= c.window_start AND t.trade_timestamp < c.window_end
    ) r
    WHERE c.is_final = 1`,
    )
    .catch(async (error) => {
      // MariaDB 10.11 has no LATERAL; fall back to a correlated form.
      if (!/syntax|LATERAL/i.test(String(error))) throw error;
      return p.db.connection.query<RowDataPacket[]>(`
      SELECT c.symbol, c.window_ms, c.window_start, c.open, c.high, c.low, c.close, c.volume, c.vwap, c.trade_count, c.avg_price,
             COUNT(t.id) AS n, MAX(t.price) AS hi, MIN(t.price) AS lo, SUM(t.volume) AS vol, AVG(t.price) AS avg_p, SUM(t.price * t.volume) AS pv,
             (SELECT JSON_ARRAYAGG(x.price) FROM \`${p.db.name}\`.trades x WHERE x.symbol = c.symbol AND x.trade_timestamp = MIN(t.trade_timestamp)) AS opens,
             (SELECT JSON_ARRAYAGG(x.price) FROM \`${p.db.name}\`.trades x WHERE x.symbol = c.symbol AND x.trade_timestamp = MAX(t.trade_timestamp)) AS closes
      FROM \`${p.db.name}\`.candles c
      JOIN \`${p.db.name}\`.trades t ON t.symbol = c.symbol AND t.trade_timestamp >= c.window_start AND t.trade_timestamp < c.window_end
      WHERE c.is_final = 1
      GROUP BY c.symbol, c.window_ms, c.window_start`);
    });
  assert.ok(candles.length >= 10, `closed candles to check (got ${candles.length})`);
  const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
  for (const c of candles) {
    const where = `${c.symbol} ${c.window_ms} ms @ ${c.window_start}`;
    assert.equal(Number(c.trade_count), Number(c.n), `${where}: trade_count`);
    assert.equal(c.high, c.hi, `${where}: high`);
    assert.equal(c.low, c.lo, `${where}: low`);
    assert.ok(close(Number(c.volume), Number(c.vol)), `${where}: volume ${c.volume} vs ${c.vol}`);
    assert.ok(close(Number(c.avg_price), Number(c.avg_p)), `${where}: avg_price ${c.avg_price} vs ${c.avg_p}`);
    if (Number(c.vol) > 0)
      assert.ok(close(Number(c.vwap), Number(c.pv) / Number(c.vol)), `${where}: vwap ${c.vwap} vs ${Number(c.pv) / Number(c.vol)}`);
    else assert.equal(c.vwap, null, `${where}: vwap is null without volume`);
    const parse = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v) as number[];
    assert.ok(parse(c.opens).includes(c.open as number), `${where}: open ${c.open} is a price of the earliest trade ${c.opens}`);
    assert.ok(parse(c.closes).includes(c.close as number), `${where}: close ${c.close} is a price of the latest trade ${c.closes}`);
  }
}

test('simulator -> produce -> process -> sink: MySQL holds exactly the input and SQL-exact closed candles', async (t) => {
  const p = await startPipeline(t, 'plain');
  await finish(p);
  await assertExactOutput(p);
});

/** SIGKILL one stage once `fraction` of the trades are in MySQL, then start it again. */
async function killAndRestart(t: TestContext, p: Pipeline, stage: 'process' | 'sink', fraction: number): Promise<void> {
  await waitForPipeline(p, `${fraction * 100}% of the trades in MySQL`, async () => (await tradesInMysql(p)) >= TRADES * fraction, 60_000);
  p.stages[stage].child.kill('SIGKILL');
  await p.stages[stage].exited;
  p.stages[stage] = startCli(t, stage === 'process' ? p.processArgs : p.sinkArgs, p.env);
}

test('the same with process killed (SIGKILL) mid-run and restarted', async (t) => {
  const p = await startPipeline(t, 'kproc');
  await killAndRestart(t, p, 'process', 1 / 3);
  await finish(p);
  await assertExactOutput(p);
});

test('the same with sink killed (SIGKILL) mid-run and restarted', async (t) => {
  const p = await startPipeline(t, 'ksink');
  await killAndRestart(t, p, 'sink', 1 / 2);
  await finish(p);
  await assertExactOutput(p);
});
