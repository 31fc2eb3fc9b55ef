/**
 * `npm run bench:sink:cassandra`: how fast `finpipe sink --store cassandra` writes trades,
 * side by side in the same run with a plain loader using the same driver.
 *
 * Per run:
 *   loader  N trades (decoded objects, built before the clock starts) written with the
 *           driver's executeConcurrent: one prepared INSERT per row, BENCH_CONCURRENCY in
 *           flight; no Kafka, no batching, no offsets. The fastest simple loader we found.
 *   sink    the same trades already in a per-symbol topic (committed transactions) -> the real
 *           Sink with the Cassandra store (consumer group, Avro decode, per-partition unlogged
 *           batches, offset commits after every write is acknowledged); rows/s from the first
 *           record read to the last offset commit.
 * Each phase writes into a fresh keyspace with the same tables; afterwards both must hold N
 * rows with the same content checksum. Prints every run, the medians and the ratio; goals:
 * sink >= 30,000 rows/s and sink/loader >= 0.7.
 *
 * Env: BENCH_TRADES (default 100000), BENCH_RUNS (default 3), BENCH_BATCH_ROWS (default 5000),
 * BENCH_WRITERS (default 2), BENCH_CONCURRENCY (loader requests in flight, default 256),
 * FINPIPE_KAFKA_BROKERS, FINPIPE_CASSANDRA_CONTACT_POINTS.
 * Not a test file: the test runner executes every .js under dist/test, so it returns at once there.
 */
import { createHash, randomUUID } from 'node:crypto';
import cassandra from 'cassandra-driver';
import pino from 'pino';
import { loadConfig, type Config } from '../../src/core/config';
import { Sink } from '../../src/core/sink/sink';
import { connectOnce } from '../../src/core/stores/cassandra/client';
import { migrate, TABLES } from '../../src/core/stores/cassandra/schema';
import { cql, tradeParams } from '../../src/core/stores/cassandra/statements';
import { BROKERS, deleteTopicsQuietly, testKafka, uniqueName } from '../helpers/kafka';
import { CASSANDRA_CONTACT_POINTS, testClient } from '../helpers/cassandra';
import { makeTrades, sendInTransactions, tradeMessage, transactionalProducer } from '../integration/sink-fixtures';
import { emitResult } from './lib';

const N = Number(process.env.BENCH_TRADES ?? 100_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const BATCH_ROWS = Number(process.env.BENCH_BATCH_ROWS ?? 5_000);
const WRITERS = Number(process.env.BENCH_WRITERS ?? 2);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 256);
const silent = pino({ level: process.env.BENCH_LOG_LEVEL ?? 'silent' });

let admin: cassandra.Client;
const keyspaces: string[] = [];

function configFor(keyspace: string): Config {
  return loadConfig({
    env: {
      FINPIPE_KAFKA_BROKERS: BROKERS.join(','),
      FINPIPE_STORE: 'cassandra',
      FINPIPE_CASSANDRA_CONTACT_POINTS: CASSANDRA_CONTACT_POINTS,
      FINPIPE_CASSANDRA_KEYSPACE: keyspace,
    },
    envFile: '/dev/null',
  });
}

