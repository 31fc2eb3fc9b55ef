/**
 * `npm run bench:produce`: trades/s through finpipe produce at full speed, next to Kafka's
 * own ProducerPerformance tool (same broker, same Kafka 3.9 jars, comparable records) run
 * in the same process tree, and the ratio.
 *
 *   simulator (child process, rate 0, --max-trades N) --ws--> ProduceStage --Kafka--> topic
 *   ProducerPerformance: as many records as finpipe wrote messages, of the same average size,
 *   acks=all, idempotent, linger.ms equal to finpipe's; and a second run with one record per
 *   trade (what a producer that does not group trades would have to send).
 *
 * Environment: BENCH_TRADES (default 1,000,000), BENCH_RUNS (default 3), BENCH_SYMBOLS (8).
 * Figures on a shared 2-core machine are noisy: every run is printed, then the median.
 */
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import pino from 'pino';
import { Kafka, logLevel } from 'kafkajs';
import { loadConfig } from '../../src/core/config';
import { ProduceStage } from '../../src/core/produce';
import { DEFAULT_SIMULATED_SYMBOLS } from '../../src/core/simulator';
import { emitResult } from './lib';

const ROOT = path.resolve(__dirname, '../../..');
const TRADES = Number(process.env.BENCH_TRADES ?? 1_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SYMBOLS = DEFAULT_SIMULATED_SYMBOLS.slice(0, Number(process.env.BENCH_SYMBOLS ?? 8));
const LINGER_MS = 20;
const config = loadConfig({});
const brokers = config.kafka.brokers.join(',');
const kafka = new Kafka({ clientId: 'bench', brokers: config.kafka.brokers, logLevel: logLevel.NOTHING });

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function startSimulatorProcess(): Promise<{ url: string; stop(): void }> {
  const child = spawn(
    process.execPath,
    [
      path.join(ROOT, 'bin/finpipe'),
      'simulate',
      '--port',
      '0',
      '--rate',
      '0',
      '--max-trades',
      String(TRADES),
      '--log-level',
      'warn',
      '--symbols',
      SYMBOLS.join(','),
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, FINPIPE_LOG_FORMAT: 'json' },
    },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (ws:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`simulator exited with ${code}: ${out}`)));
  });
  return { url, stop: () => child.kill('SIGTERM') };
}

async function withTopic<T>(name: string, fn: () => Promise<T>, alsoDelete: string[] = []): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic: name, numPartitions: 6 }], waitForLeaders: true });
    return await fn();
  } finally {
    await admin.deleteTopics({ topics: [name, ...alsoDelete] }).catch(() => {});
    await admin.disconnect();
  }
}

function producerPerformance(classpath: string, topic: string, records: number, size: number): { recordsPerSec: number; mbPerSec: number } {
  const out = execFileSync(
    'java',
    [
      '-Xmx512m',
      '-cp',
      classpath,
      'org.apache.kafka.tools.ProducerPerformance',
      '--topic',
      topic,
      '--num-records',
      String(records),
      '--record-size',
      String(size),
      '--throughput',
      '-1',
      '--producer-props',
      `bootstrap.servers=${brokers}`,
      'acks=all',
      'enable.idempotence=true',
      `linger.ms=${LINGER_MS}`,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 },
  );
  // Last line: "N records sent, X records/sec (Y MB/sec), ..."
  const m = /(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\)/.exec(out.trim().split('\n').pop() ?? '');
  if (!m) throw new Error(`cannot parse ProducerPerformance output:\n${out}`);
  return { recordsPerSec: Number(m[2]), mbPerSec: Number(m[3]) };
}

