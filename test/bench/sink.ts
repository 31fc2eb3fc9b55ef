/**
 * `npm run bench:sink`: how fast `finpipe sink` writes trades into MySQL, against the
 * fastest bulk path the server has, LOAD DATA LOCAL INFILE of the same rows into a table of
 * the same shape (same DDL, fresh database each time).
 *
 * Per run:
 *   sink       N trades already in a per-symbol topic (committed transactions) -> the real
 *              Sink (consumer group, Avro bytes -> LOAD DATA lines, batches, transactions,
 *              offset commits); rows/s from the first record read to the last transaction
 *              committed.
 *   writer     the same records' Avro bytes, batched and rendered as the sink does, through
 *              BENCH_WRITERS MysqlBatchWriters in parallel (the sink's write path without Kafka).
 *   load data  the same rows as TSV through one LOAD DATA LOCAL INFILE.
 * After each run the three tables are compared (row count and a checksum over every column),
 * so all three paths provably stored the same rows. (The sink's own write path uses LOAD DATA
 * LOCAL INFILE too, one statement per transaction of BENCH_BATCH_ROWS, with INSERT as the
 * fallback; the comparison is sink = Kafka + decode + 20 transactions against one bulk load.)
 * Prints every run and the medians; goals: sink >= 50k rows/s and sink/LOAD DATA >= 0.7.
 *
 * Env: BENCH_TRADES (default 100000), BENCH_RUNS (default 3), BENCH_BATCH_ROWS (default 5000, as `finpipe sink`),
 * BENCH_WRITERS (default 2, as `finpipe sink --writers`; used by the sink and the writer phase),
 * FINPIPE_KAFKA_BROKERS, FINPIPE_MYSQL_URL's server (root@127.0.0.1:3306 by default).
 * Not a test file: the test runner executes every .js under dist/test, so it returns at once there.
 */
import { Readable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import mysql from 'mysql2/promise';
import pino from 'pino';
import { loadConfig } from '../../src/core/config';
import { Sink } from '../../src/core/sink/sink';
import { MysqlSession } from '../../src/core/stores/mysql/connection';
import { MysqlBatchWriter } from '../../src/core/stores/mysql/writer';
import { WriteBatch } from '../../src/core/stores/mysql/batch';
import { migrate } from '../../src/core/stores/mysql/schema';
import { TRADE_COLUMNS } from '../../src/core/stores/mysql/sql';
import type { Trade } from '../../src/core/serde';
import { BROKERS, deleteTopicsQuietly, testKafka, uniqueName } from '../helpers/kafka';
import { MYSQL } from '../helpers/mysql';
import { makeTrades, sendInTransactions, tradeMessage, transactionalProducer } from '../integration/sink-fixtures';
import { emitResult } from './lib';

const N = Number(process.env.BENCH_TRADES ?? 100_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const BATCH_ROWS = Number(process.env.BENCH_BATCH_ROWS ?? 5_000);
const WRITERS = Number(process.env.BENCH_WRITERS ?? 2);
const silent = pino({ level: process.env.BENCH_LOG_LEVEL ?? 'silent' });

const dbs: string[] = [];
/** Content checksum of the table each phase of the current run wrote. */
const sums: Record<string, string> = {};
let admin: mysql.Connection;

async function freshDatabase(): Promise<string> {
  const name = `fp_bench_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
  await admin.query(`CREATE DATABASE \`${name}\``);
  dbs.push(name);
  const session = new MysqlSession(mysqlConfig(name), silent);
  try {
    await session.run((conn) => migrate(conn, name));
  } finally {
    await session.close();
  }
  return name;
}

function mysqlConfig(database: string) {
  return {
    url: `mysql://${MYSQL.user}@${MYSQL.host}:${MYSQL.port}/${database}`,
    host: MYSQL.host,
    port: MYSQL.port,
    user: MYSQL.user,
    password: MYSQL.password || undefined,
    database,
  };
}

async function count(db: string): Promise<number> {
  const [rows] = await admin.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${db}\`.trades`);
  return Number(rows[0].n);
}

