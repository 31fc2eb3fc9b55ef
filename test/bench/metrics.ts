/**
 * `npm run bench:metrics` (part of `npm run bench`): what --metrics-port costs. Each stage
 * (the real CLI, its own process) handles the same workload with metrics off and on,
 * alternately (off, on, off, on, ...), BENCH_RUNS pairs (default 3); while on, /metrics is
 * scraped every second (a Prometheus scrape interval far shorter than the usual 15 s).
 * Figures: median trades/s off and on, the cost in %, the stage's CPU time per trade off and
 * on (read from /proc; on a shared machine the steadier measure of cost), and the highest RSS the scrapes saw
 * (what the Kubernetes manifests' memory requests are based on). Goal: cost <= 3 %.
 *
 *   produce  simulator (rate 0, --max-trades N) -> produce: trades acknowledged / elapsed
 *   process  one raw topic filled once (6 partitions), drained by a new group each run:
 *            records committed / time from the first to the last committed transaction
 *   sink     one per-symbol topic filled once, drained into a fresh database each run:
 *            records committed / time from the first to the last offset commit
 *
 * Env: BENCH_TRADES (default 300,000 for produce and process, a third of it for sink), BENCH_RUNS,
 * BENCH_STAGES (default produce,process,sink).
 * The machine is shared: alternating keeps a load change from landing on one side only.
 */
import { readFileSync } from 'node:fs';
import type { Admin } from 'kafkajs';
import mysql from 'mysql2/promise';
import { deleteTopicsQuietly, testKafka, uniqueName } from '../helpers/kafka';
import { MYSQL } from '../helpers/mysql';
import { metricValue, parsePrometheusText } from '../helpers/metrics';
import { codecs } from '../../src/core/serde';
import { StageRegistry } from '../../src/core/metrics/registry';
import { processMetrics } from '../../src/core/metrics/stages';
import { newStats } from '../../src/core/process/stats';
import { makeTrades, sendInTransactions, tradeMessage, transactionalProducer } from '../integration/sink-fixtures';
import { emitResult, fmt, freePort, median, startFinpipe, type Child } from './lib';

