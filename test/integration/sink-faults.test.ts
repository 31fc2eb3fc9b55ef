import { test } from 'node:test';
import assert from 'node:assert/strict';
import mysql from 'mysql2/promise';
import { createTopic, uniqueName, waitFor } from '../helpers/kafka';
import { createDatabase, MYSQL } from '../helpers/mysql';
import { startCli } from '../helpers/cli';
import {
  candleMessage,
  countRows,
  finalCandles,
  makeCandles,
  makeTrades,
  outageUnsupported,
  readCandles,
  readTrades,
  sendInTransactions,
  sortTrades,
  startMariadb,
  stopMariadb,
  tradeMessage,
  transactionalProducer,
  T0,
} from './sink-fixtures';

/** JSON log lines of a CLI run whose msg matches. */
function logLines(stderr: string, msg: RegExp): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((r) => msg.test(String(r.msg)));
}

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

test('MariaDB stopped for a few seconds mid-run: the sink pauses, retries, resumes and catches up with exactly the rows', async (t) => {
  const unsupported = outageUnsupported();
  if (unsupported) return t.skip(unsupported);
  // Whatever happens below, the shared database comes back (other tests use it too).
  t.after(() => startMariadb());
  const db = await createDatabase(t);
  db.connection.on('error', () => {}); // it dies with the server; without a listener that would crash this process
  t.after(async () => {
    await startMariadb();
    const c = await mysql.createConnection(MYSQL);
    await c.query(`DROP DATABASE IF EXISTS \`${db.name}\``);
    await c.end();
  });
  const topic = await createTopic(t, 'sink-outage', 1);
  const dlq = await createTopic(t, 'sink-outage-dlq', 1);
  const producer = await transactionalProducer();
  t.after(() => producer.disconnect());
  const before = makeTrades('MSFT', 3_000);
  const during = makeTrades('MSFT', 3_000, T0 + 1e6);
  const candles = makeCandles('MSFT', 50, 3);
  await sendInTransactions(producer, topic, [...before.map(tradeMessage), ...candles.filter((c) => c.version < 3).map(candleMessage)]);

  const sink = startCli(t, ['sink', topic, '--group', uniqueName('sink-outage'), '--batch-rows', '1000', '--flush', '100ms'], {
    FINPIPE_MYSQL_URL: db.url,
    FINPIPE_DLQ_TOPIC: dlq,
  });
  await waitFor('the first rows', async () => (await countRows(db.connection, db.name, 'trades')) === before.length, 30_000);

  try {
    stopMariadb();
    await sendInTransactions(producer, topic, [...during.map(tradeMessage), ...candles.filter((c) => c.version === 3).map(candleMessage)]);
    // Down for a few seconds: until the sink has noticed and retried several times.
    await waitFor('the sink to pause and retry', () => logLines(sink.output().stderr, /MySQL write failed; retrying/).length >= 4, 30_000);
    assert.equal(sink.child.exitCode, null, 'the sink is still running');
  } finally {
    await startMariadb();
  }
  const check = await mysql.createConnection(MYSQL);
  t.after(() => check.end());
  await waitFor(
    'every row after the outage',
    async () => (await countRows(check, db.name, 'trades')) === 6_000 && (await readCandles(check, db.name)).every((c) => c.version === 3),
    60_000,
  );
  const result = await sink.stop('SIGTERM');
  assert.equal(result.code, 0, result.stderr);
  assert.ok(logLines(result.stderr, /paused consumption/).length >= 1, 'it paused');
  assert.ok(logLines(result.stderr, /MySQL is back/).length >= 1, 'it resumed');
  assert.deepEqual(await readTrades(check, db.name), sortTrades([...before, ...during]));
  assert.deepEqual(await readCandles(check, db.name), finalCandles(candles));
});
