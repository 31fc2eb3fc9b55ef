import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { RowDataPacket } from 'mysql2/promise';
import { loadConfig } from '../../src/core/config';
import { configureLogging } from '../../src/core/log';
import { DLQ_HEADERS } from '../../src/core/kafka/dead-letter';
import { RECORD_TYPE_HEADER } from '../../src/core/serde';
import { Sink } from '../../src/core/sink/sink';
import type { SinkStats } from '../../src/core/sink/stats';
import type { MysqlStore } from '../../src/core/stores/mysql/store';
import { admin, createTopic, deleteTopicsQuietly, readTopic, uniqueName, waitFor, BROKERS } from '../helpers/kafka';
import { createDatabase } from '../helpers/mysql';
import { runCli } from '../helpers/cli';
import {
  candleMessage,
  countRows,
  finalCandles,
  makeCandles,
  makeTrades,
  readCandles,
  readTrades,
  sendInTransactions,
  sortTrades,
  tableExists,
  tradeMessage,
  transactionalProducer,
  T0,
} from './sink-fixtures';

/** An in-process sink against the real broker and MariaDB; stopped (and awaited) after the test. */
function startSink(
  t: { after(fn: () => unknown): void },
  opts: {
    url: string;
    topics: string[];
    dlq?: string;
    pattern?: RegExp;
    batchRows?: number;
    flushMs?: number;
    patternPollMs?: number;
    groupId?: string;
  },
) {
  const config = loadConfig({
    env: { FINPIPE_KAFKA_BROKERS: BROKERS.join(','), FINPIPE_MYSQL_URL: opts.url, FINPIPE_DLQ_TOPIC: opts.dlq ?? 'finpipe.dlq' },
    envFile: '/dev/null',
  });
  const logger = configureLogging((process.env.TEST_LOG_LEVEL as 'info') ?? 'silent', 'json');
  const controller = new AbortController();
  const sink = new Sink({
    config,
    logger,
    topics: opts.topics,
    pattern: opts.pattern,
    groupId: opts.groupId ?? uniqueName('sink-test'),
    batchRows: opts.batchRows ?? 500,
    flushMs: opts.flushMs ?? 100,
    topicPollMs: 200,
    patternPollMs: opts.patternPollMs,
  });
  let error: unknown;
  const done: Promise<SinkStats | undefined> = sink.run(controller.signal).catch((e) => {
    error = e;
    return undefined;
  });
  const stop = async () => {
    controller.abort();
    const stats = await done;
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows the caught value unchanged (unknown narrowed to {} by the check)
    if (error) throw error;
    return stats!;
  };
  t.after(() => stop().catch(() => {}));
  return { sink, stop, failed: () => error, done };
}

/** The group's committed offset of every non-empty partition is the partition's end. */
async function assertCommittedToEnd(a: Awaited<ReturnType<typeof admin>>, groupId: string, topics: string[]): Promise<void> {
  for (const topic of topics) {
    const ends = await a.fetchTopicOffsets(topic);
    const [committed] = await a.fetchOffsets({ groupId, topics: [topic] });
    for (const p of ends.filter((e) => e.high !== '0')) {
      assert.equal(
        committed.partitions.find((c) => c.partition === p.partition)?.offset,
        p.high,
        `${topic}/${p.partition} committed to the end`,
      );
    }
  }
}

