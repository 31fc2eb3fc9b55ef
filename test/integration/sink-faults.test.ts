import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Admin } from 'kafkajs';
import { admin, createTopic, uniqueName, waitFor } from '../helpers/kafka';
import { createDatabase } from '../helpers/mysql';
import { startCli, logLines } from '../helpers/cli';
import {
  candleMessage,
  countRows,
  finalCandles,
  makeCandles,
  makeTrades,
  MysqlOutage,
  readCandles,
  readTrades,
  sendInTransactions,
  settledEnds,
  sortTrades,
  tradeMessage,
  transactionalProducer,
  T0,
} from './sink-fixtures';

test('kill -9 in the middle of a run, then a restart: exactly the rows, no duplicates, candles final', async (t) => {
  const db = await createDatabase(t);
  const topic = await createTopic(t, 'sink-kill', 1);
  const dlq = await createTopic(t, 'sink-kill-dlq', 1);
  const trades = makeTrades('BINANCE:ETHUSDT', 20_000);
  const candles = makeCandles('BINANCE:ETHUSDT', 300, 4);
  const producer = await transactionalProducer();
  t.after(() => producer.disconnect());
  const messages = trades.map(tradeMessage);
  // Spread the candle versions through the trades, as process emits them.
  candles.forEach((c, i) => messages.splice(Math.floor((i * messages.length) / candles.length) + i, 0, candleMessage(c)));
  await sendInTransactions(producer, topic, messages, { chunk: 2_000 });

  const group = uniqueName('sink-kill');
  const args = ['sink', topic, '--group', group, '--batch-rows', '300', '--flush', '50ms', '--session-timeout', '6s'];
  const env = { FINPIPE_MYSQL_URL: db.url, FINPIPE_DLQ_TOPIC: dlq };
  const first = startCli(t, args, env);
  await waitFor('some rows', async () => (await countRows(db.connection, db.name, 'trades')) >= 2_000, 30_000, 20);
  first.child.kill('SIGKILL');
  const killed = await first.exited;
  assert.equal(killed.signal, 'SIGKILL');
  const atKill = await countRows(db.connection, db.name, 'trades');
  assert.ok(atKill < trades.length, `killed mid-run (${atKill} of ${trades.length} trades written)`);

  const second = startCli(t, args, env);
  await waitFor(
    'every row',
    async () =>
      (await countRows(db.connection, db.name, 'trades')) === trades.length && (await countRows(db.connection, db.name, 'candles')) === 300,
    60_000,
  );
  const result = await second.stop('SIGTERM');
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /sink: \d+ records written/);

  assert.deepEqual(await readTrades(db.connection, db.name), sortTrades(trades));
  assert.deepEqual(await readCandles(db.connection, db.name), finalCandles(candles));
});