async function main(): Promise<void> {
  const classpath = execFileSync(process.execPath, [path.join(ROOT, 'docker/services.mjs'), 'kafka-classpath'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  })
    .trim()
    .split('\n')
    .pop()!;
  console.log(`bench:produce  ${fmt(TRADES)} trades per run, ${SYMBOLS.length} symbols, ${RUNS} runs, broker ${brokers}`);
  const rows: { finpipe: number; finpipeMb: number; pp: number; ppTrades: number; ppPerTrade: number; ratio: number }[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const sim = await startSimulatorProcess();
    const topic = `bench-produce-${process.pid}-${run}`;
    const summary = await withTopic(
      topic,
      () =>
        new ProduceStage({
          kafka: config.kafka,
          topics: { raw: topic, deadLetter: `${topic}-dlq` },
          logger: pino({ level: 'warn' }),
          source: { kind: 'websocket', symbols: SYMBOLS, url: sim.url, token: 'bench' },
          maxTrades: TRADES,
          batching: { lingerMs: LINGER_MS },
        }).run(new AbortController().signal),
      [`${topic}-dlq`],
    ).finally(() => sim.stop());
    const seconds = summary.elapsedMs / 1000;
    const finpipe = summary.tradesAcked / seconds;
    const finpipeMb = summary.bytesAcked / seconds / (1024 * 1024);
    const size = Math.max(1, Math.round(summary.bytesAcked / summary.messagesAcked) - 64);
    const perTradeSize = Math.max(1, Math.round((summary.bytesAcked - 64 * summary.messagesAcked) / summary.tradesAcked));
    const tradesPerMessage = summary.tradesAcked / summary.messagesAcked;
    const pp = await withTopic(`${topic}-pp`, async () => producerPerformance(classpath, `${topic}-pp`, summary.messagesAcked, size));
    const ppPerTrade = await withTopic(`${topic}-pp1`, async () =>
      producerPerformance(classpath, `${topic}-pp1`, summary.tradesAcked, perTradeSize),
    );
    const ppTrades = pp.recordsPerSec * tradesPerMessage;
    const row = { finpipe, finpipeMb, pp: pp.recordsPerSec, ppTrades, ppPerTrade: ppPerTrade.recordsPerSec, ratio: finpipe / ppTrades };
    rows.push(row);
    console.log(
      `run ${run}: finpipe ${fmt(finpipe)} trades/s (${fmt(summary.messagesAcked / seconds)} msgs/s, ` +
        `${fmt(finpipeMb, 1)} MiB/s, ${fmt(tradesPerMessage, 1)} trades/msg, ${fmt(summary.tradesAcked)} trades in ${fmt(seconds, 2)} s)\n` +
        `       ProducerPerformance ${fmt(pp.recordsPerSec)} records/s of ${size} B (${fmt(pp.mbPerSec, 1)} MB/s) ` +
        `= ${fmt(ppTrades)} trades/s at ${fmt(tradesPerMessage, 1)} trades/record; ratio finpipe/Kafka ${fmt(row.ratio, 2)}\n` +
        `       ProducerPerformance, one ${perTradeSize} B record per trade: ${fmt(ppPerTrade.recordsPerSec)} trades/s`,
    );
  }
  console.log(
    `median: finpipe ${fmt(median(rows.map((r) => r.finpipe)))} trades/s (${fmt(median(rows.map((r) => r.finpipeMb)), 1)} MiB/s); ` +
      `ProducerPerformance ${fmt(median(rows.map((r) => r.pp)))} records/s = ${fmt(median(rows.map((r) => r.ppTrades)))} trades/s; ` +
      `ratio ${fmt(median(rows.map((r) => r.ratio)), 2)}; one record per trade ${fmt(median(rows.map((r) => r.ppPerTrade)))} trades/s; ` +
      `goal >= 100,000 trades/s: ${median(rows.map((r) => r.finpipe)) >= 100_000 ? 'met' : 'NOT met'}`,
  );
  emitResult('produce', {
    trades: TRADES,
    symbols: SYMBOLS.length,
    runs: rows,
    tradesPerSec: median(rows.map((r) => r.finpipe)),
    producerPerformanceTradesPerSec: median(rows.map((r) => r.ppTrades)),
    producerPerformanceRecordPerTradePerSec: median(rows.map((r) => r.ppPerTrade)),
    ratio: median(rows.map((r) => r.ratio)),
    goalTradesPerSec: 100_000,
  });
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