/** A new keyspace with finpipe's tables (created before the clock starts: DDL is slow in Cassandra). */
async function freshKeyspace(): Promise<string> {
  const name = `fp_bench_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
  keyspaces.push(name);
  const client = await connectOnce(configFor(name).cassandra);
  try {
    await migrate(client, configFor(name).cassandra);
  } finally {
    await client.shutdown();
  }
  return name;
}

/** Row count and an order-independent checksum of every column, read after the clock stopped. */
async function contentSum(keyspace: string): Promise<string> {
  let n = 0;
  let sum = 0n;
  let pageState: string | undefined;
  do {
    const rs = await admin.execute(`SELECT * FROM ${keyspace}.${TABLES.trades}`, [], { fetchSize: 10_000, pageState });
    for (const r of rs.rows) {
      const text = [
        r.id,
        r.symbol,
        r.day,
        (r.trade_timestamp as Date).getTime(),
        r.price,
        r.volume,
        (r.ingest_timestamp as Date).getTime(),
        r.trade_conditions,
      ]
        .map((v) => JSON.stringify(v))
        .join('|');
      sum += createHash('sha1').update(text).digest().readBigUInt64BE(0);
      n++;
    }
    pageState = rs.pageState ?? undefined;
  } while (pageState);
  return `${n}/${(sum & 0xffffffffffffn).toString(16)}`;
}

async function benchLoader(trades: ReturnType<typeof makeTrades>): Promise<{ rowsPerSec: number; sum: string }> {
  const keyspace = await freshKeyspace();
  const config = configFor(keyspace).cassandra;
  const client = await connectOnce(config);
  try {
    const params = trades.map(tradeParams); // built before the clock starts
    const started = performance.now();
    await cassandra.concurrent.executeConcurrent(client, cql(keyspace).trade, params, {
      concurrencyLevel: CONCURRENCY,
      executionProfile: 'default',
    });
    const seconds = (performance.now() - started) / 1000;
    return { rowsPerSec: N / seconds, sum: await contentSum(keyspace) };
  } finally {
    await client.shutdown();
  }
}

async function benchSink(topic: string): Promise<{ rowsPerSec: number; sum: string }> {
  const keyspace = await freshKeyspace();
  const controller = new AbortController();
  const sink = new Sink({
    config: configFor(keyspace),
    logger: silent,
    topics: [topic],
    store: 'cassandra',
    groupId: uniqueName('bench-sink-cassandra'),
    batchRows: BATCH_ROWS,
    flushMs: 500,
    writers: WRITERS,
  });
  const running = sink.run(controller.signal);
  const deadline = Date.now() + 300_000;
  while (sink.snapshot().records < N) {
    if (Date.now() > deadline) throw new Error(`sink wrote only ${sink.snapshot().records} of ${N} records in 300 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const stats = sink.snapshot();
  controller.abort();
  await running;
  return { rowsPerSec: N / ((stats.lastCommitAt - stats.firstRecordAt) / 1000), sum: await contentSum(keyspace) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x: number) => Math.round(x).toLocaleString('en-US').padStart(9);

async function main(): Promise<void> {
  admin = testClient();
  await admin.connect();
  const topic = uniqueName('bench-sink-cassandra');
  try {
    const kafkaAdmin = testKafka().admin();
    await kafkaAdmin.connect();
    await kafkaAdmin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await kafkaAdmin.disconnect();
    const trades = makeTrades('BINANCE:BTCUSDT', N);
    const producer = await transactionalProducer();
    await sendInTransactions(producer, topic, trades.map(tradeMessage), { chunk: 5_000 });
    await producer.disconnect();
    const version = String((await admin.execute('SELECT release_version FROM system.local')).first().release_version);
    console.log(
      `bench:sink:cassandra  ${N.toLocaleString('en-US')} trades, ${RUNS} runs, batch ${BATCH_ROWS.toLocaleString('en-US')} rows, ` +
        `${WRITERS} writers, loader concurrency ${CONCURRENCY}, Cassandra ${version}`,
    );
    console.log('run        sink rows/s   loader rows/s   sink/loader');
    const results: { sink: number; loader: number }[] = [];
    for (let run = 1; run <= RUNS; run++) {
      const loader = await benchLoader(trades);
      const sink = await benchSink(topic);
      if (sink.sum !== loader.sum) throw new Error(`the tables differ: sink ${sink.sum}, loader ${loader.sum} (rows/checksum)`);
      results.push({ sink: sink.rowsPerSec, loader: loader.rowsPerSec });
      console.log(
        `${String(run).padEnd(6)} ${fmt(sink.rowsPerSec)}       ${fmt(loader.rowsPerSec)}        ${(sink.rowsPerSec / loader.rowsPerSec).toFixed(2)}`,
      );
      for (const ks of keyspaces.splice(0)) await admin.execute(`DROP KEYSPACE IF EXISTS ${ks}`);
    }
    const m = { sink: median(results.map((r) => r.sink)), loader: median(results.map((r) => r.loader)) };
    const ratio = median(results.map((r) => r.sink / r.loader));
    console.log(`median ${fmt(m.sink)}       ${fmt(m.loader)}        ${ratio.toFixed(2)}`);
    console.log(
      `goals: sink >= 30,000 rows/s: ${m.sink >= 30_000 ? 'met' : 'NOT met'}; sink/loader >= 0.7: ${ratio >= 0.7 ? 'met' : 'NOT met'}`,
    );
    emitResult('sink-cassandra', {
      trades: N,
      batchRows: BATCH_ROWS,
      writers: WRITERS,
      loaderConcurrency: CONCURRENCY,
      runs: results.map((r) => ({ sinkRowsPerSec: Math.round(r.sink), loaderRowsPerSec: Math.round(r.loader) })),
      median: { sinkRowsPerSec: Math.round(m.sink), loaderRowsPerSec: Math.round(m.loader), sinkToLoader: Number(ratio.toFixed(2)) },
    });
  } finally {
    await deleteTopicsQuietly([topic]);
    for (const ks of keyspaces) await admin.execute(`DROP KEYSPACE IF EXISTS ${ks}`).catch(() => {});
    await admin.shutdown();
  }
}

if (process.env.NODE_TEST_CONTEXT) {
  console.log('bench:sink:cassandra is a benchmark; run it with `npm run bench:sink:cassandra`');
} else {
  main().then(
    () => process.exit(0),
    (error) => {
      console.error(`bench:sink:cassandra failed: ${(error as Error | undefined)?.stack ?? String(error)}`);
      process.exit(1);
    },
  );
}