test('writes every trade once and every candle as its final version; aborted transactions and replays change nothing', async (t) => {
  const db = await createDatabase(t);
  const [topicA, topicB] = [await createTopic(t, 'sink-a', 2), await createTopic(t, 'sink-b', 1)];
  const tradesA = makeTrades('BINANCE:BTCUSDT', 1500);
  const tradesB = makeTrades('AAPL', 700, T0 + 1);
  const candlesA = makeCandles('BINANCE:BTCUSDT', 30, 3);
  const candlesB = makeCandles('AAPL', 20, 2);
  const producer = await transactionalProducer();
  t.after(() => producer.disconnect());
  // Versions interleaved with trades, as process emits them; then an old version replayed
  // after the final one, which must not regress the row.
  await sendInTransactions(
    producer,
    topicA,
    [...tradesA.slice(0, 700).map(tradeMessage), ...candlesA.map(candleMessage), ...tradesA.slice(700).map(tradeMessage)],
    { chunk: 400 },
  );
  await sendInTransactions(producer, topicA, candlesA.filter((c) => c.version === 1).map(candleMessage));
  await sendInTransactions(producer, topicB, [...candlesB.map(candleMessage), ...tradesB.map(tradeMessage)]);
  // Records of an aborted transaction are not real: the sink must skip them.
  await sendInTransactions(producer, topicB, makeTrades('AAPL', 50).map(tradeMessage), { abort: true });

  const run = startSink(t, { url: db.url, topics: [topicA, topicB] });
  await waitFor(
    'all rows',
    async () => (await countRows(db.connection, db.name, 'trades')) === 2200 && (await countRows(db.connection, db.name, 'candles')) === 50,
    30_000,
  );
  // Also replay the same trades (a producer retry upstream): still one row each.
  await sendInTransactions(producer, topicB, tradesB.slice(0, 100).map(tradeMessage));
  await waitFor('the replayed trades to be read', () => run.sink.snapshot().trades >= 2300, 20_000);
  const stats = await run.stop();

  assert.deepEqual(await readTrades(db.connection, db.name), sortTrades([...tradesA, ...tradesB]));
  assert.deepEqual(await readCandles(db.connection, db.name), finalCandles([...candlesA, ...candlesB]));
  assert.equal(stats.tradesInserted, 2200, 'the replayed trades were no-ops');
  assert.equal(stats.deadLetters, 0);

  // Offsets were committed up to the end of each partition (including transaction markers).
  await assertCommittedToEnd(await admin(t), run.sink['options'].groupId, [topicA, topicB]);
});

test("a server that refuses LOAD DATA LOCAL (local_infile off, MySQL 8's default): every row still written exactly once, with INSERT", async (t) => {
  const db = await createDatabase(t);
  const topic = await createTopic(t, 'sink-noload', 1);
  const trades = makeTrades('BINANCE:ETHUSDT', 2000);
  const candles = makeCandles('BINANCE:ETHUSDT', 10, 2);
  const producer = await transactionalProducer();
  t.after(() => producer.disconnect());
  await sendInTransactions(producer, topic, [...trades.map(tradeMessage), ...candles.map(candleMessage)], { chunk: 500 });

  // A server-wide setting: restored in `finally`, before the test's connection closes.
  const [[before]] = await db.connection.query<RowDataPacket[]>('SELECT @@GLOBAL.local_infile AS v');
  await db.connection.query('SET GLOBAL local_infile = 0');
  try {
    // Small batches, so that both writers write several and each finds out for itself.
    const run = startSink(t, { url: db.url, topics: [topic], batchRows: 200 });
    await waitFor(
      'all rows',
      async () =>
        (await countRows(db.connection, db.name, 'trades')) === 2000 && (await countRows(db.connection, db.name, 'candles')) === 10,
      30_000,
    );
    const store = run.sink['store'] as MysqlStore<unknown>;
    const writers = store['writers'];
    const stats = await run.stop();
    assert.deepEqual(await readTrades(db.connection, db.name), sortTrades(trades));
    assert.deepEqual(await readCandles(db.connection, db.name), finalCandles(candles));
    assert.equal(stats.tradesInserted, 2000);
    assert.ok(writers.length === 2 && writers.some((w) => !w.usesLoadData), 'a writer switched to INSERT');
    // Once every writer has switched, batches keep trades as objects instead of rendering LOAD DATA lines.
    if (writers.every((w) => !w.usesLoadData)) assert.equal(store.newBatch().lines, null);
  } finally {
    await db.connection.query(`SET GLOBAL local_infile = ${Number(before.v) ? 1 : 0}`);
  }
});

