/**
 * End-to-end benchmark: the real `finpipe produce`, `process` and `sink` as separate
 * processes against the local Kafka broker and MariaDB.
 *
 *  1. Latency at a steady 1,000 trades/s: trades are POSTed to `produce --http` with their
 *     timestamp set to the clock at the moment they are sent (several trades may share a
 *     millisecond; each carries a sequence number as its volume, which identifies its row);
 *     MySQL is polled every 5 ms and each trade's latency is (first poll that sees its row)
 *     - (its timestamp). One symbol, so "newly visible" is a simple range query.
 *  2. Throughput: N deterministic trades (4 symbols) replayed with `produce --from-file` at
 *     full speed; the figure is N / (time from starting produce until the last row is
 *     visible in MySQL; process and sink joined their groups before, so their start-up is
 *     not in it). The stored trades are then compared with the input (symbol, time, price,
 *     volume): a trade missing or stored more often than it was sent fails the run.
 *
 * Usage: node dist/test/bench/e2e.js [--trades 1000000] [--latency-seconds 20]
 * (1,000,000 by default: long enough that produce's start-up, inside the clock, weighs little.)
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { createTradeGenerator } from '../../src/core/simulator';
import { symbolToTopic } from '../../src/core/symbols';
import { deleteTopicsQuietly, testKafka } from '../helpers/kafka';
import { MYSQL } from '../helpers/mysql';
import { emitResult, fmt, freePort, maximum, median, percentile, startFinpipe, type Child } from './lib';
import { brokerPid, cpuSeconds, pidOf } from './process-check';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const TRADES = arg('trades', 1_000_000);
const LATENCY_SECONDS = arg('latency-seconds', 20);
const RATE = 1000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number, children: Child[] = []): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    const dead = children.find((c) => (c.proc.exitCode !== null && c.proc.exitCode !== 0) || c.proc.signalCode !== null);
    if (dead)
      throw new Error(
        `finpipe ${dead.proc.spawnargs.slice(2).join(' ')} exited with ${dead.proc.exitCode} while waiting for ${what}:\n${dead.output().slice(-3000)}`,
      );
    if (Date.now() > deadline) {
      for (const c of children) process.stderr.write(c.output().slice(-3000));
      throw new Error(`timed out waiting for ${what}`);
    }
    await sleep(20);
  }
}

async function stableGroup(groupId: string): Promise<boolean> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([groupId]);
    return groups[0]?.state === 'Stable' && groups[0].members.length > 0;
  } finally {
    await admin.disconnect();
  }
}

interface Run {
  env: Record<string, string>;
  db: mysql.Connection;
  database: string;
  topics: string[];
  children: Child[];
}

async function setUp(label: string, symbols: string[]): Promise<Run> {
  const id = randomUUID().slice(0, 8);
  const database = `fp_bench_${label}_${id}`;
  const env = {
    FINPIPE_RAW_TOPIC: `bench-${label}-raw-${id}`,
    FINPIPE_DLQ_TOPIC: `bench-${label}-dlq-${id}`,
    FINPIPE_LATE_TOPIC: `bench-${label}-late-${id}`,
    FINPIPE_MYSQL_URL: `mysql://${MYSQL.user}@${MYSQL.host}:${MYSQL.port}/${database}`,
    FINPIPE_LOG_LEVEL: 'warn',
  };
  const processGroup = `bench-${label}-process-${id}`;
  const sinkGroup = `bench-${label}-sink-${id}`;
  const outputs = symbols.map(symbolToTopic);
  const db = await mysql.createConnection({ ...MYSQL });
  await db.query(`CREATE DATABASE \`${database}\``);
  await db.query(`USE \`${database}\``);
  await db.query("SET time_zone = '+00:00'");
  const run: Run = {
    env,
    db,
    database,
    topics: [env.FINPIPE_RAW_TOPIC, env.FINPIPE_DLQ_TOPIC, env.FINPIPE_LATE_TOPIC, `${processGroup}-state`, ...outputs],
    children: [],
  };
  // As a user would: the raw topic, and the per-symbol topics (1 partition, as process makes
  // them) so the sink joins its group before the first trade.
  for (const [names, partitions] of [
    [[env.FINPIPE_RAW_TOPIC], 6],
    [outputs, 1],
  ] as const) {
    const create = startFinpipe(['topics', 'create', ...names, '--partitions', String(partitions)], env);
    if ((await create.exited) !== 0) throw new Error(`topics create failed: ${create.output()}`);
  }
  run.children.push(startFinpipe(['sink', ...outputs, '--group', sinkGroup], env));
  run.children.push(startFinpipe(['process', ...symbols, '--group', processGroup, '--windows', '10s'], env));
  await waitUntil(
    'process and sink to join their groups',
    async () => (await stableGroup(processGroup)) && (await stableGroup(sinkGroup)),
    60_000,
    run.children,
  );
  return run;
}

async function tearDown(run: Run): Promise<void> {
  await Promise.all(run.children.map((c) => c.stop()));
  await run.db.query(`DROP DATABASE IF EXISTS \`${run.database}\``).catch(() => {});
  await run.db.end().catch(() => {});
  await deleteTopicsQuietly(run.topics);
}

async function count(run: Run, symbols: string[]): Promise<number> {
  try {
    const [[row]] = await run.db.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM trades WHERE symbol IN (?)', [symbols]);
    return Number(row.n);
  } catch {
    return 0; // the table appears with the sink's first write
  }
}

/** Whether every symbol's newest input trade (by event time) has a row: a cheap hint that the run may be complete. */
async function newestVisible(run: Run, latest: Map<string, number>): Promise<boolean> {
  for (const [symbol, time] of latest) {
    const [rows] = await run.db
      .query<RowDataPacket[]>('SELECT 1 FROM trades WHERE symbol = ? AND trade_timestamp >= FROM_UNIXTIME(? / 1000) LIMIT 1', [
        symbol,
        time,
      ])
      .catch(() => [[]] as unknown as [RowDataPacket[]]); // the table appears with the sink's first write
    if (rows.length === 0) return false;
  }
  return true;
}

