import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Admin } from 'kafkajs';
import { RECORD_TYPE_HEADER, type Candle, type RawTrade, type Trade } from '../../src/core/serde';
import { DLQ_HEADERS } from '../../src/core/kafka/dead-letter';
import { symbolToTopic } from '../../src/core/symbols';
import { admin, createTopic, readTopic, uniqueName, waitFor } from '../helpers/kafka';
import { runCli, startCli } from '../helpers/cli';
import { countCassandraRows, createKeyspace, readCassandraCandles, readCassandraTrades } from '../helpers/cassandra';
import { byId, frameMessage, readToEnd, reference, scenario, waitProcessed, type Frame } from './process-fixtures';
import {
  candleMessage,
  finalCandles,
  makeCandles,
  makeTrades,
  sendInTransactions,
  sortTrades,
  tradeMessage,
  transactionalProducer,
} from './sink-fixtures';

/** Whether `groupId` has committed every partition of `topics` to its end. */
async function caughtUp(a: Admin, groupId: string, topics: string[]): Promise<boolean> {
  for (const topic of topics) {
    const ends = await a.fetchTopicOffsets(topic);
    const [committed] = await a.fetchOffsets({ groupId, topics: [topic] });
    if (!ends.every((e) => committed.partitions.find((p) => p.partition === e.partition)?.offset === e.high)) return false;
  }
  return true;
}

/** A candle recomputed from trades the way the issue defines it (open: earliest trade, close: latest). */
function recompute(trades: Trade[]): Pick<Candle, 'open' | 'close' | 'high' | 'low' | 'volume' | 'vwap' | 'trade_count' | 'avg_price'> {
  const first = trades.reduce((a, b) => (b.trade_timestamp < a.trade_timestamp ? b : a));
  const last = trades.reduce((a, b) => (b.trade_timestamp >= a.trade_timestamp ? b : a));
  const volume = trades.reduce((s, x) => s + x.volume, 0);
  const pv = trades.reduce((s, x) => s + x.price * x.volume, 0);
  return {
    open: first.price,
    close: last.price,
    high: Math.max(...trades.map((x) => x.price)),
    low: Math.min(...trades.map((x) => x.price)),
    volume,
    vwap: volume > 0 ? pv / volume : null,
    trade_count: trades.length,
    avg_price: trades.reduce((s, x) => s + x.price, 0) / trades.length,
  };
}

test('process -> sink --store cassandra: every trade exactly once, every closed candle equal to a recomputation from the stored trades', async (t) => {
  const a = await admin(t);
  const s = await scenario(t, a, 1, 2);
  const ks = await createKeyspace(t, 'fp_pipe');
  // 2 symbols x 1,200 trades, 50 ms apart (a minute of event time), in order: none is late.
  const base = 1_699_999_980_000;
  const frames: Frame[] = [];
  for (let i = 0; i < 120; i++) {
    for (const [n, symbol] of s.symbols.entries()) {
      const trades: RawTrade[] = Array.from({ length: 10 }, (_, j) => ({
        s: symbol,
        t: base + (i * 10 + j) * 50,
        p: 100 + n * 50 + Math.sin(i * 10 + j) * 3,
        v: 0.25 + ((i + j) % 7) / 4,
        c: j % 4 === 0 ? ['1'] : null,
      }));
      frames.push({ symbol, partition: 0, trades, timestamp: base + i * 500 + 20 });
    }
  }
  const producer = await transactionalProducer();
  t.after(() => producer.disconnect());
  await sendInTransactions(producer, s.raw, frames.map(frameMessage), { chunk: 60 });
  const exp = reference(await readToEnd(a, [s.raw]), [1_000, 10_000], 2_000);

  const outputs = s.symbols.map(symbolToTopic);
  const sinkGroup = uniqueName('sink-cass-pipe');
  const processStage = startCli(t, s.args('--windows', '1s,10s', '--lateness', '2s'));
  const sink = startCli(t, ['sink', ...outputs, '--group', sinkGroup, '--flush', '100ms'], ks.env);
  await waitProcessed(a, s, 90_000);
  await waitFor('the sink to commit every output record', () => caughtUp(a, sinkGroup, outputs), 90_000, 250);
  for (const stage of [processStage, sink]) {
    const r = await stage.stop('SIGTERM');
    assert.equal(r.code, 0, r.stderr.slice(-2000));
  }

  const trades = await readCassandraTrades(ks);
  assert.equal(trades.length, 2_400);
  assert.deepEqual(trades, exp.trades.sort(byId), 'exactly the trades process wrote, each once');
  const candles = await readCassandraCandles(ks);
  const closed = candles.filter((c) => c.is_final);
  assert.equal(closed.length, exp.finals.size, 'every closed window');
  assert.ok(closed.length > 20);
  const near = (x: number, y: number) => Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(x), Math.abs(y));
  for (const c of closed) {
    const where = `${c.symbol} ${c.window_ms} ms @ ${new Date(c.window_start).toISOString()}`;
    const inWindow = trades.filter((x) => x.symbol === c.symbol && x.trade_timestamp >= c.window_start && x.trade_timestamp < c.window_end);
    const r = recompute(inWindow);
    assert.deepEqual(
      { open: c.open, close: c.close, high: c.high, low: c.low, trade_count: c.trade_count },
      { open: r.open, close: r.close, high: r.high, low: r.low, trade_count: r.trade_count },
      where,
    );
    assert.ok(near(c.volume, r.volume) && near(c.avg_price, r.avg_price) && near(c.vwap!, r.vwap!), `${where}: volume, avg_price, vwap`);
  }
});