test('MariaDB unreachable for a few seconds mid-run (connections cut, then refused): the sink pauses, retries, resumes, exactly the rows', async (t) => {
  const db = await createDatabase(t);
  const outage = await MysqlOutage.start();
  t.after(() => outage.cut());
  const topic = await createTopic(t, 'sink-outage', 1);
  const dlq = await createTopic(t, 'sink-outage-dlq', 1);
  const producer = await transactionalProducer();
  t.after(() => producer.disconnect());
  const before = makeTrades('MSFT', 3_000);
  const during = makeTrades('MSFT', 3_000, T0 + 1e6);
  const candles = makeCandles('MSFT', 50, 3);
  await sendInTransactions(producer, topic, [...before.map(tradeMessage), ...candles.filter((c) => c.version < 3).map(candleMessage)]);

  const sink = startCli(t, ['sink', topic, '--group', uniqueName('sink-outage'), '--batch-rows', '1000', '--flush', '100ms'], {
    FINPIPE_MYSQL_URL: outage.url(db.name),
    FINPIPE_DLQ_TOPIC: dlq,
  });
  await waitFor('the first rows', async () => (await countRows(db.connection, db.name, 'trades')) === before.length, 30_000);

  try {
    await outage.cut();
    await sendInTransactions(producer, topic, [...during.map(tradeMessage), ...candles.filter((c) => c.version === 3).map(candleMessage)]);
    // Down for a few seconds (at most ~15): until the sink has noticed and retried several times.
    await waitFor('the sink to pause and retry', () => logLines(sink.output().stderr, /MySQL write failed; retrying/).length >= 4, 30_000);
    assert.equal(sink.child.exitCode, null, 'the sink is still running');
  } finally {
    await outage.restore();
  }
  await waitFor(
    'every row after the outage',
    async () =>
      (await countRows(db.connection, db.name, 'trades')) === 6_000 &&
      (await readCandles(db.connection, db.name)).every((c) => c.version === 3),
    60_000,
  );
  const result = await sink.stop('SIGTERM');
  assert.equal(result.code, 0, result.stderr);
  assert.ok(logLines(result.stderr, /paused consumption/).length >= 1, 'it paused');
  assert.ok(logLines(result.stderr, /MySQL is back/).length >= 1, 'it resumed');
  assert.deepEqual(await readTrades(db.connection, db.name), sortTrades([...before, ...during]));
  assert.deepEqual(await readCandles(db.connection, db.name), finalCandles(candles));
});

/** The group's committed offset of partition 0 (-1: none). */
async function committedOffset(a: Admin, groupId: string, topic: string): Promise<string> {
  const [committed] = await a.fetchOffsets({ groupId, topics: [topic] });
  return committed.partitions.find((p) => p.partition === 0)?.offset ?? '-1';
}

test('stopped during a MySQL outage: gives up after its grace period, exits 1 naming what was not written, commits nothing; a restart writes it', async (t) => {
  const db = await createDatabase(t);
  const outage = await MysqlOutage.start();
  t.after(() => outage.cut());
  const topic = await createTopic(t, 'sink-giveup', 1);
  const producer = await transactionalProducer();
  t.after(() => producer.disconnect());
  const a = await admin(t);
  const [before, during] = [makeTrades('AAPL', 1_000), makeTrades('AAPL', 1_000, T0 + 1e6)];
  await sendInTransactions(producer, topic, before.map(tradeMessage));
  const [end] = await settledEnds(a, topic, [before.length + 1]); // the records and one commit marker

  const groupId = uniqueName('sink-giveup');
  const args = ['sink', topic, '--group', groupId, '--batch-rows', '500', '--flush', '100ms'];
  const env = { FINPIPE_MYSQL_URL: outage.url(db.name), FINPIPE_DLQ_TOPIC: uniqueName('sink-giveup-dlq') };
  const first = startCli(t, args, env);
  await waitFor('the first rows, committed', async () => (await committedOffset(a, groupId, topic)) === end.high, 30_000);

  let result: Awaited<typeof first.exited>;
  try {
    await outage.cut();
    await sendInTransactions(producer, topic, during.map(tradeMessage));
    await waitFor('the sink to retry', () => logLines(first.output().stderr, /MySQL write failed; retrying/).length >= 1, 30_000);
    // Stopped mid-outage: it keeps retrying for its grace period (15 s), then gives up.
    result = await first.stop('SIGTERM');
  } finally {
    await outage.restore();
  }
  assert.equal(result.code, 1, result.stderr);
  assert.match(
    result.stderr,
    /finpipe: stopped while MySQL was unreachable; \d+ buffered records were not written: .*\(hint: nothing is lost/,
  );
  assert.equal(await committedOffset(a, groupId, topic), end.high, 'nothing committed past the rows written before the outage');
  assert.equal(await countRows(db.connection, db.name, 'trades'), before.length);

  const second = startCli(t, args, env);
  await waitFor('every row', async () => (await countRows(db.connection, db.name, 'trades')) === 2_000, 30_000);
  assert.equal((await second.stop('SIGTERM')).code, 0);
  assert.deepEqual(await readTrades(db.connection, db.name), sortTrades([...before, ...during]));
});