async function latencyPhase(): Promise<{ p50: number; p99: number; max: number; trades: number }> {
  const symbol = `LAT${randomUUID().slice(0, 6).toUpperCase()}:BTC`;
  const run = await setUp('lat', [symbol]);
  try {
    const port = await freePort();
    const produce = startFinpipe(['produce', '--http', String(port), '--linger', '5ms'], run.env);
    run.children.push(produce);
    const url = `http://127.0.0.1:${port}/trades`;
    await waitUntil(
      'produce --http to listen',
      async () =>
        fetch(`http://127.0.0.1:${port}/health`).then(
          (r) => r.ok,
          () => false,
        ),
      30_000,
      [produce],
    );

    let seq = 0;
    let measuring = false;
    let polling = true;
    // Rows may become visible out of order (the sink runs two transactions at once), so the
    // poller asks for everything from the oldest trade not yet seen and checks rows off.
    // Trade timestamps are the real clock, never nudged forward to be unique: a sender that
    // falls behind schedule would otherwise stamp trades in the future and hide latency.
    const unseen = new Map<number, number>(); // sequence number (the volume) -> timestamp
    const post = async (n: number) => {
      const trades = [];
      for (let i = 0; i < n; i++) {
        const t = Date.now();
        seq++;
        trades.push({ s: symbol, p: 100 + Math.random(), t, v: seq });
        if (measuring) unseen.set(seq, t);
      }
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(trades) });
      if (r.status !== 202) throw new Error(`POST /trades answered ${r.status}: ${await r.text()}`);
    };
    // Warm-up: every stage has written once (tables exist, producers and transactions are set up).
    await post(100);
    await waitUntil('warm-up trades in MySQL', async () => (await count(run, [symbol])) >= 100, 60_000, run.children);

    const latencies: number[] = [];
    const poller = (async () => {
      while (polling) {
        if (unseen.size > 0) {
          let oldest = Infinity;
          for (const t of unseen.values()) if (t < oldest) oldest = t;
          const [rows] = await run.db.query<RowDataPacket[]>(
            'SELECT volume AS seq FROM trades WHERE symbol = ? AND trade_timestamp >= FROM_UNIXTIME(? / 1000)',
            [symbol, oldest],
          );
          const now = Date.now();
          for (const r of rows) {
            const t = unseen.get(Number(r.seq));
            if (t !== undefined) {
              unseen.delete(Number(r.seq));
              latencies.push(now - t);
            }
          }
        }
        await sleep(5);
      }
    })();
    // Steady 1,000 trades/s: 10 trades every 10 ms, paced against the clock (no drift).
    measuring = true;
    const start = Date.now();
    for (let tick = 0; tick < LATENCY_SECONDS * 100; tick++) {
      const due = start + tick * 10;
      if (due > Date.now()) await sleep(due - Date.now());
      await post(RATE / 100);
    }
    try {
      await waitUntil('every latency trade in MySQL', async () => unseen.size === 0, 60_000, run.children);
    } finally {
      polling = false;
      await poller;
    }
    return { p50: median(latencies), p99: percentile(latencies, 0.99), max: maximum(latencies), trades: latencies.length };
  } finally {
    await tearDown(run);
  }
}

