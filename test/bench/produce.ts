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
 * Schema Registry framing off and on in the same run (issue 14's goal: framing costs <= 5 %):
 * every run is a plain finpipe run (framing off) and a framed one (--schema-registry: the raw
 * subject registered, every value framed), same workload, plain first in odd runs and framed
 * first in even ones (ABBA), so warm-up and other work on the machine affect both alike. Each prints trades/s and the CPU
 * the produce stage used per 100,000 trades (this process's user + system time over the
 * stage's run: the simulator is a child process and not counted); then the medians and the
 * on/off ratios. The registry is FINPIPE_TEST_SCHEMA_REGISTRY_URL or the local one
 * (npm run services:up registry).
 *
 * Environment: BENCH_TRADES (default 1,000,000), BENCH_RUNS (default 3), BENCH_SYMBOLS (8),
 * BENCH_FRAMING: "both" (default: off and on per run, with ProducerPerformance), "off" (no
 * framed runs, no registry needed), "only" (the framing comparison alone: off and on per run,
 * no ProducerPerformance — the quick way to measure the framing cost).
 * Figures on a shared 2-core machine are noisy: every run is printed, then the median.
 */
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import pino from 'pino';
import { Kafka, logLevel } from 'kafkajs';
import { loadConfig } from '../../src/core/config';
import { ProduceStage } from '../../src/core/produce';
import { valueCodecs } from '../../src/core/serde/registry';
import { DEFAULT_SIMULATED_SYMBOLS } from '../../src/core/simulator';
import { emitResult, fmt, median } from './lib';

const ROOT = path.resolve(__dirname, '../../..');
const TRADES = Number(process.env.BENCH_TRADES ?? 1_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SYMBOLS = DEFAULT_SIMULATED_SYMBOLS.slice(0, Number(process.env.BENCH_SYMBOLS ?? 8));
const FRAMING = process.env.BENCH_FRAMING ?? 'both';
if (!['both', 'off', 'only'].includes(FRAMING)) throw new Error(`BENCH_FRAMING must be both, off or only (got ${FRAMING})`);
const REGISTRY_URL = process.env.FINPIPE_TEST_SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';
const LINGER_MS = 20;
const config = loadConfig({});
const brokers = config.kafka.brokers.join(',');
const kafka = new Kafka({ clientId: 'bench', brokers: config.kafka.brokers, logLevel: logLevel.NOTHING });

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

interface FinpipeRun {
  tradesPerSec: number;
  mbPerSec: number;
  /** CPU seconds (user + system) of this process per 100,000 trades acknowledged. */
  cpuPer100k: number;
  messages: number;
  trades: number;
  bytes: number;
  seconds: number;
}

/** One finpipe produce run of TRADES trades into a fresh topic; framed through the registry when `framed`. */
async function finpipeRun(topic: string, framed: boolean): Promise<FinpipeRun> {
  const sim = await startSimulatorProcess();
  let cpu = { user: 0, system: 0 };
  const summary = await withTopic(topic, async () => {
    const stage = new ProduceStage({
      kafka: config.kafka,
      values: framed ? valueCodecs({ url: REGISTRY_URL }).writer : undefined,
      topics: { raw: topic, deadLetter: `${topic}-dlq` },
      logger: pino({ level: 'warn' }),
      source: { kind: 'websocket', symbols: SYMBOLS, url: sim.url, token: 'bench' },
      maxTrades: TRADES,
      batching: { lingerMs: LINGER_MS },
    });
    const before = process.cpuUsage();
    const result = await stage.run(new AbortController().signal);
    cpu = process.cpuUsage(before);
    return result;
  }, [`${topic}-dlq`]).finally(() => sim.stop());
  const seconds = summary.elapsedMs / 1000;
  return {
    tradesPerSec: summary.tradesAcked / seconds,
    mbPerSec: summary.bytesAcked / seconds / (1024 * 1024),
    cpuPer100k: ((cpu.user + cpu.system) / 1e6 / summary.tradesAcked) * 100_000,
    messages: summary.messagesAcked,
    trades: summary.tradesAcked,
    bytes: summary.bytesAcked,
    seconds,
  };
}

const describeRun = (r: FinpipeRun) =>
  `${fmt(r.tradesPerSec)} trades/s (${fmt(r.messages / r.seconds)} msgs/s, ${fmt(r.mbPerSec, 1)} MiB/s, ` +
  `${fmt(r.trades / r.messages, 1)} trades/msg, ${fmt(r.trades)} trades in ${fmt(r.seconds, 2)} s), CPU ${fmt(r.cpuPer100k, 2)} s per 100k trades`;

async function main(): Promise<void> {
  // Kafka's jars, for ProducerPerformance (not needed for the framing comparison alone).
  const classpath =
    FRAMING === 'only'
      ? ''
      : execFileSync(process.execPath, [path.join(ROOT, 'docker/services.mjs'), 'kafka-classpath'], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        })
          .trim()
          .split('\n')
          .pop()!;
  console.log(
    `bench:produce  ${fmt(TRADES)} trades per run, ${SYMBOLS.length} symbols, ${RUNS} runs, broker ${brokers}` +
      (FRAMING === 'off' ? '' : `; framing off and on alternating, ABBA (registry ${REGISTRY_URL})`) +
      (FRAMING === 'only' ? '; framing comparison only (BENCH_FRAMING=only)' : ''),
  );
  const rows: { finpipe: number; finpipeMb: number; pp: number; ppTrades: number; ppPerTrade: number; ratio: number }[] = [];
  const off: FinpipeRun[] = [];
  const on: FinpipeRun[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const topic = `bench-produce-${process.pid}-${run}`;
    const framedRun = async () => {
      const framed = await finpipeRun(`${topic}-framed`, true);
      on.push(framed);
      console.log(`run ${run}: finpipe, framing on:  ${describeRun(framed)}`);
    };
    // ABBA order: the benchmark's first run also warms up the broker and the JIT, so every
    // second run starts with framing on rather than always penalising framing off.
    const framedFirst = FRAMING !== 'off' && run % 2 === 0;
    if (framedFirst) await framedRun();
    const plain = await finpipeRun(topic, false);
    off.push(plain);
    if (FRAMING !== 'only') {
      const size = Math.max(1, Math.round(plain.bytes / plain.messages) - 64);
      const perTradeSize = Math.max(1, Math.round((plain.bytes - 64 * plain.messages) / plain.trades));
      const tradesPerMessage = plain.trades / plain.messages;
      const pp = await withTopic(`${topic}-pp`, async () => producerPerformance(classpath, `${topic}-pp`, plain.messages, size));
      const ppPerTrade = await withTopic(`${topic}-pp1`, async () =>
        producerPerformance(classpath, `${topic}-pp1`, plain.trades, perTradeSize),
      );
      const ppTrades = pp.recordsPerSec * tradesPerMessage;
      const row = {
        finpipe: plain.tradesPerSec,
        finpipeMb: plain.mbPerSec,
        pp: pp.recordsPerSec,
        ppTrades,
        ppPerTrade: ppPerTrade.recordsPerSec,
        ratio: plain.tradesPerSec / ppTrades,
      };
      rows.push(row);
      console.log(
        `run ${run}: finpipe ${describeRun(plain)}\n` +
          `       ProducerPerformance ${fmt(pp.recordsPerSec)} records/s of ${size} B (${fmt(pp.mbPerSec, 1)} MB/s) ` +
          `= ${fmt(ppTrades)} trades/s at ${fmt(tradesPerMessage, 1)} trades/record; ratio finpipe/Kafka ${fmt(row.ratio, 2)}\n` +
          `       ProducerPerformance, one ${perTradeSize} B record per trade: ${fmt(ppPerTrade.recordsPerSec)} trades/s`,
      );
    } else console.log(`run ${run}: finpipe, framing off: ${describeRun(plain)}`);
    if (FRAMING !== 'off' && !framedFirst) await framedRun();
  }
  const result: Record<string, unknown> = { trades: TRADES, symbols: SYMBOLS.length };
  if (FRAMING !== 'only') {
    console.log(
      `median: finpipe ${fmt(median(rows.map((r) => r.finpipe)))} trades/s (${fmt(median(rows.map((r) => r.finpipeMb)), 1)} MiB/s); ` +
        `ProducerPerformance ${fmt(median(rows.map((r) => r.pp)))} records/s = ${fmt(median(rows.map((r) => r.ppTrades)))} trades/s; ` +
        `ratio ${fmt(median(rows.map((r) => r.ratio)), 2)}; one record per trade ${fmt(median(rows.map((r) => r.ppPerTrade)))} trades/s; ` +
        `goal >= 100,000 trades/s: ${median(rows.map((r) => r.finpipe)) >= 100_000 ? 'met' : 'NOT met'}`,
    );
    Object.assign(result, {
      runs: rows,
      tradesPerSec: median(rows.map((r) => r.finpipe)),
      producerPerformanceTradesPerSec: median(rows.map((r) => r.ppTrades)),
      producerPerformanceRecordPerTradePerSec: median(rows.map((r) => r.ppPerTrade)),
      ratio: median(rows.map((r) => r.ratio)),
      goalTradesPerSec: 100_000,
    });
  }
  if (FRAMING !== 'off') {
    const m = (runs: FinpipeRun[], pick: (r: FinpipeRun) => number) => median(runs.map(pick));
    const rate = { off: m(off, (r) => r.tradesPerSec), on: m(on, (r) => r.tradesPerSec) };
    const cpu = { off: m(off, (r) => r.cpuPer100k), on: m(on, (r) => r.cpuPer100k) };
    // Each framed run against the plain run of its own pair (the same minute of the machine).
    const pairs = on.map((r, i) => ({ rate: r.tradesPerSec / off[i].tradesPerSec, cpu: r.cpuPer100k / off[i].cpuPer100k }));
    const paired = { rate: median(pairs.map((p) => p.rate)), cpu: median(pairs.map((p) => p.cpu)) };
    console.log(
      `framing, medians of ${RUNS} alternating runs: off ${fmt(rate.off)} trades/s, CPU ${fmt(cpu.off, 2)} s per 100k trades; ` +
        `on ${fmt(rate.on)} trades/s, CPU ${fmt(cpu.on, 2)} s per 100k trades; ` +
        `on/off throughput ${fmt(rate.on / rate.off, 3)}, CPU ${fmt(cpu.on / cpu.off, 3)} ` +
        `(goal: framing costs <= 5 %: ${rate.on / rate.off >= 0.95 ? 'met' : 'NOT met'} by throughput, ` +
        `${cpu.on / cpu.off <= 1.05 ? 'met' : 'NOT met'} by CPU)\n` +
        `framing, per pair on/off: throughput ${pairs.map((p) => fmt(p.rate, 2)).join(' / ')}, CPU ${pairs.map((p) => fmt(p.cpu, 2)).join(' / ')}; ` +
        `medians of the pairs: throughput ${fmt(paired.rate, 3)}, CPU ${fmt(paired.cpu, 3)} ` +
        `(goal: ${paired.rate >= 0.95 ? 'met' : 'NOT met'} by throughput, ${paired.cpu <= 1.05 ? 'met' : 'NOT met'} by CPU)`,
    );
    result.framing = {
      pairedThroughputRatio: paired.rate,
      pairedCpuRatio: paired.cpu,
      offTradesPerSec: rate.off,
      onTradesPerSec: rate.on,
      throughputRatio: rate.on / rate.off,
      offCpuSecondsPer100k: cpu.off,
      onCpuSecondsPer100k: cpu.on,
      cpuRatio: cpu.on / cpu.off,
    };
    result.framingRuns = off.map((r, i) => ({
      offTradesPerSec: r.tradesPerSec,
      onTradesPerSec: on[i]?.tradesPerSec,
      offCpuPer100k: r.cpuPer100k,
      onCpuPer100k: on[i]?.cpuPer100k,
    }));
  }
  emitResult('produce', result);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