test('poison records go to the dead-letter topic with the reason, and the good rows around them are written', async (t) => {
  const db = await createDatabase(t);
  const topic = await createTopic(t, 'sink-poison', 1);
  const dlq = await createTopic(t, 'sink-dlq', 1);
  const good = makeTrades('ETH', 40);
  const goodCandles = makeCandles('ETH', 3, 1);
  const farFuture = { ...makeTrades('ETH', 1)[0], trade_timestamp: 1e15 }; // year 33658: outside LIMITS (and DATETIME)
  const negativeWindow = { ...makeCandles('ETH', 1, 1, T0 + 1e6)[0], window_ms: -10 }; // outside LIMITS (and INT UNSIGNED)
  const messages = [
    ...good.slice(0, 20).map(tradeMessage),
    { key: 'ETH', value: Buffer.from('not avro at all'), headers: { [RECORD_TYPE_HEADER]: 'trade' } },
    tradeMessage(farFuture),
    { key: 'ETH', value: tradeMessage(good[0]).value, headers: {} },
    ...goodCandles.map(candleMessage),
    candleMessage(negativeWindow),
    tradeMessage({ ...good[0], id: 'x'.repeat(40) }), // valid for the sink, but id is CHAR(36): the database refuses it
    ...good.slice(20).map(tradeMessage),
  ];
  const producer = await transactionalProducer();
  t.after(() => producer.disconnect());
  await sendInTransactions(producer, topic, messages);

  const run = startSink(t, { url: db.url, topics: [topic], dlq, batchRows: 1000 });
  const letters = await readTopic(dlq, (r) => r.length >= 5, 30_000);
  await waitFor(
    'the good rows',
    async () => (await countRows(db.connection, db.name, 'trades')) === 40 && (await countRows(db.connection, db.name, 'candles')) === 3,
  );
  const stats = await run.stop();

  assert.deepEqual(await readTrades(db.connection, db.name), sortTrades(good));
  assert.deepEqual(await readCandles(db.connection, db.name), finalCandles(goodCandles));
  assert.equal(stats.deadLetters, 5);
  assert.equal(letters.length, 5);
  const bySource = new Map(letters.map((l) => [l.headers[DLQ_HEADERS.source], l]));
  const at = (offset: number) => bySource.get(`${topic}/0/${offset}`);
  for (const l of letters) assert.equal(l.headers[DLQ_HEADERS.stage], 'sink');
  assert.match(at(20)!.headers[DLQ_HEADERS.reason], /not a valid finpipe.Trade Avro record/);
  assert.equal(at(20)!.value!.toString(), 'not avro at all', 'the original bytes are kept');
  assert.match(at(21)!.headers[DLQ_HEADERS.reason], /trade_timestamp 1000000000000000 is outside .* 9999-12-31/);
  assert.match(at(22)!.headers[DLQ_HEADERS.reason], /missing header finpipe\.type/);
  assert.match(at(26)!.headers[DLQ_HEADERS.reason], /window_ms -10 is not an integer/);
  assert.equal(at(26)!.headers[RECORD_TYPE_HEADER], 'candle', 'the original headers are kept');
  assert.match(at(27)!.headers[DLQ_HEADERS.reason], /rejected by the database: .*(too long|id)/i);
});

test('a hostile topic name is refused before anything connects', async (t) => {
  const db = await createDatabase(t);
  const result = await runCli(['sink', 'x`; DROP TABLE trades; --'], { FINPIPE_MYSQL_URL: db.url });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /topic name "x`; DROP TABLE trades; --" contains "`", ";", " "/);
  assert.match(result.stderr, /hint:/);
  assert.equal(await tableExists(db.connection, db.name, 'finpipe_migrations'), false, 'the sink did not even connect to MySQL');
});