/** A trade's identity as the input has it and as MySQL stores it. */
function tradeKey(symbol: string, time: number, price: number, volume: number): string {
  return `${symbol}|${time}|${price}|${volume}`;
}

/**
 * Lost and duplicated trades, by comparing the stored trades with the input (a multiset of
 * symbol, time, price and volume): counting rows or distinct ids cannot show a trade stored
 * twice under two ids, and k lost plus k duplicated would cancel out in a count.
 */
async function compareWithInput(
  run: Run,
  symbols: string[],
  input: Map<string, number>,
): Promise<{ lost: number; duplicated: number; rows: number }> {
  const [rows] = await run.db.query<RowDataPacket[]>(
    'SELECT symbol, CAST(ROUND(UNIX_TIMESTAMP(trade_timestamp) * 1000) AS SIGNED) AS t, price, volume FROM trades WHERE symbol IN (?)',
    [symbols],
  );
  const stored = new Map<string, number>();
  for (const r of rows) {
    const key = tradeKey(String(r.symbol), Number(r.t), Number(r.price), Number(r.volume));
    stored.set(key, (stored.get(key) ?? 0) + 1);
  }
  let lost = 0;
  let duplicated = 0;
  for (const [key, n] of input) lost += Math.max(0, n - (stored.get(key) ?? 0));
  for (const [key, n] of stored) duplicated += Math.max(0, n - (input.get(key) ?? 0));
  return { lost, duplicated, rows: rows.length };
}

async function throughputPhase(): Promise<{
  tradesPerSec: number;
  trades: number;
  inMysql: number;
  lost: number;
  duplicated: number;
  seconds: number;
  /** CPU seconds each program used during the run. */
  cpu: Record<string, number>;
}> {
  const tag = randomUUID().slice(0, 6).toUpperCase();
  const symbols = [`TP${tag}:BTC`, `TP${tag}:ETH`, `TP${tag}:EUR`, `TP${tag}:AAPL`];
  // The input file: deterministic trades in frames of up to 100 (like busy Finnhub frames).
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'finpipe-bench-')), 'trades.ndjson');
  // The generator's clock advances about 7 ms per trade, so a fixed start would put the tail
  // of a large run in the future, where process dead-letters it (--max-future): the trades are
  // generated from 0 and then placed so that the newest is a minute old.
  const generator = createTradeGenerator(symbols, 42, 0);
  const frames: ReturnType<typeof generator.nextBatch>[] = [];
  for (let left = TRADES; left > 0; left -= 100) frames.push(generator.nextBatch(Math.min(100, left)));
  const shift = Date.now() - 60_000 - frames.reduce((max, data) => data.reduce((m, t) => Math.max(m, t.t), max), 0);
  const lines: string[] = [];
  const input = new Map<string, number>();
  const latest = new Map<string, number>(); // symbol -> its newest trade time
  for (const data of frames) {
    for (const t of data) {
      t.t += shift;
      latest.set(t.s, Math.max(latest.get(t.s) ?? -Infinity, t.t));
      input.set(tradeKey(t.s, t.t, t.p, t.v), (input.get(tradeKey(t.s, t.t, t.p, t.v)) ?? 0) + 1);
    }
    lines.push(JSON.stringify({ type: 'trade', data }));
  }
  writeFileSync(file, `${lines.join('\n')}\n`);

  const run = await setUp('tp', symbols);
  try {
    // The clock starts with produce (its start-up included); process and sink have already
    // joined their groups (setUp waits for that), so their start-up is not in it.
    const [sink, processStage] = run.children;
    const others = { broker: brokerPid(), MariaDB: pidOf('mariadbd') ?? pidOf('mysqld') };
    const cpuBefore = {
      process: cpuSeconds(processStage.proc.pid),
      sink: cpuSeconds(sink.proc.pid),
      broker: cpuSeconds(others.broker),
      MariaDB: cpuSeconds(others.MariaDB),
    };
    const started = Date.now();
    const produce = startFinpipe(['produce', '--from-file', file], run.env);
    run.children.push(produce);
    // Until every trade is there, or nothing new arrived for 30 s (then some are lost). A
    // COUNT(*) over the growing table costs MariaDB a scan, and 50 of them a second took a
    // large share of the two cores from the pipeline; so each symbol's newest trade is looked
    // for (an index lookup) every 20 ms, and the table counted only once they are all there
    // (and every second meanwhile, to see progress). The count decides, never the lookup.
    let last = { n: -1, at: Date.now() };
    let countedAt = 0;
    let finishedAt = started;
    // produce exits when the file is sent, and /proc forgets it: its CPU is sampled while it runs.
    let produceCpu = 0;
    await waitUntil(
      `all ${TRADES} trades in MySQL`,
      async () => {
        produceCpu = Math.max(produceCpu, cpuSeconds(produce.proc.pid) || 0);
        if (Date.now() - countedAt < 1_000 && !(await newestVisible(run, latest))) return false;
        countedAt = Date.now();
        const n = await count(run, symbols);
        if (n !== last.n) last = { n, at: Date.now() };
        finishedAt = last.at;
        return n >= TRADES || Date.now() - last.at > 30_000;
      },
      600_000,
      run.children,
    );
    const seconds = (finishedAt - started) / 1000;
    // Where the two cores went (the benchmark's own MySQL polling included in MariaDB's).
    const cpu = {
      produce: produceCpu,
      process: cpuSeconds(processStage.proc.pid) - cpuBefore.process,
      sink: cpuSeconds(sink.proc.pid) - cpuBefore.sink,
      broker: cpuSeconds(others.broker) - cpuBefore.broker,
      MariaDB: cpuSeconds(others.MariaDB) - cpuBefore.MariaDB,
    };
    await sleep(2000); // anything beyond the input would be a duplicate: give it a chance to show up
    const { lost, duplicated, rows } = await compareWithInput(run, symbols, input);
    return { tradesPerSec: TRADES / seconds, trades: TRADES, inMysql: rows, lost, duplicated, seconds, cpu };
  } finally {
    await tearDown(run);
  }
}

