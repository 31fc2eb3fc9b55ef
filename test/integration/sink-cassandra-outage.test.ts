import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTopic, uniqueName, waitFor } from '../helpers/kafka';
import { startCli, logLines } from '../helpers/cli';
import {
  cassandraService,
  countCassandraRows,
  createKeyspace,
  readCassandraCandles,
  openCassandraSockets,
  readCassandraTrades,
} from '../helpers/cassandra';
import { shutdownClient } from '../../src/core/stores/cassandra/client';
import {
  candleMessage,
  finalCandles,
  makeCandles,
  makeTrades,
  sendInTransactions,
  sortTrades,
  tradeMessage,
  transactionalProducer,
  T0,
} from './sink-fixtures';

/**
 * The real thing: the local Cassandra node (started by `npm test`'s services command, used by
 * nothing but these tests) is stopped in the middle of a run and started again. Both the sink
 * and this test's own driver client live through the restart, and both must let go of every
 * socket afterwards (cassandra-driver leaked one after a restart: see closeReplacedHosts).
 */
test('Cassandra stopped mid-run and restarted: the sink pauses, backs off, resumes, and nothing is lost or doubled', async (t) => {
  const ks = await createKeyspace(t, 'fp_outage');
  t.after(() => cassandraService('start')); // whatever happens, leave the node running
  const topic = await createTopic(t, 'sink-cass-outage', 1);
  const dlq = await createTopic(t, 'sink-cass-outage-dlq', 1);
  const producer = await transactionalProducer();
  t.after(() => producer.disconnect());
  const before = makeTrades('MSFT', 3_000);
  const during = makeTrades('MSFT', 3_000, T0 + 1e6);
  const candles = makeCandles('MSFT', 50, 3);
  await sendInTransactions(producer, topic, [...before.map(tradeMessage), ...candles.filter((c) => c.version < 3).map(candleMessage)]);

  const sink = startCli(t, ['sink', topic, '--group', uniqueName('sink-cass-outage'), '--batch-rows', '1000', '--flush', '100ms'], {
    ...ks.env,
    FINPIPE_DLQ_TOPIC: dlq,
  });
  await waitFor('the first rows', async () => (await countCassandraRows(ks, 'trades')) === before.length, 60_000);

  cassandraService('stop');
  await sendInTransactions(producer, topic, [...during.map(tradeMessage), ...candles.filter((c) => c.version === 3).map(candleMessage)]);
  await waitFor(
    'the sink to pause and retry',
    () => logLines(sink.output().stderr, /Cassandra write failed; retrying/).length >= 3,
    60_000,
  );
  assert.equal(sink.child.exitCode, null, 'the sink is still running');
  cassandraService('start');

  // Read through the client that was connected before the outage: it must recover too.
  await waitFor(
    'every row after the outage',
    async () => (await countCassandraRows(ks, 'trades')) === 6_000 && (await readCassandraCandles(ks)).every((c) => c.version === 3),
    120_000,
    500,
  );
  const result = await sink.stop('SIGTERM');
  assert.equal(result.code, 0, result.stderr.slice(-3000));
  assert.ok(logLines(result.stderr, /paused consumption/).length >= 1, 'it paused');
  assert.ok(logLines(result.stderr, /Cassandra is back/).length >= 1, 'it resumed');
  assert.deepEqual(await readCassandraTrades(ks), sortTrades([...before, ...during]));
  assert.deepEqual(await readCassandraCandles(ks), finalCandles(candles));
  assert.doesNotMatch(result.stderr, /still open .* after the command finished/, 'the sink closed every connection');
  await shutdownClient(ks.client);
  await waitFor('every socket to Cassandra closed in this process', () => openCassandraSockets() === 0, 10_000);
});