test('started before process created its topics: waits for them; --pattern picks every matching topic', async (t) => {
  const db = await createDatabase(t);
  const prefix = uniqueName('sink-pat').replace(/-/g, '_');
  const [named, matched] = [`${prefix}_named`, `${prefix}_AAPL`];
  t.after(() => deleteTopicsQuietly([named, matched]));
  const run = startSink(t, { url: db.url, topics: [named], pattern: new RegExp(`${prefix}_[A-Z]+`) });
  await waitFor('the sink to wait for its topics', () => run.sink.snapshot().state === 'waiting for topics');
  const a = await admin(t);
  await a.createTopics({
    topics: [
      { topic: named, numPartitions: 1 },
      { topic: matched, numPartitions: 1 },
    ],
    waitForLeaders: true,
  });
  const producer = await transactionalProducer();
  t.after(() => producer.disconnect());
  const [x, y] = [makeTrades('X', 5), makeTrades('AAPL', 7)];
  await sendInTransactions(producer, named, x.map(tradeMessage));
  await sendInTransactions(producer, matched, y.map(tradeMessage));
  await waitFor('rows from both topics', async () => (await countRows(db.connection, db.name, 'trades')) === 12, 30_000);
  const stats = await run.stop();
  assert.deepEqual(run.sink.subscribedTopics, [matched, named].sort());
  assert.deepEqual([...stats.topics.keys()].sort(), [matched, named].sort());
  assert.equal(stats.topics.get(matched)!.rows, 7);
  assert.equal(stats.topics.get(named)!.lag, 0);
});

/** For the --pattern tests: a database, a topic `first` that exists (2 partitions) and a name `later` for one created mid-test, both matching `pattern`. */
async function growingTopics(t: TestContext, name: string) {
  const db = await createDatabase(t);
  const prefix = uniqueName(name).replace(/-/g, '_');
  const [first, later] = [`${prefix}_AAPL`, `${prefix}_MSFT`];
  t.after(() => deleteTopicsQuietly([first, later]));
  const a = await admin(t);
  await a.createTopics({ topics: [{ topic: first, numPartitions: 2 }], waitForLeaders: true });
  const producer = await transactionalProducer();
  t.after(() => producer.disconnect());
  return { db, first, later, a, producer, pattern: new RegExp(`${prefix}_[A-Z]+`) };
}

test('--pattern: a matching topic created while the sink runs is added; nothing skipped or written twice across the restart', async (t) => {
  const { db, first, later, a, producer, pattern } = await growingTopics(t, 'sink-grow');
  const [aapl1, aapl2, msft] = [makeTrades('AAPL', 600), makeTrades('AAPL', 400, T0 + 1), makeTrades('MSFT', 300)];
  await sendInTransactions(producer, first, aapl1.map(tradeMessage), { chunk: 100 });

  const run = startSink(t, { url: db.url, topics: [], pattern, batchRows: 100, patternPollMs: 300 });
  await waitFor("the first topic's rows", async () => (await countRows(db.connection, db.name, 'trades')) === 600, 30_000);
  assert.deepEqual(run.sink.subscribedTopics, [first]);

  // While the sink runs: a new matching topic, and more records on the first one (some of
  // them while the consumer restarts).
  await a.createTopics({ topics: [{ topic: later, numPartitions: 1 }], waitForLeaders: true });
  await sendInTransactions(producer, later, msft.map(tradeMessage), { chunk: 100 });
  await sendInTransactions(producer, first, aapl2.map(tradeMessage), { chunk: 50 });
  await waitFor('rows from both topics', async () => (await countRows(db.connection, db.name, 'trades')) === 1300, 30_000);
  const stats = await run.stop();

  assert.deepEqual(run.sink.subscribedTopics, [first, later]);
  assert.deepEqual(await readTrades(db.connection, db.name), sortTrades([...aapl1, ...aapl2, ...msft]));
  assert.equal(stats.tradesInserted, 1300);
  assert.equal(stats.trades, 1300, 'no record was read twice: what was taken before the restart was committed first');
  assert.equal(stats.deadLetters, 0);
  await assertCommittedToEnd(a, run.sink['options'].groupId, [first, later]);
});

