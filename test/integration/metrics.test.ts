import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { RowDataPacket } from 'mysql2/promise';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { runCli, startCli, type RunningCli } from '../helpers/cli';
import { admin, deleteTopicsQuietly, readTopic, waitFor } from '../helpers/kafka';
import { metricValue, promtoolCheck, readyz, scrape, type PromSample } from '../helpers/metrics';
import { createDatabase } from '../helpers/mysql';
import { startPrometheus } from '../helpers/prometheus';
import { DEAD_LETTER_REASONS } from '../../src/core/metrics';
import { freePort } from '../../src/core/net';
import { symbolToTopic } from '../../src/core/symbols';

/**
 * The whole pipeline as real `finpipe` processes, each with --metrics-port: what their
 * /metrics say must agree with what reached Kafka (raw and per-symbol topics) and MySQL,
 * pass `promtool check metrics`, and arrive in a real Prometheus server that scrapes them.
 */
const TRADES = 3000;
const STAGES = ['simulate', 'produce', 'process', 'sink'] as const;
type StageName = (typeof STAGES)[number];

interface Pipeline {
  env: Record<string, string>;
  outputs: string[];
  db: Awaited<ReturnType<typeof createDatabase>>;
  stages: Record<StageName, RunningCli>;
  /** http://127.0.0.1:port of each stage's metrics server. */
  metrics: Record<StageName, string>;
}

async function startPipeline(t: TestContext): Promise<Pipeline> {
  const id = randomUUID().slice(0, 6);
  const symbols = [`MET${id.toUpperCase()}:BTC`, `MET${id.toUpperCase()}:ETH`, `MET${id.toUpperCase()}:EUR USD`];
  const outputs = symbols.map(symbolToTopic);
  const db = await createDatabase(t, 'fp_metrics');
  const env = {
    FINPIPE_RAW_TOPIC: `metrics-raw-${id}`,
    FINPIPE_DLQ_TOPIC: `metrics-dlq-${id}`,
    FINPIPE_LATE_TOPIC: `metrics-late-${id}`,
    FINPIPE_MYSQL_URL: db.url,
    FINNHUB_TOKEN: 'metrics-test-token',
  };
  const processGroup = `metrics-process-${id}`;
  t.after(() =>
    deleteTopicsQuietly([env.FINPIPE_RAW_TOPIC, env.FINPIPE_DLQ_TOPIC, env.FINPIPE_LATE_TOPIC, `${processGroup}-state`, ...outputs]),
  );
  const ports = Object.fromEntries(await Promise.all(STAGES.map(async (s) => [s, await freePort()] as const))) as Record<StageName, number>;
  const metrics = Object.fromEntries(STAGES.map((s) => [s, `http://127.0.0.1:${ports[s]}`])) as Record<StageName, string>;
  const withMetrics = (stage: StageName, args: string[]) => [...args, '--metrics-port', String(ports[stage])];
  const topics = await runCli(['topics', 'create'], env);
  assert.equal(topics.code, 0, topics.stderr);
  const simulatorPort = await freePort();
  const stages = {
    sink: startCli(t, withMetrics('sink', ['sink', ...outputs, '--group', `metrics-sink-${id}`]), env),
    process: startCli(
      t,
      withMetrics('process', ['process', ...symbols, '--group', processGroup, '--windows', '1s', '--lateness', '5s']),
      env,
    ),
    simulate: startCli(
      t,
      withMetrics('simulate', [
        'simulate',
        ...[
          '--port',
          String(simulatorPort),
          '--symbols',
          symbols.join(','),
          '--rate',
          '1000',
          '--seed',
          '3',
          '--max-trades',
          String(TRADES),
        ],
      ]),
      env,
    ),
  } as Partial<Record<StageName, RunningCli>>;
  await waitFor(
    'the simulator to be ready',
    () =>
      readyz(metrics.simulate).then(
        (r) => r.status === 200,
        () => false,
      ),
    20_000,
  );
  stages.produce = startCli(t, withMetrics('produce', ['produce', ...symbols, '--url', `ws://127.0.0.1:${simulatorPort}`]), env);
  return { env, outputs, db, stages: stages as Record<StageName, RunningCli>, metrics };
}

async function scrapeAll(p: Pipeline): Promise<Record<StageName, { text: string; samples: PromSample[] }>> {
  const entries = await Promise.all(STAGES.map(async (s) => [s, await scrape(p.metrics[s])] as const));
  return Object.fromEntries(entries) as Record<StageName, { text: string; samples: PromSample[] }>;
}

async function tradesInMysql(p: Pipeline): Promise<number> {
  const [[row]] = await p.db.connection
    .query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${p.db.name}\`.trades`)
    .catch(() => [[{ n: 0 }]]);
  return Number((row as { n: number }).n);
}