const TRADES = Number(process.env.BENCH_TRADES ?? 300_000);
const SINK_TRADES = Math.round(TRADES / 3);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const BROKERS = (process.env.FINPIPE_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const STAGES = (process.env.BENCH_STAGES ?? 'produce,process,sink').split(',');

interface RunResult {
  tradesPerSec: number;
  maxRssBytes: number;
  /** CPU time the stage used per trade (µs): less disturbed by other load on the machine than trades/s (produce: the whole run, start-up included). */
  cpuMicrosPerTrade: number;
}

/** Samples the child's CPU time (user + system, from /proc) every 200 ms; the last sample is its total, close enough. */
function cpuMeter(pid: number | undefined): { now(): number; stop(): number } {
  let seconds = 0;
  const read = (): void => {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      seconds = (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
    } catch {
      // exited: keep the last sample
    }
  };
  const timer = setInterval(read, 200);
  return {
    now() {
      read();
      return seconds;
    },
    stop() {
      read();
      clearInterval(timer);
      return seconds;
    },
  };
}

/** Scrapes /metrics every second while `child` runs (metrics on); the highest RSS seen. */
function scraper(port: number | null): { stop(): number } {
  if (port === null) return { stop: () => 0 };
  let maxRss = 0;
  const timer = setInterval(() => {
    fetch(`http://127.0.0.1:${port}/metrics`)
      .then((r) => r.text())
      .then((text) => (maxRss = Math.max(maxRss, metricValue(parsePrometheusText(text), 'process_resident_memory_bytes') || 0)))
      .catch(() => {}); // not listening yet, or already stopped
  }, 1_000);
  return {
    stop() {
      clearInterval(timer);
      return maxRss;
    },
  };
}

async function metricsArgs(on: boolean): Promise<{ args: string[]; port: number | null }> {
  if (!on) return { args: [], port: null };
  const port = await freePort();
  return { args: ['--metrics-port', String(port)], port };
}

/**
 * Polls a consumer group's committed offsets until they reach `total`: records per second
 * between the first and the last commit, and the CPU seconds the stage used in between
 * (start-up, the same with metrics or without but larger with them, left out).
 */
async function drainRate(
  admin: Admin,
  group: string,
  topic: string,
  total: number,
  child: Child,
  cpu: { now(): number },
): Promise<{ perSec: number; cpuPerRecord: number }> {
  let first: { at: number; done: number; cpu: number } | null = null;
  let last = { at: 0, done: 0, cpu: 0 };
  const deadline = Date.now() + 300_000;
  for (;;) {
    const offsets = await admin.fetchOffsets({ groupId: group, topics: [topic] }).catch(() => []);
    const done = offsets.flatMap((t) => t.partitions).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
    const now = Date.now();
    if (done > 0 && !first) first = { at: now, done, cpu: cpu.now() };
    if (done > last.done) last = { at: now, done, cpu: cpu.now() };
    if (done >= total) break;
    if (now > deadline || child.proc.exitCode !== null)
      throw new Error(`${group}: committed ${done} of ${total}:\n${child.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  if (last.at - first!.at < 500) throw new Error(`${group}: drained in one commit; raise BENCH_TRADES for a meaningful rate`);
  const records = last.done - first!.done;
  return { perSec: records / ((last.at - first!.at) / 1000), cpuPerRecord: (last.cpu - first!.cpu) / records };
}

async function produceRun(on: boolean): Promise<RunResult> {
  const id = uniqueName('bm').slice(3);
  const topic = `bench-metrics-raw-${id}`;
  const simPort = await freePort();
  const symbols = Array.from({ length: 8 }, (_, i) => `BM${id}:S${i}`);
  const sim = startFinpipe(
    ['simulate', '--port', String(simPort), '--rate', '0', '--max-trades', String(TRADES), '--symbols', symbols.join(',')],
    {},
  );
  const { args, port } = await metricsArgs(on);
  try {
    await waitForListening(simPort);
    const produce = startFinpipe(
      ['produce', ...symbols, '--url', `ws://127.0.0.1:${simPort}`, '--topic', topic, '--max-trades', String(TRADES), ...args],
      { FINNHUB_TOKEN: 'bench', FINPIPE_DLQ_TOPIC: `${topic}-dlq` },
    );
    const scrape = scraper(port);
    const cpu = cpuMeter(produce.proc.pid);
    const code = await produce.exited;
    const maxRssBytes = scrape.stop();
    const cpuSeconds = cpu.stop();
    const line = produce
      .output()
      .split('\n')
      .find((l) => l.includes('"summary"'));
    if (code !== 0 || !line) throw new Error(`produce exited with ${code}:\n${produce.output().slice(-3000)}`);
    const { summary } = JSON.parse(line) as { summary: { tradesAcked: number; elapsedMs: number } };
    return {
      tradesPerSec: summary.tradesAcked / (summary.elapsedMs / 1000),
      maxRssBytes,
      cpuMicrosPerTrade: (cpuSeconds * 1e6) / summary.tradesAcked,
    };
  } finally {
    await sim.stop();
    await deleteTopicsQuietly([topic, `${topic}-dlq`]);
  }
}

async function waitForListening(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (
      await fetch(`http://127.0.0.1:${port}/api/v1/search?q=x&token=x`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the simulator did not listen on ${port}`);
}

/** The raw topic for process, filled once: frames of 10 trades of 20 symbols, 6 partitions. */
async function fillRaw(admin: Admin, topic: string, symbols: string[]): Promise<number> {
  await admin.createTopics({ topics: [{ topic, numPartitions: 6 }], waitForLeaders: true });
  const producer = testKafka().producer();
  await producer.connect();
  const codec = codecs().raw;
  const frames = Math.ceil(TRADES / 10);
  const base = Date.now() - 3_600_000;
  try {
    for (let i = 0; i < frames; i += 2_000) {
      const messages = [];
      for (let j = i; j < Math.min(frames, i + 2_000); j++) {
        const s = symbols[j % symbols.length];
        const data = Array.from({ length: 10 }, (_, k) => ({ s, p: 100 + ((j + k) % 50), t: base + j * 5 + k, v: 1, c: null }));
        messages.push({ key: s, value: codec.encode({ data, type: 'trade' }) });
      }
      await producer.send({ topic, messages });
    }
  } finally {
    await producer.disconnect();
  }
  return frames;
}

const symbolTopic = (prefix: string, symbol: string) => `${prefix}-${symbol.replace(/[^A-Za-z0-9_-]/g, '_')}`;

async function processRun(admin: Admin, raw: string, frames: number, prefix: string, symbols: string[], on: boolean): Promise<RunResult> {
  const group = `${prefix}-${uniqueName('g').slice(2)}`;
  // Created up front: the runs measure processing, not topic creation (which a loaded broker sometimes refuses at first).
  await admin.createTopics({ topics: symbols.map((s) => ({ topic: symbolTopic(prefix, s), numPartitions: 1 })), waitForLeaders: true });
  const { args, port } = await metricsArgs(on);
  const child = startFinpipe(
    [
      'process',
      '--topic',
      raw,
      '--group',
      group,
      '--topic-prefix',
      `${prefix}-`,
      '--late-topic',
      `${raw}-late`,
      '--dlq-topic',
      `${raw}-dlq`,
      ...args,
    ],
    { FINPIPE_KAFKA_BROKERS: BROKERS.join(',') },
  );
  const scrape = scraper(port);
  const cpu = cpuMeter(child.proc.pid);
  try {
    const drained = await drainRate(admin, group, raw, frames, child, cpu);
    cpu.stop();
    return { tradesPerSec: drained.perSec * 10, maxRssBytes: scrape.stop(), cpuMicrosPerTrade: (drained.cpuPerRecord * 1e6) / 10 };
  } finally {
    scrape.stop();
    await child.stop();
    await deleteTopicsQuietly([`${group}-state`]);
  }
}

async function sinkRun(admin: Admin, topic: string, on: boolean): Promise<RunResult> {
  const db = `fp_bench_metrics_${uniqueName('d').slice(2).replace(/-/g, '')}`;
  const conn = await mysql.createConnection(MYSQL);
  await conn.query(`CREATE DATABASE \`${db}\``);
  const group = uniqueName('bench-metrics-sink');
  const { args, port } = await metricsArgs(on);
  const child = startFinpipe(['sink', topic, '--group', group, ...args], {
    FINPIPE_MYSQL_URL: `mysql://${MYSQL.user}@${MYSQL.host}:${MYSQL.port}/${db}`,
    FINPIPE_KAFKA_BROKERS: BROKERS.join(','),
  });
  const scrape = scraper(port);
  const cpu = cpuMeter(child.proc.pid);
  try {
    const drained = await drainRate(admin, group, topic, SINK_TRADES, child, cpu);
    cpu.stop();
    return { tradesPerSec: drained.perSec, maxRssBytes: scrape.stop(), cpuMicrosPerTrade: drained.cpuPerRecord * 1e6 };
  } finally {
    scrape.stop();
    await child.stop();
    await conn.query(`DROP DATABASE IF EXISTS \`${db}\``).catch(() => {});
    await conn.end();
  }
}

/** Off and on alternately, RUNS pairs; the medians and the cost. */
async function alternate(stage: string, run: (on: boolean) => Promise<RunResult>): Promise<Record<string, number>> {
  const off: number[] = [];
  const on: number[] = [];
  const cpuOff: number[] = [];
  const cpuOn: number[] = [];
  let rss = 0;
  for (let i = 0; i < RUNS; i++) {
    // off-on, on-off, ...: a run disturbs the next one a little (the broker deletes the last run's topics), so neither side always goes second.
    for (const metrics of i % 2 === 0 ? [false, true] : [true, false]) {
      const r = await run(metrics);
      (metrics ? on : off).push(r.tradesPerSec);
      (metrics ? cpuOn : cpuOff).push(r.cpuMicrosPerTrade);
      rss = Math.max(rss, r.maxRssBytes);
      console.log(
        `${stage} run ${i + 1} metrics ${metrics ? 'on ' : 'off'}: ${fmt(r.tradesPerSec)} trades/s, ${fmt(r.cpuMicrosPerTrade, 2)} µs CPU/trade`,
      );
    }
  }
  const result = {
    off: median(off),
    on: median(on),
    costPercent: (1 - median(on) / median(off)) * 100,
    /** The median of each pair's own cost: less sensitive to the load changing between pairs. */
    pairedCostPercent: median(on.map((x, i) => (1 - x / off[i]) * 100)),
    cpuMicrosPerTradeOff: median(cpuOff),
    cpuMicrosPerTradeOn: median(cpuOn),
    cpuCostPercent: (median(cpuOn) / median(cpuOff) - 1) * 100,
    maxRssMiB: rss / 2 ** 20,
  };
  console.log(
    `${stage}: median ${fmt(result.off)} trades/s off, ${fmt(result.on)} on: cost ${fmt(result.costPercent, 1)} % ` +
      `(median of the pairs' costs ${fmt(result.pairedCostPercent, 1)} %); CPU per trade ${fmt(result.cpuMicrosPerTradeOff, 2)} µs off, ` +
      `${fmt(result.cpuMicrosPerTradeOn, 2)} µs on: cost ${fmt(result.cpuCostPercent, 1)} % ` +
      `(goal <= 3 %: ${result.costPercent <= 3 ? 'met' : 'NOT met'}); RSS up to ${fmt(result.maxRssMiB)} MiB`,
  );
  return result;
}

/**
 * The metric code's own cost, in this process, without Kafka: one scrape of a process
 * registry (default metrics included) and one hook call, averaged. At one scrape per second
 * the scrape's share of a core is scrapeMs / 1000; hooks run once per batch.
 */
async function directCost(): Promise<{ scrapeMs: number; hookNs: number }> {
  const stats = newStats();
  for (let p = 0; p < 6; p++) stats.lag.set(p, p);
  const registry = new StageRegistry(
    processMetrics('raw'),
    () => stats,
    () => ({ ready: true, reason: '' }),
  );
  const hooks = registry.hooks();
  for (let i = 0; i < 20; i++) await registry.metrics(); // warm up
  const scrapes = 200;
  let started = performance.now();
  for (let i = 0; i < scrapes; i++) await registry.metrics();
  const scrapeMs = (performance.now() - started) / scrapes;
  const calls = 1_000_000;
  started = performance.now();
  for (let i = 0; i < calls; i++) hooks.transactionCommitted(0.003, 100);
  const hookNs = ((performance.now() - started) * 1e6) / calls;
  return { scrapeMs, hookNs };
}

async function main(): Promise<void> {
  const direct = await directCost();
  console.log(
    `direct cost: one scrape of a process registry ${fmt(direct.scrapeMs, 2)} ms (at 1 scrape/s: ${fmt(direct.scrapeMs / 10, 2)} % of a core); ` +
      `one hook call (two histogram observations) ${fmt(direct.hookNs)} ns`,
  );
  console.log(
    `bench:metrics  ${fmt(TRADES)} trades (sink ${fmt(SINK_TRADES)}), ${RUNS} off/on pairs per stage, /metrics scraped every 1 s when on`,
  );
  const admin = testKafka('bench-metrics').admin();
  await admin.connect();
  const id = uniqueName('bm').slice(3);
  const raw = `bench-metrics-raw-${id}`;
  const symbols = Array.from({ length: 20 }, (_, i) => `BM${id}:P${i}`);
  const sinkTopic = `bench-metrics-sink-${id}`;
  const outputs = symbols.flatMap((s) => [...Array(2 * RUNS).keys()].map((i) => symbolTopic(`bmp${i}`, s)));
  try {
    const results: Record<string, Record<string, number>> = {};
    if (STAGES.includes('produce')) results.produce = await alternate('produce', produceRun);
    if (STAGES.includes('process')) {
      const frames = await fillRaw(admin, raw, symbols);
      let n = 0;
      results.process = await alternate('process', (on) => processRun(admin, raw, frames, `bmp${n++}`, symbols, on));
    }
    if (STAGES.includes('sink')) {
      await admin.createTopics({ topics: [{ topic: sinkTopic, numPartitions: 1 }], waitForLeaders: true });
      const producer = await transactionalProducer();
      await sendInTransactions(producer, sinkTopic, makeTrades('BENCH:METRICS', SINK_TRADES).map(tradeMessage), { chunk: 5_000 });
      await producer.disconnect();
      results.sink = await alternate('sink', (on) => sinkRun(admin, sinkTopic, on));
    }
    emitResult('metrics', { trades: TRADES, runs: RUNS, direct, ...results });
  } finally {
    await deleteTopicsQuietly([raw, `${raw}-late`, `${raw}-dlq`, sinkTopic, ...outputs]);
    await admin.disconnect();
  }
}

// Not a test: the test runner executes every .js under dist/test, so only run when started directly.
if (require.main === module)
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