test('kill -9 of the sink mid-run, then a restart: exactly the rows in Cassandra, newest candle versions', async (t) => {
  const ks = await createKeyspace(t, 'fp_kill');
  const topic = await createTopic(t, 'sink-cass-kill', 1);
  const dlq = await createTopic(t, 'sink-cass-kill-dlq', 1);
  const trades = makeTrades('BINANCE:ETHUSDT', 20_000);
  const candles = makeCandles('BINANCE:ETHUSDT', 300, 4);
  const producer = await transactionalProducer();
  t.after(() => producer.disconnect());
  const messages = trades.map(tradeMessage);
  candles.forEach((c, i) => messages.splice(Math.floor((i * messages.length) / candles.length) + i, 0, candleMessage(c)));
  await sendInTransactions(producer, topic, messages, { chunk: 2_000 });

  const args = [
    'sink',
    topic,
    '--group',
    uniqueName('sink-cass-kill'),
    '--batch-rows',
    '500',
    '--flush',
    '50ms',
    '--session-timeout',
    '6s',
  ];
  const env = { ...ks.env, FINPIPE_DLQ_TOPIC: dlq };
  const first = startCli(t, args, env);
  await waitFor('some rows', async () => (await countCassandraRows(ks, 'trades')) >= 2_000, 60_000, 50);
  first.child.kill('SIGKILL');
  assert.equal((await first.exited).signal, 'SIGKILL');
  const atKill = await countCassandraRows(ks, 'trades');
  assert.ok(atKill < trades.length, `killed mid-run (${atKill} of ${trades.length} trades written)`);

  const second = startCli(t, args, env);
  await waitFor(
    'every row',
    async () => (await countCassandraRows(ks, 'trades')) === trades.length && (await countCassandraRows(ks, 'candles')) === 300,
    90_000,
    250,
  );
  const result = await second.stop('SIGTERM');
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /sink: \d+ records written/);
  assert.deepEqual(await readCassandraTrades(ks), sortTrades(trades));
  assert.deepEqual(await readCassandraCandles(ks), finalCandles(candles));
});