async function main(): Promise<void> {
  console.log(
    `end-to-end benchmark: produce -> process -> sink -> MySQL (${LATENCY_SECONDS} s at ${RATE} trades/s, then ${fmt(TRADES)} trades at full speed)`,
  );
  const latency = LATENCY_SECONDS > 0 ? await latencyPhase() : { p50: NaN, p99: NaN, max: NaN, trades: 0 };
  console.log(
    `latency at ${RATE} trades/s (trade timestamp -> row visible in MySQL, ${fmt(latency.trades)} trades): ` +
      `p50 ${fmt(latency.p50)} ms, p99 ${fmt(latency.p99)} ms, max ${fmt(latency.max)} ms  (goal: p99 <= 250 ms)`,
  );
  const throughput = await throughputPhase();
  const { lost, duplicated: duplicates } = throughput;
  console.log(
    `throughput: ${fmt(throughput.trades)} trades in ${fmt(throughput.seconds, 1)} s = ${fmt(throughput.tradesPerSec)} trades/s end to end; ` +
      `in MySQL ${fmt(throughput.inMysql)} rows; compared with the input: ${lost} lost, ${duplicates} duplicated  (goal: >= 80,000 trades/s)`,
  );
  const cpu = Object.entries(throughput.cpu);
  console.log(
    `CPU during the throughput run (${fmt(throughput.seconds, 1)} s wall, 2 cores = ${fmt(throughput.seconds * 2, 1)} s): ` +
      cpu.map(([name, s]) => `${name} ${fmt(s, 2)} s`).join(', ') +
      `; together ${fmt(
        cpu.reduce((n, [, s]) => n + (Number.isNaN(s) ? 0 : s), 0),
        2,
      )} s`,
  );
  emitResult('e2e', {
    latencyP50Ms: latency.p50,
    latencyP99Ms: latency.p99,
    latencyMaxMs: latency.max,
    latencyTrades: latency.trades,
    throughputTradesPerSec: Math.round(throughput.tradesPerSec),
    throughputTrades: throughput.trades,
    lost,
    duplicates,
  });
  if (lost !== 0 || duplicates !== 0) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
