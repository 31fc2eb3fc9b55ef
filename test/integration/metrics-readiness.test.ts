import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCli } from '../helpers/cli';
import { createTopic, uniqueName, waitFor } from '../helpers/kafka';
import { metricValue, readyz, scrape } from '../helpers/metrics';
import { createDatabase } from '../helpers/mysql';
import { freePort } from '../../src/core/net';
import { countRows, makeTrades, MysqlOutage, sendInTransactions, tradeMessage, transactionalProducer, T0 } from './sink-fixtures';

/**
 * /readyz of a real sink: ready once it consumes, not ready while MySQL is unreachable (a TCP
 * relay in front of the shared MariaDB is cut; MariaDB itself keeps running), ready again
 * once it answers, with every row written; and not ready while Kafka does not answer.
 */
test('sink /readyz: not ready while MySQL is unreachable, ready again when it answers', async (t) => {
  const db = await createDatabase(t, 'fp_ready');
  const outage = await MysqlOutage.start();
  t.after(() => outage.cut());
  const topic = await createTopic(t, 'metrics-ready', 1);
  const dlq = await createTopic(t, 'metrics-ready-dlq', 1);
  const producer = await transactionalProducer();
  t.after(() => producer.disconnect());
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const sink = startCli(t, ['sink', topic, '--group', uniqueName('metrics-ready'), '--flush', '50ms', '--metrics-port', String(port)], {
    FINPIPE_MYSQL_URL: outage.url(db.name),
    FINPIPE_DLQ_TOPIC: dlq,
  });
  const why = async () => `${JSON.stringify((await readyz(url).catch(() => null))?.body)}\n${sink.output().stderr.slice(-2000)}`;

  await waitFor(
    'the metrics server',
    () =>
      fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      ),
    20_000,
  );
  await waitFor('the sink to be ready', async () => (await readyz(url)).status === 200, 30_000).catch(async (e: Error) => {
    throw new Error(`${e.message}: ${await why()}`);
  });
  const first = makeTrades('BINANCE:BTCUSDT', 500);
  await sendInTransactions(producer, topic, first.map(tradeMessage));
  await waitFor('the first trades in MySQL', async () => (await countRows(db.connection, db.name, 'trades')) === first.length, 30_000);

  await outage.cut();
  const second = makeTrades('BINANCE:BTCUSDT', 500, T0 + 1_000_000);
  await sendInTransactions(producer, topic, second.map(tradeMessage));
  const down = await waitFor(
    '/readyz to say not ready',
    async () => {
      const r = await readyz(url);
      return r.status === 503 ? r : null;
    },
    30_000,
    100,
  ).catch(async (e: Error) => {
    throw new Error(`${e.message}: ${await why()}`);
  });
  assert.ok(down);
  assert.deepEqual(down.body.ready, false);
  assert.match(down.body.reason, /MySQL unreachable/);
  assert.equal((await fetch(`${url}/healthz`)).status, 200, 'alive all the same');
  const during = (await scrape(url)).samples;
  assert.equal(metricValue(during, 'finpipe_ready', { stage: 'sink' }), 0);
  assert.equal(metricValue(during, 'finpipe_store_paused', { stage: 'sink', store: 'mysql' }), 1);
  assert.ok(metricValue(during, 'finpipe_store_write_retries_total', { stage: 'sink', store: 'mysql' }) >= 1);

  await outage.restore();
  await waitFor('/readyz to say ready again', async () => (await readyz(url)).status === 200, 60_000).catch(async (e: Error) => {
    throw new Error(`${e.message}: ${await why()}`);
  });
  const total = first.length + second.length;
  await waitFor('every trade in MySQL', async () => (await countRows(db.connection, db.name, 'trades')) === total, 30_000);
  // The rows are in MySQL before the sink's counters move (they count after the commit), so
  // the scrape waits for them rather than racing them.
  const after = await waitFor('the sink to count every trade', async () => {
    const samples = (await scrape(url)).samples;
    return metricValue(samples, 'finpipe_trades_total', { stage: 'sink' }) === total ? samples : null;
  }).then((samples) => samples!);
  assert.equal(metricValue(after, 'finpipe_store_paused', { stage: 'sink', store: 'mysql' }), 0);
  assert.equal(metricValue(after, 'finpipe_ready', { stage: 'sink' }), 1);
  const stopped = await sink.stop('SIGTERM');
  assert.equal(stopped.code, 0, stopped.stderr.slice(-2000));
});

test('sink /readyz: not ready while Kafka does not answer, with the reason', async (t) => {
  const db = await createDatabase(t, 'fp_ready');
  const port = await freePort();
  const nobody = await freePort(); // no broker listens here
  const url = `http://127.0.0.1:${port}`;
  const sink = startCli(t, ['sink', 'metrics-ready-none', '--metrics-port', String(port)], {
    FINPIPE_MYSQL_URL: db.url,
    FINPIPE_KAFKA_BROKERS: `127.0.0.1:${nobody}`,
  });
  const r = await waitFor(
    '/readyz to name Kafka',
    async () => {
      const answer = await readyz(url);
      return /Kafka \(127\.0\.0\.1:\d+\) does not answer/.test(answer.body.reason) ? answer : null;
    },
    30_000,
    200,
  ).catch((e: Error) => {
    throw new Error(`${e.message}\n${sink.output().stderr.slice(-2000)}`);
  });
  assert.ok(r);
  assert.equal(r.status, 503);
  assert.equal(r.body.ready, false);
  assert.equal(r.body.stage, 'sink');
  await sink.stop('SIGTERM');
});