/** On a timeout, what each stage logged: the only clue in CI. */
async function waitForPipeline(p: Pipeline, what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  try {
    await waitFor(what, check, timeoutMs, 200);
  } catch (error) {
    const logs = STAGES.map((s) => `--- ${s} ---\n${p.stages[s].output().stderr.slice(-1500)}`);
    throw new Error(`${(error as Error).message}\n${logs.join('\n')}`);
  }
}

test('the metrics of a running pipeline agree with Kafka and MySQL, pass promtool, and reach a real Prometheus', async (t) => {
  const p = await startPipeline(t);
  const target = (s: StageName) => p.metrics[s].replace('http://', '');
  const prometheus = await startPrometheus(t, Object.fromEntries(STAGES.map((s) => [s, target(s)])));

  await waitForPipeline(p, `all ${TRADES} trades in MySQL`, async () => (await tradesInMysql(p)) >= TRADES, 90_000);
  // Settled: both consumers have committed everything (lag 0 on every partition they hold).
  await waitForPipeline(
    p,
    'process and sink lag 0',
    async () => {
      const m = await scrapeAll(p);
      const lag = (s: StageName) => m[s].samples.filter((x) => x.name === 'finpipe_consumer_lag');
      // process knows the lag of the raw partitions it fetched from (those holding the symbols), the sink of all three topics.
      return lag('process').length > 0 && lag('sink').length === 3 && [...lag('process'), ...lag('sink')].every((x) => x.value === 0);
    },
    30_000,
  );
  const m = await scrapeAll(p);
  const v = (s: StageName, name: string, labels: Record<string, string> = {}) => metricValue(m[s].samples, name, { stage: s, ...labels });

  await t.test('produce: trades and raw messages equal what the raw topic holds', async () => {
    const a = await admin(t);
    const rawMessages = (await a.fetchTopicOffsets(p.env.FINPIPE_RAW_TOPIC)).reduce((sum, o) => sum + Number(o.high) - Number(o.low), 0);
    assert.equal(v('simulate', 'finpipe_trades_total'), TRADES);
    assert.equal(v('produce', 'finpipe_trades_received_total'), TRADES);
    assert.equal(v('produce', 'finpipe_trades_total'), TRADES);
    assert.equal(v('produce', 'finpipe_records_out_total'), rawMessages);
    assert.equal(v('produce', 'finpipe_batch_size_sum'), rawMessages, 'every acknowledged message was in one observed batch');
    assert.ok(v('produce', 'finpipe_kafka_produce_seconds_count') > 0);
    assert.equal(v('produce', 'finpipe_buffered_bytes'), 0);
    assert.equal(v('produce', 'finpipe_websocket_frames_total', { kind: 'trade' }) > 0, true);
    assert.equal(v('process', 'finpipe_records_in_total'), rawMessages, 'process consumed every raw message');
  });

  await t.test('process: trades and candles equal what the per-symbol topics hold', async () => {
    const trades = v('process', 'finpipe_trades_total');
    const candles = v('process', 'finpipe_candles_total');
    assert.equal(trades, TRADES);
    assert.equal(v('process', 'finpipe_late_trades_total'), 0);
    const records = await readTopic(p.outputs, (r) => r.length >= trades + candles, 30_000);
    assert.equal(records.filter((r) => r.headers['finpipe.type'] === 'trade').length, trades);
    assert.equal(records.filter((r) => r.headers['finpipe.type'] === 'candle').length, candles);
    assert.equal(v('process', 'finpipe_records_out_total'), trades + candles);
    assert.equal(v('process', 'finpipe_kafka_transaction_seconds_count'), v('process', 'finpipe_transactions_total'));
    assert.equal(v('process', 'finpipe_batch_size_sum'), v('process', 'finpipe_records_in_total'));
    assert.equal(v('process', 'finpipe_assigned_partitions'), 6);
    assert.equal(v('sink', 'finpipe_records_in_total'), trades + candles, 'the sink took every per-symbol record');
  });

  await t.test('sink: trades equal the rows in MySQL; write, freshness and batch figures are consistent', async () => {
    assert.equal(v('sink', 'finpipe_trades_total'), await tradesInMysql(p));
    assert.equal(v('sink', 'finpipe_trades_total'), TRADES);
    const writes = v('sink', 'finpipe_store_write_seconds_count', { store: 'mysql' });
    assert.equal(writes, v('sink', 'finpipe_transactions_total'), 'one timed write per committed transaction (no retries)');
    assert.equal(v('sink', 'finpipe_store_write_retries_total', { store: 'mysql' }), 0);
    assert.equal(v('sink', 'finpipe_batch_size_sum'), v('sink', 'finpipe_records_in_total'));
    const freshnessCount = v('sink', 'finpipe_freshness_seconds_count', { store: 'mysql' });
    assert.ok(
      freshnessCount > 0 && freshnessCount <= writes,
      `freshness observed per write ending in a trade (${freshnessCount} of ${writes})`,
    );
    const meanFreshness = v('sink', 'finpipe_freshness_seconds_sum', { store: 'mysql' }) / freshnessCount;
    assert.ok(meanFreshness >= 0 && meanFreshness < 30, `mean freshness ${meanFreshness} s (the simulator stamps trades with now)`);
    assert.equal(v('sink', 'finpipe_store_paused', { store: 'mysql' }), 0);
    for (const stage of ['produce', 'process', 'sink'] as const)
      for (const reason of DEAD_LETTER_REASONS) assert.equal(v(stage, 'finpipe_dead_letters_total', { reason }), 0, `${stage} ${reason}`);
  });

  await t.test('every stage is ready and its metrics pass promtool check metrics', async () => {
    for (const s of STAGES) {
      const r = await readyz(p.metrics[s]);
      assert.equal(r.status, 200, `${s}: ${JSON.stringify(r.body)}`);
      assert.equal(v(s, 'finpipe_ready'), 1);
      assert.ok(metricValue(m[s].samples, 'process_resident_memory_bytes') > 0, `${s}: default process metrics`);
      const check = await promtoolCheck(m[s].text);
      assert.equal(check.code, 0, `${s}: promtool check metrics:\n${check.output}`);
    }
  });

  await t.test('Prometheus scraped every stage and its API returns finpipe_trades_total and the consumer lag', async () => {
    const value = async (expr: string) => (await prometheus.query(expr)).map((r) => r.value);
    try {
      await waitFor('Prometheus to scrape all four stages', async () => (await value('sum(up)'))[0] === 4, 30_000, 500);
      await waitFor(
        `finpipe_trades_total of the sink at ${TRADES}`,
        async () => (await value('finpipe_trades_total{stage="sink"}'))[0] === TRADES,
        30_000,
        500,
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}\nprometheus log:\n${prometheus.log().slice(-2000)}`);
    }
    const trades = await prometheus.query('finpipe_trades_total');
    const byStage = Object.fromEntries(trades.map((r) => [r.metric.stage, r.value]));
    assert.deepEqual(byStage, { simulate: TRADES, produce: TRADES, process: TRADES, sink: TRADES });
    assert.equal(trades.find((r) => r.metric.stage === 'sink')?.metric.job, 'sink');
    const a = await admin(t);
    const rawPartitionsWithData = (await a.fetchTopicOffsets(p.env.FINPIPE_RAW_TOPIC))
      .filter((o) => Number(o.high) > 0)
      .map((o) => o.partition);
    const processLag = await prometheus.query(`finpipe_consumer_lag{stage="process",topic="${p.env.FINPIPE_RAW_TOPIC}"}`);
    assert.deepEqual(
      processLag.map((r) => Number(r.metric.partition)).sort(),
      rawPartitionsWithData.sort(),
      'a lag series per raw partition that process fetched from',
    );
    assert.ok(
      processLag.every((r) => r.value === 0),
      JSON.stringify(processLag),
    );
    const sinkLag = await prometheus.query('sum by (topic) (finpipe_consumer_lag{stage="sink"})');
    assert.deepEqual(sinkLag.map((r) => r.metric.topic).sort(), [...p.outputs].sort());
    assert.ok(
      sinkLag.every((r) => r.value === 0),
      JSON.stringify(sinkLag),
    );
  });

  await t.test('every query of the Grafana operations dashboard runs on this Prometheus and finds series', async () => {
    const dashboard = JSON.parse(
      readFileSync(path.resolve(__dirname, '../../../docker/grafana/dashboards/finpipe-operations.json'), 'utf8'),
    ) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    // The compose file's job is `finpipe`; here each stage is its own job.
    const here = (expr: string) => expr.replace(/\{job="finpipe"\}/g, '');
    // Only what happened in this run has series: nothing was dead-lettered, no websocket dropped, no store write retried.
    const mayBeEmpty = /dead_letters|reconnects|frame_gaps|retries/;
    for (const panel of dashboard.panels)
      for (const { expr } of panel.targets) {
        if (mayBeEmpty.test(expr))
          await prometheus.query(here(expr)); // runs without an error
        // A rate() needs two scrapes of a series; the last histograms appeared with the last writes, seconds ago.
        else await waitFor(`${panel.title}: series for ${expr}`, async () => (await prometheus.query(here(expr))).length > 0, 20_000, 500);
      }
  });

  for (const s of ['produce', 'simulate', 'process', 'sink'] as const) {
    const r = await p.stages[s].stop('SIGTERM');
    assert.equal(r.code, 0, `${s} exits 0 on SIGTERM:\n${r.stderr.slice(-2000)}`);
  }
});
