import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { RowDataPacket } from 'mysql2/promise';
import net from 'node:net';
import { runCli, startCli } from '../helpers/cli';
import { BROKERS, deleteTopicsQuietly, waitFor } from '../helpers/kafka';
import { createDatabase } from '../helpers/mysql';
import { symbolToTopic } from '../../src/core/symbols';

test('finpipe demo runs every stage, drains, and its summary matches MySQL', async (t) => {
  const tag = randomUUID().slice(0, 6).toUpperCase();
  const symbols = [`DEMO${tag}:BTC`, `DEMO${tag}:ETH`];
  const id = tag.toLowerCase();
  const db = await createDatabase(t, 'fp_demo');
  const env = {
    FINPIPE_RAW_TOPIC: `demo-raw-${id}`,
    FINPIPE_DLQ_TOPIC: `demo-dlq-${id}`,
    FINPIPE_LATE_TOPIC: `demo-late-${id}`,
    FINPIPE_MYSQL_URL: db.url,
    // The broker comes only from -b: the stages must get it from the demo, not from this.
    FINPIPE_KAFKA_BROKERS: '127.0.0.1:1',
  };
  t.after(() =>
    deleteTopicsQuietly([
      env.FINPIPE_RAW_TOPIC,
      env.FINPIPE_DLQ_TOPIC,
      env.FINPIPE_LATE_TOPIC,
      `demo-${id}-process-state`,
      ...symbols.map(symbolToTopic),
    ]),
  );

  // The dashboard's port is taken: the demo falls back to a free one and prints the real URL.
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => blocker.close());
  const taken = (blocker.address() as net.AddressInfo).port;
  const demo = startCli(
    t,
    [
      ...['-b', BROKERS.join(','), '-X', `client.id=demo-${id}`, '-X', 'request.timeout.ms=40000'],
      'demo',
      ...['--symbols', symbols.join(','), '--rate', '500', '--duration', '8s', '--windows', '1s', '--group-prefix', `demo-${id}`],
      ...['--dashboard-port', String(taken), '--metrics-port', '0'],
    ],
    env,
  );
  const url = (await waitFor(
    'the dashboard URL',
    () => /dashboard: open (http:\/\/127\.0\.0\.1:(\d+))/.exec(demo.output().stdout),
    30_000,
  ))!;
  assert.notEqual(Number(url[2]), taken);
  await waitFor(
    'the demo symbols in the dashboard',
    async () => {
      const body = (await (await fetch(`${url[1]}/api/symbols`)).json()) as { symbols: string[] };
      return symbols.every((s) => body.symbols.includes(s));
    },
    30_000,
  );
  // --metrics-port 0: every child has its own metrics server on a free port, each URL logged.
  const metricsUrls = await waitFor(
    'the metrics URL of every stage',
    () => {
      const urls = [...`${demo.output().stdout}${demo.output().stderr}`.matchAll(/(\w+) metrics: (http:\/\/127\.0\.0\.1:\d+)\/metrics/g)];
      const byStage = new Map(urls.map((m) => [m[1], m[2]]));
      return byStage.size === 5 ? byStage : null;
    },
    30_000,
  );
  assert.ok(metricsUrls);
  await waitFor(
    'the sink to report stored trades on /metrics',
    async () => /finpipe_trades_total\{stage="sink"\} [1-9]/.test(await (await fetch(`${metricsUrls.get('sink')}/metrics`)).text()),
    30_000,
  );
  for (const stage of ['produce', 'process', 'simulate', 'dashboard'])
    assert.equal((await fetch(`${metricsUrls.get(stage)}/healthz`)).status, 200, stage);
  const r = await demo.exited;
  assert.equal(r.code, 0, r.stderr.slice(-3000));

  const [[row]] = await db.connection.query<RowDataPacket[]>(
    `SELECT COUNT(*) AS n, COUNT(DISTINCT symbol) AS s FROM \`${db.name}\`.trades`,
  );
  const trades = Number(row.n);
  assert.ok(trades > 500, `trades in MySQL: ${trades}`);
  assert.equal(Number(row.s), 2);
  // The summary is read back after draining: it must match the table exactly.
  assert.match(r.stdout, new RegExp(`MySQL ${db.name} \\(this run\\): ${trades.toLocaleString('en-US')} trades`));
  assert.match(r.stdout, /stage restarts: sink 0, process 0, simulate 0, produce 0, dashboard 0/);
  assert.match(r.stdout, /latest candles \(MySQL\)/);
  for (const s of symbols) assert.match(r.stdout, new RegExp(`${s.replace(':', ':')}\\s+1s\\s+`));
});

test('finpipe demo --no-dashboard starts no dashboard', async () => {
  const r = await runCli(['demo', '--no-dashboard', '--duration', '1s'], { FINPIPE_KAFKA_BROKERS: '127.0.0.1:1' }, 60_000);
  assert.doesNotMatch(r.stdout, /dashboard: open/);
});

test('finpipe demo says what to start when a service is down', async () => {
  const r = await runCli(['demo', '--duration', '1s'], { FINPIPE_KAFKA_BROKERS: '127.0.0.1:1' }, 60_000);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot reach Kafka at 127\.0\.0\.1:1.*npm run services:up/);
  const m = await runCli(['demo', '--duration', '1s'], { FINPIPE_MYSQL_URL: 'mysql://root@127.0.0.1:1/finpipe' }, 60_000);
  assert.equal(m.code, 1);
  assert.match(m.stderr, /cannot reach MySQL at 127\.0\.0\.1:1.*npm run services:up/);
});