test('--pattern with two sinks in one group: a new topic is picked up by the group, every row once', async (t) => {
  const { db, first, later, a, producer, pattern } = await growingTopics(t, 'sink-pair');
  const [aapl, msft] = [makeTrades('AAPL', 400), makeTrades('MSFT', 600)];
  await sendInTransactions(producer, first, aapl.map(tradeMessage), { chunk: 100 });

  const groupId = uniqueName('sink-pair');
  const one = startSink(t, { url: db.url, topics: [], pattern, groupId, batchRows: 100, patternPollMs: 500 });
  const two = startSink(t, { url: db.url, topics: [], pattern, groupId, batchRows: 100, patternPollMs: 1_500 });
  await waitFor("the first topic's rows", async () => (await countRows(db.connection, db.name, 'trades')) === 400, 30_000);

  await a.createTopics({ topics: [{ topic: later, numPartitions: 4 }], waitForLeaders: true });
  await sendInTransactions(producer, later, msft.map(tradeMessage), { chunk: 100 });
  await waitFor("the new topic's rows", async () => (await countRows(db.connection, db.name, 'trades')) === 1000, 45_000);
  await Promise.all([one.stop(), two.stop()]);

  assert.deepEqual(one.sink.subscribedTopics, [first, later]);
  assert.deepEqual(two.sink.subscribedTopics, [first, later]);
  assert.deepEqual(await readTrades(db.connection, db.name), sortTrades([...aapl, ...msft]));
  await assertCommittedToEnd(a, groupId, [later]);
});

test('internal, finpipe and changelog topics named on the command line are usage errors, before anything connects', async (t) => {
  const db = await createDatabase(t);
  for (const [topic, why] of [
    ['__consumer_offsets', /__consumer_offsets is Kafka's internal topic/],
    ['__transaction_state', /Kafka's internal topic/],
    ['finpipe-process-state', /state changelog/],
    ['finpipe.dlq', /dead-letter topic/],
  ] as const) {
    const result = await runCli(['sink', topic], { FINPIPE_MYSQL_URL: db.url });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, why);
    assert.match(result.stderr, /hint:/);
  }
  assert.equal(await tableExists(db.connection, db.name, 'finpipe_migrations'), false, 'the sink did not even connect to MySQL');
});

test('--pattern: whole names for every alternative, per-symbol topics starting with "__" read, changelogs never', async (t) => {
  const db = await createDatabase(t);
  const dlq = await createTopic(t, 'sink-pat-dlq', 1);
  const p = uniqueName('pat').replace(/-/g, '_');
  // What symbolToTopic makes of "🚀:<p>_MOON" (an emoji is two UTF-16 units, each an "_"), a short and a long name, a changelog.
  const [moon, short, long, state] = [`___${p}_MOON`, `${p}_A`, `${p}_AAPL`, `${p}_AAPL-state`];
  t.after(() => deleteTopicsQuietly([moon, short, long, state]));
  const a = await admin(t);
  await a.createTopics({ topics: [moon, long, state].map((topic) => ({ topic, numPartitions: 1 })), waitForLeaders: true });
  const producer = await transactionalProducer();
  t.after(() => producer.disconnect());
  const [x, y] = [makeTrades('🚀:MOON', 5), makeTrades('AAPL', 7)];
  await sendInTransactions(producer, moon, x.map(tradeMessage));
  await sendInTransactions(producer, long, y.map(tradeMessage));
  await sendInTransactions(producer, state, [{ key: 'window', value: Buffer.from('state, not a trade') }]);

  // `short` first: a search from position 0 finds it inside `long` and stops there.
  const run = startSink(t, { url: db.url, topics: [], dlq, pattern: new RegExp(`${short}|${long}|${moon}|${state}`) });
  await waitFor('rows from both topics', async () => (await countRows(db.connection, db.name, 'trades')) === 12, 30_000);
  const stats = await run.stop();
  assert.deepEqual(run.sink.subscribedTopics, [moon, long].sort());
  assert.equal(stats.deadLetters, 0, 'the changelog was not read into the dead-letter topic');
  assert.deepEqual(await readTrades(db.connection, db.name), sortTrades([...x, ...y]));
});