/** An order-independent checksum of every column of every row (after the clock stopped): the three paths must store exactly the same rows. */
async function contentSum(db: string): Promise<string> {
  const [rows] = await admin.query<mysql.RowDataPacket[]>(
    `SELECT COUNT(*) AS n, SUM(CRC32(CONCAT_WS('|', ${TRADE_COLUMNS.join(', ')}))) AS crc FROM \`${db}\`.trades`,
  );
  return `${rows[0].n}/${rows[0].crc}`;
}

async function benchSink(topic: string): Promise<number> {
  const db = await freshDatabase();
  const config = loadConfig({
    env: { FINPIPE_KAFKA_BROKERS: BROKERS.join(','), FINPIPE_MYSQL_URL: mysqlConfig(db).url },
    envFile: '/dev/null',
  });
  const controller = new AbortController();
  const sink = new Sink({
    config,
    logger: silent,
    topics: [topic],
    groupId: uniqueName('bench-sink'),
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
  if ((await count(db)) !== N) throw new Error(`expected ${N} rows, found ${await count(db)}`);
  sums.sink = await contentSum(db);
  return N / ((stats.lastCommitAt - stats.firstRecordAt) / 1000);
}

/**
 * The sink's write path alone: the same records' Avro bytes rendered into batches of
 * BATCH_ROWS as the sink does, written through WRITERS MysqlBatchWriters in parallel (as the
 * sink runs them); no Kafka.
 */
async function benchWriter(values: Buffer[]): Promise<number> {
  const db = await freshDatabase();
  const sessions = Array.from({ length: WRITERS }, () => new MysqlSession(mysqlConfig(db), silent));
  for (const s of sessions) await s.waitConnected();
  const started = performance.now();
  await Promise.all(
    sessions.map(async (session, k) => {
      const writer = new MysqlBatchWriter(session, silent);
      for (let i = k * BATCH_ROWS; i < values.length; i += BATCH_ROWS * sessions.length) {
        const batch = new WriteBatch<null>(true);
        for (const value of values.slice(i, i + BATCH_ROWS)) batch.addTradeAvro(value, null);
        await writer.write(batch);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  for (const s of sessions) await s.close();
  if ((await count(db)) !== N) throw new Error('writer: wrong row count');
  sums.writer = await contentSum(db);
  return N / seconds;
}

function tsv(trades: Trade[]): Buffer {
  const dt = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 23);
  return Buffer.from(
    trades
      .map(
        (t) =>
          `${t.id}\t${t.symbol}\t${t.price}\t${t.volume}\t${dt(t.trade_timestamp)}\t${dt(t.ingest_timestamp)}\t${JSON.stringify(t.trade_conditions)}\n`,
      )
      .join(''),
  );
}

async function benchLoadData(trades: Trade[]): Promise<number> {
  const db = await freshDatabase();
  const conn = await mysql.createConnection({ ...MYSQL, database: db, flags: ['+LOCAL_FILES'] });
  try {
    await conn.query("SET time_zone = '+00:00'");
    const data = tsv(trades); // built before the clock starts, like the sink's records already in Kafka
    const started = performance.now();
    await conn.query({
      sql: `LOAD DATA LOCAL INFILE 'trades.tsv' INTO TABLE trades FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' (${TRADE_COLUMNS.join(',')})`,
      // In 64 KiB pieces: mysql2 sends each chunk as one packet, which must stay under max_allowed_packet.
      infileStreamFactory: () =>
        Readable.from(Array.from({ length: Math.ceil(data.length / 65_536) }, (_, i) => data.subarray(i * 65_536, (i + 1) * 65_536))),
    } as mysql.QueryOptions);
    const seconds = (performance.now() - started) / 1000;
    if ((await count(db)) !== N) throw new Error('load data: wrong row count');
    sums.load = await contentSum(db);
    return N / seconds;
  } finally {
    await conn.end();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x: number) => Math.round(x).toLocaleString('en-US').padStart(9);

async function main(): Promise<void> {
  admin = await mysql.createConnection(MYSQL);
  try {
    const [[localInfile]] = await admin.query<mysql.RowDataPacket[]>('SELECT @@GLOBAL.local_infile AS v');
    if (Number(localInfile.v) !== 1) {
      console.log('enabling local_infile on the server (SET GLOBAL local_infile = 1) for LOAD DATA LOCAL INFILE');
      await admin.query('SET GLOBAL local_infile = 1');
    }
    const topic = uniqueName('bench-sink');
    const kafkaAdmin = testKafka().admin();
    await kafkaAdmin.connect();
    await kafkaAdmin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await kafkaAdmin.disconnect();
    try {
      const trades = makeTrades('BINANCE:BTCUSDT', N);
      const messages = trades.map(tradeMessage);
      const values = messages.map((m) => m.value as Buffer);
      const producer = await transactionalProducer();
      await sendInTransactions(producer, topic, messages, { chunk: 5_000 });
      await producer.disconnect();
      console.log(
        `bench:sink  ${N.toLocaleString('en-US')} trades, ${RUNS} runs, batch ${BATCH_ROWS.toLocaleString('en-US')} rows, ` +
          `${WRITERS} writers, ${(await admin.query<mysql.RowDataPacket[]>('SELECT VERSION() AS v'))[0][0].v}`,
      );
      console.log('run        sink rows/s   writer rows/s   LOAD DATA rows/s   sink/LOAD   writer/LOAD');
      const results: { sink: number; writer: number; load: number }[] = [];
      for (let run = 1; run <= RUNS; run++) {
        const load = await benchLoadData(trades);
        const sink = await benchSink(topic);
        const writer = await benchWriter(values);
        if (sums.sink !== sums.load || sums.writer !== sums.load)
          throw new Error(`the tables differ: sink ${sums.sink}, writer ${sums.writer}, LOAD DATA ${sums.load} (rows/checksum)`);
        results.push({ sink, writer, load });
        console.log(
          `${String(run).padEnd(6)} ${fmt(sink)}       ${fmt(writer)}        ${fmt(load)}        ` +
            `${(sink / load).toFixed(2)}        ${(writer / load).toFixed(2)}`,
        );
        for (const db of dbs.splice(0)) await admin.query(`DROP DATABASE IF EXISTS \`${db}\``);
      }
      const m = {
        sink: median(results.map((r) => r.sink)),
        writer: median(results.map((r) => r.writer)),
        load: median(results.map((r) => r.load)),
      };
      const ratio = median(results.map((r) => r.sink / r.load));
      console.log(
        `median ${fmt(m.sink)}       ${fmt(m.writer)}        ${fmt(m.load)}        ` +
          `${ratio.toFixed(2)}        ${median(results.map((r) => r.writer / r.load)).toFixed(2)}`,
      );
      const writerRatio = median(results.map((r) => r.writer / r.load));
      console.log(
        `goals: sink >= 50,000 rows/s: ${m.sink >= 50_000 ? 'met' : 'NOT met'}; ` +
          `sink/LOAD DATA >= 0.7: ${ratio >= 0.7 ? 'met' : 'NOT met'} (write path alone: ${writerRatio.toFixed(2)})`,
      );
      emitResult('sink', {
        trades: N,
        batchRows: BATCH_ROWS,
        writers: WRITERS,
        runs: results.map((r) => ({
          sinkRowsPerSec: Math.round(r.sink),
          writerRowsPerSec: Math.round(r.writer),
          loadDataRowsPerSec: Math.round(r.load),
        })),
        median: {
          sinkRowsPerSec: Math.round(m.sink),
          writerRowsPerSec: Math.round(m.writer),
          loadDataRowsPerSec: Math.round(m.load),
          sinkToLoadData: Number(ratio.toFixed(2)),
          writerToLoadData: Number(writerRatio.toFixed(2)),
        },
      });
    } finally {
      await deleteTopicsQuietly([topic]);
    }
  } finally {
    for (const db of dbs) await admin.query(`DROP DATABASE IF EXISTS \`${db}\``).catch(() => {});
    await admin.end();
  }
}

if (process.env.NODE_TEST_CONTEXT) {
  // Picked up by `node --test dist/test/` (it runs every .js under a test/ directory): skip.
  console.log('bench:sink is a benchmark; run it with `npm run bench:sink`');
} else {
  main().then(
    () => process.exit(0),
    (error) => {
      console.error(`bench:sink failed: ${(error as Error | undefined)?.stack ?? String(error)}`);
      process.exit(1);
    },
  );
}