test('poison records go to the dead-letter topic with the reason; the rows around them reach Cassandra', async (t) => {
  const ks = await createKeyspace(t, 'fp_poison');
  const topic = await createTopic(t, 'sink-cass-poison', 1);
  const dlq = await createTopic(t, 'sink-cass-dlq', 1);
  const good = makeTrades('ETH', 40);
  const goodCandles = makeCandles('ETH', 3, 1);
  const messages = [
    ...good.slice(0, 20).map(tradeMessage),
    { key: 'ETH', value: Buffer.from('not avro at all'), headers: { [RECORD_TYPE_HEADER]: 'trade' } },
    tradeMessage({ ...makeTrades('ETH', 1)[0], trade_timestamp: 1e15 }),
    { key: 'ETH', value: tradeMessage(good[0]).value, headers: {} },
    ...goodCandles.map(candleMessage),
    ...good.slice(20).map(tradeMessage),
  ];
  const producer = await transactionalProducer();
  t.after(() => producer.disconnect());
  await sendInTransactions(producer, topic, messages);

  const sink = startCli(t, ['sink', topic, '--group', uniqueName('sink-cass-poison'), '--flush', '100ms'], {
    ...ks.env,
    FINPIPE_DLQ_TOPIC: dlq,
  });
  const letters = await readTopic(dlq, (r) => r.length >= 3, 60_000);
  await waitFor(
    'the good rows',
    async () => (await countCassandraRows(ks, 'trades')) === 40 && (await countCassandraRows(ks, 'candles')) === 3,
    60_000,
  );
  const result = await sink.stop('SIGTERM');
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /3 dead letters/);

  assert.deepEqual(await readCassandraTrades(ks), sortTrades(good));
  assert.deepEqual(await readCassandraCandles(ks), finalCandles(goodCandles));
  assert.equal(letters.length, 3);
  const bySource = new Map(letters.map((l) => [l.headers[DLQ_HEADERS.source], l]));
  assert.match(bySource.get(`${topic}/0/20`)!.headers[DLQ_HEADERS.reason], /not a valid finpipe.Trade Avro record/);
  assert.equal(bySource.get(`${topic}/0/20`)!.value!.toString(), 'not avro at all');
  assert.match(bySource.get(`${topic}/0/21`)!.headers[DLQ_HEADERS.reason], /trade_timestamp 1000000000000000 is outside/);
  assert.match(bySource.get(`${topic}/0/22`)!.headers[DLQ_HEADERS.reason], /missing header finpipe\.type/);
});

test('hostile topic names and keyspace names are refused before anything connects to Cassandra', async (t) => {
  const ks = await createKeyspace(t, 'fp_hostile');
  for (const [topic, why] of [
    ['x"; DROP KEYSPACE system; --', /topic name|not a valid|character/i],
    ['../../etc/passwd', /topic name|not a valid|character/i],
    ['__consumer_offsets', /Kafka's internal topic/],
    ['finpipe.dlq', /dead-letter topic/],
  ] as const) {
    const r = await runCli(['sink', topic], ks.env);
    assert.equal(r.code, 2, `${topic}: ${r.stderr}`);
    assert.match(r.stderr, why);
  }
  const badKeyspace = await runCli(['sink', 'AAPL'], { ...ks.env, FINPIPE_CASSANDRA_KEYSPACE: 'x"; DROP KEYSPACE system; --' });
  assert.equal(badKeyspace.code, 2, badKeyspace.stderr);
  assert.match(badKeyspace.stderr, /cassandra\.keyspace: .* is not a keyspace name/);
  const exists = await ks.client.execute('SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?', [ks.name]);
  assert.equal(exists.rows.length, 0, 'the sink did not even connect');
});

test('secrets stay out of what the sink prints when Cassandra refuses or is unreachable', async (t) => {
  const ks = await createKeyspace(t, 'fp_secret');
  const r = await runCli(['status'], {
    ...ks.env,
    FINPIPE_CASSANDRA_CONTACT_POINTS: '127.0.0.1:1',
    FINPIPE_CASSANDRA_USERNAME: 'u',
    FINPIPE_CASSANDRA_PASSWORD: 'hunter2-secret',
  });
  assert.equal(r.code, 1);
  assert.doesNotMatch(r.stdout + r.stderr, /hunter2-secret/);
});
