import type { Admin, Producer } from 'kafkajs';
import { deleteTopicsQuietly, testKafka, uniqueName } from '../helpers/kafka';
import { codecs, RECORD_TYPE_HEADER, type RawMessage, type RawTrade } from '../../src/core/serde';
import { valueCodecs, type ValueWriter } from '../../src/core/serde/registry';
import { symbolToTopic } from '../../src/core/symbols';
import { retry } from '../../src/core/retry';
import { emitResult, fmt, maximum, median, percentile, startFinpipe, type Child } from './lib';
import { brokerPid, checkOutputs, cpuSeconds, peakRssMiB, type OutputCheck } from './process-check';

/**
 * `npm run bench:process` — `finpipe process` (the real CLI, its own process) against the
 * local broker:
 *
 *  1. throughput: the raw topic is filled first (6 partitions, 20 symbols, frames of 10
 *     trades), then process drains it. Two rates: "steady" = trades committed from the
 *     moment every partition has committed its first transaction to the last commit / that
 *     time (start-up, group join and each partition's first transaction excluded); "overall" = all trades / time from starting the command
 *     to the last commit (everything included). Also process's CPU and the broker's CPU per
 *     100,000 trades over the steady part (from /proc; CPU is robust to other work on the
 *     machine, wall time is not — but the broker's figure includes whatever else uses the
 *     broker meanwhile) and process's peak RSS. Then every trade of the backlog is looked
 *     for on its symbol topic by its id and fields (process-check.ts): a missing, duplicated
 *     or wrong trade fails the benchmark. BENCH_RUNS runs (default 3); medians are printed.
 *  2. latency at a steady 1,000 and 20,000 trades/s (event time = now): from the moment a
 *     frame's produce request is acknowledged (the trade is readable on the raw topic) to the
 *     moment a read_committed consumer of the symbol topic receives a candle update that
 *     includes that trade (trade_count reached its position in the window). Every trade
 *     sent after the warm-up is a sample: one whose candle never arrives fails the
 *     benchmark. BENCH_LATENCY_RUNS runs per rate (default 3); medians of p50/p99/max.
 *
 *  3. Schema Registry framing off and on in the same run (issue 14's goal: framing costs
 *     <= 5 %): every throughput run above (framing off) is paired with the same workload
 *     framed (framed second in odd pairs, first in even ones: ABBA, as the first run also
 *     warms up the broker) — the backlog written through the registry writer (framed raw values), process
 *     started with --schema-registry (it reads framed raw values and writes framed trades and
 *     candles), and the check decoding framed values through the registry reader (a plain
 *     value on a symbol topic counts as wrong). Off and on alternate, so other work on the
 *     machine affects both alike; each run is printed, then the medians and the on/off ratios
 *     of steady trades/s and of process's CPU per 100,000 trades. The registry is
 *     FINPIPE_TEST_SCHEMA_REGISTRY_URL or the local one (npm run services:up registry).
 *     BENCH_FRAMING: "both" (default), "off" (no framed runs, no registry needed), "only"
 *     (the framing comparison alone, no latency runs: the quick way to measure its cost).
 *
 * The machine is shared and has 2 cores: compare CPU per trade first, wall figures second.
 * BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles the finpipe commands.
 */

const BROKERS = (process.env.FINPIPE_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const THROUGHPUT_TRADES = Number(process.env.BENCH_TRADES ?? 300_000);
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 20);
const LATENCY_RUNS = Number(process.env.BENCH_LATENCY_RUNS ?? 3);
const PARTITIONS = 6;
/** More `finpipe process` arguments for experiments, e.g. BENCH_PROCESS_ARGS="-X max.partition.fetch.bytes=2097152". */
const EXTRA_ARGS = (process.env.BENCH_PROCESS_ARGS ?? '').split(' ').filter(Boolean);
const FRAMING = process.env.BENCH_FRAMING ?? 'both';
if (!['both', 'off', 'only'].includes(FRAMING)) throw new Error(`BENCH_FRAMING must be both, off or only (got ${FRAMING})`);
const REGISTRY_URL = process.env.FINPIPE_TEST_SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';

interface Run {
  raw: string;
  group: string;
  late: string;
  dlq: string;
  symbols: string[];
}

function newRun(symbolCount: number): Run {
  const id = uniqueName('b').slice(2);
  return {
    raw: `bench-raw-${id}`,
    group: `bench-process-${id}`,
    late: `bench-late-${id}`,
    dlq: `bench-dlq-${id}`,
    symbols: Array.from({ length: symbolCount }, (_, i) => `BENCH${id}:S${i}`),
  };
}

/** `finpipe process` for the run; with `framed`, with --schema-registry (framed input and output). */
function startProcess(run: Run, framed = false): Child {
  return startFinpipe(
    [
      'process',
      '--topic',
      run.raw,
      '--group',
      run.group,
      '--late-topic',
      run.late,
      '--dlq-topic',
      run.dlq,
      '--brokers',
      BROKERS.join(','),
      ...EXTRA_ARGS,
      ...(framed ? ['--schema-registry', REGISTRY_URL] : []),
    ],
    {},
  );
}

async function cleanup(run: Run): Promise<void> {
  const names = [run.raw, run.late, run.dlq, `${run.group}-state`, ...run.symbols.map(symbolToTopic)];
  // A loaded broker may time out a large delete: check and try again.
  for (let attempt = 0; attempt < 5; attempt++) {
    await deleteTopicsQuietly(names);
    const admin = testKafka('bench-cleanup').admin();
    await admin.connect();
    const left = (await admin.listTopics()).filter((n) => names.includes(n));
    await admin.disconnect();
    if (left.length === 0) return;
  }
  process.stderr.write(`could not delete every benchmark topic (${names.join(', ')})\n`);
}

/** Records committed on the raw topic, and on how many partitions at least one. */
async function committed(admin: Admin, run: Run): Promise<{ records: number; partitions: number }> {
  // A new group's coordinator may still be moving ("not the correct coordinator"): kafkajs
  // marks that retriable, so retry() waits it out instead of failing the run.
  const [t] = await retry(() => admin.fetchOffsets({ groupId: run.group, topics: [run.raw] }), {
    initialMs: 100,
    maxMs: 1_000,
    attempts: 20,
  });
  const offsets = (t?.partitions ?? []).map((p) => Math.max(0, Number(p.offset)));
  return { records: offsets.reduce((sum, o) => sum + o, 0), partitions: offsets.filter((o) => o > 0).length };
}

function frame(
  symbol: string,
  time: number,
  size: number,
  seq: number,
  encode: (v: RawMessage) => Buffer = (v) => codecs().raw.encode(v),
): Buffer {
  const data: RawTrade[] = [];
  for (let i = 0; i < size; i++)
    data.push({ s: symbol, p: 100 + ((seq * 7 + i) % 50) / 10, t: time + i, v: 1 + (i % 3), c: i % 4 === 0 ? ['1'] : null });
  return encode({ data, type: 'trade' });
}

interface ThroughputResult {
  framed: boolean;
  steady: number;
  overall: number;
  /** Seconds from the start of `finpipe process` until every partition had committed once. */
  startup: number;
  nodeCpuPer100k: number;
  brokerCpuPer100k: number;
  peakRssMiB: number;
  check: OutputCheck;
}

interface Sample {
  at: number;
  records: number;
  nodeCpu: number;
  brokerCpu: number;
}

/** Writes the backlog; with a framing `writer`, every value framed with the raw subject's id (as `produce --schema-registry` does). */
async function fillBacklog(
  admin: Admin,
  producer: Producer,
  run: Run,
  frames: number,
  perFrame: number,
  writer?: ValueWriter,
): Promise<void> {
  await admin.createTopics({ topics: [{ topic: run.raw, numPartitions: PARTITIONS }], waitForLeaders: true });
  await writer?.prepare(run.raw, ['raw']);
  const encode = writer ? (v: RawMessage) => writer.encode(run.raw, 'raw', v) : undefined;
  const base = Date.now() - 3_600_000;
  for (let i = 0; i < frames; i += 2_000) {
    const messages = [];
    for (let j = i; j < Math.min(frames, i + 2_000); j++) {
      const symbol = run.symbols[j % run.symbols.length];
      messages.push({ key: symbol, value: frame(symbol, base + j * 5, perFrame, j, encode) });
    }
    await producer.send({ topic: run.raw, messages });
  }
}

/** One backlog drained by process; `framed`: Schema Registry framing on (see the module comment). */
async function throughputRun(admin: Admin, producer: Producer, framed: boolean): Promise<ThroughputResult> {
  const run = newRun(20);
  const perFrame = 10;
  const frames = Math.ceil(THROUGHPUT_TRADES / perFrame);
  const broker = brokerPid();
  const registry = framed ? valueCodecs({ url: REGISTRY_URL }) : null;
  try {
    await fillBacklog(admin, producer, run, frames, perFrame, registry?.writer);
    // Partitions that got records: with 20 symbols hashed over 6 partitions one may get none.
    const filled = (await admin.fetchTopicOffsets(run.raw)).filter((o) => Number(o.high) > 0).length;
    const started = Date.now();
    const child = startProcess(run, framed);
    const sample = (records: number): Sample => ({
      at: Date.now(),
      records,
      nodeCpu: cpuSeconds(child.proc.pid),
      brokerCpu: cpuSeconds(broker),
    });
    let first: Sample | null = null;
    let last: Sample = sample(0);
    let peakRss = NaN;
    try {
      const deadline = Date.now() + 300_000;
      for (;;) {
        const { records, partitions } = await committed(admin, run);
        // The steady part starts once every partition has committed its first transaction:
        // before that, some partitions are still starting (producer fencing, state restore
        // and, with a registry, the symbol topics' subjects being registered).
        if (partitions >= filled && !first) first = sample(records);
        if (records > last.records) last = sample(records);
        if (records >= frames) break;
        if (Date.now() > deadline || child.proc.exitCode !== null)
          throw new Error(`process did not finish (committed ${records}/${frames}):\n${child.output().slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      peakRss = peakRssMiB(child.proc.pid);
    } finally {
      await child.stop('SIGTERM');
    }
    const trades = (last.records - first!.records) * perFrame;
    const per100k = (cpu: number) => (cpu / trades) * 100_000;
    const check = await checkOutputs(testKafka('bench-check'), run.raw, run.symbols.map(symbolToTopic), { reader: registry?.reader });
    return {
      framed,
      steady: trades / ((last.at - first!.at) / 1000),
      overall: (frames * perFrame) / ((last.at - started) / 1000),
      startup: (first!.at - started) / 1000,
      nodeCpuPer100k: per100k(last.nodeCpu - first!.nodeCpu),
      brokerCpuPer100k: per100k(last.brokerCpu - first!.brokerCpu),
      peakRssMiB: peakRss,
      check,
    };
  } finally {
    await cleanup(run);
  }
}

interface LatencyResult {
  p50: number;
  p99: number;
  max: number;
  samples: number;
  /** Trades sent after the warm-up whose candle never arrived (each one fails the benchmark). */
  missing: number;
}

/** `frames` per second of `perFrame` trades each. */
async function latencyRun(admin: Admin, producer: Producer, framesPerSecond: number, perFrame: number): Promise<LatencyResult> {
  const run = newRun(10);
  try {
    await admin.createTopics({
      topics: [{ topic: run.raw, numPartitions: PARTITIONS }, ...run.symbols.map((s) => ({ topic: symbolToTopic(s), numPartitions: 1 }))],
      waitForLeaders: true,
    });
    const child = startProcess(run);
    // window key -> its trades in stream order (ack time, measured or warm-up); a candle with
    // trade_count n covers the first n
    const pending = new Map<string, { acked: { at: number; measured: boolean }[]; seen: number }>();
    const latencies: number[] = [];
    let measuring = false;
    let measuredSent = 0;
    const consumer = testKafka('bench-latency').consumer({ groupId: `${run.group}-reader`, readUncommitted: false, maxWaitTimeInMs: 20 });
    await consumer.connect();
    await consumer.subscribe({ topics: run.symbols.map(symbolToTopic), fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (String(message.headers?.[RECORD_TYPE_HEADER]) !== 'candle') return;
        const now = Date.now();
        const c = codecs().candle.decode(message.value!);
        const entry = pending.get(`${c.symbol}|${c.window_start}`);
        if (!entry) return;
        for (; entry.seen < Math.min(c.trade_count, entry.acked.length); entry.seen++) {
          if (entry.acked[entry.seen].measured) latencies.push(now - entry.acked[entry.seen].at);
        }
      },
    });
    try {
      let seq = 0;
      const frameOf = (now: number) => {
        const symbol = run.symbols[seq % run.symbols.length];
        // trade i has event time now + i: it belongs to that time's 10 s window
        const windows = Array.from({ length: perFrame }, (_, i) => `${symbol}|${Math.floor((now + i) / 10_000) * 10_000}`);
        return { message: { key: symbol, value: frame(symbol, now, perFrame, seq++) }, windows };
      };
      const started = Date.now();
      const warmupMs = 5_000;
      const totalMs = warmupMs + LATENCY_SECONDS * 1000;
      const interval = 1000 / framesPerSecond;
      let sent = 0;
      // The frames due at each tick go in one produce request, as a busy producer sends them.
      while (Date.now() - started < totalMs) {
        if (!measuring && Date.now() - started > warmupMs) measuring = true;
        const due = Math.floor((Date.now() - started) / interval);
        const now = Date.now();
        const batch: ReturnType<typeof frameOf>[] = [];
        for (; sent < due; sent++) batch.push(frameOf(now));
        if (batch.length > 0) {
          const measured = measuring;
          if (measured) measuredSent += batch.length * perFrame;
          void producer.send({ topic: run.raw, acks: -1, messages: batch.map((b) => b.message) }).then(() => {
            const at = Date.now();
            for (const k of batch.flatMap((b) => b.windows)) {
              let entry = pending.get(k);
              if (!entry) pending.set(k, (entry = { acked: [], seen: 0 }));
              entry.acked.push({ at, measured });
            }
          });
        }
        await new Promise((r) => setTimeout(r, 2));
      }
      // Every measured trade must arrive: wait for the last ones, then count what is missing.
      const deadline = Date.now() + 30_000;
      while (latencies.length < measuredSent && Date.now() < deadline && child.proc.exitCode === null)
        await new Promise((r) => setTimeout(r, 50));
      if (child.proc.exitCode !== null) throw new Error(`process exited:\n${child.output().slice(-3000)}`);
      if (latencies.length < measuredSent)
        throw new Error(
          `${measuredSent - latencies.length} of ${measuredSent} trades sent never showed up in a committed candle within 30 s`,
        );
    } finally {
      await consumer.disconnect();
      await child.stop('SIGTERM');
    }
    return {
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      max: maximum(latencies),
      samples: latencies.length,
      missing: measuredSent - latencies.length,
    };
  } finally {
    await cleanup(run);
  }
}

/**
 * Fresh clients per run: kafkajs keeps refreshing metadata for every topic a client ever
 * used, and the previous run's topics are deleted by then.
 */
async function withClients<T>(fn: (admin: Admin, producer: Producer) => Promise<T>): Promise<T> {
  const kafka = testKafka('bench-process');
  const admin = kafka.admin();
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await admin.connect();
  await producer.connect();
  try {
    return await fn(admin, producer);
  } finally {
    await producer.disconnect();
    await admin.disconnect();
  }
}

const medianOf = <T>(runs: T[], pick: (r: T) => number) => median(runs.map(pick));

async function main(): Promise<void> {
  /** Framing off (the figures below) and, alternating with them, framing on. */
  const runs: ThroughputResult[] = [];
  const framedRuns: ThroughputResult[] = [];
  let failed = false;
  if (FRAMING !== 'off') process.stdout.write(`framing off and on alternating, off first then on first (registry ${REGISTRY_URL})\n`);
  for (let i = 0; i < RUNS; i++) {
    // ABBA order: the first run of the benchmark also warms up the broker and the page cache,
    // so which mode goes first alternates instead of always penalising framing off.
    const modes = FRAMING === 'off' ? [false] : i % 2 === 0 ? [false, true] : [true, false];
    for (const framed of modes) {
      const r = await withClients((admin, producer) => throughputRun(admin, producer, framed));
      (framed ? framedRuns : runs).push(r);
      const { check } = r;
      if (check.missing + check.duplicated + check.wrong > 0) failed = true;
      const mode = FRAMING === 'off' ? '' : framed ? ', framing on ' : ', framing off';
      process.stdout.write(
        `throughput run ${i + 1}/${RUNS}${mode}: steady ${fmt(r.steady)} trades/s, overall ${fmt(r.overall)} trades/s ` +
          `(every partition committed after ${fmt(r.startup, 2)} s); ` +
          `CPU per 100k trades: process ${fmt(r.nodeCpuPer100k, 2)} s, broker ${fmt(r.brokerCpuPer100k, 2)} s; peak RSS ${fmt(r.peakRssMiB)} MiB; ` +
          `${fmt(check.expected)} trades checked: ${check.missing} missing, ${check.duplicated} duplicated, ${check.wrong} wrong\n`,
      );
    }
  }
  const rates = [
    { label: '1,000', framesPerSecond: 200, perFrame: 5 },
    { label: '20,000', framesPerSecond: 2_000, perFrame: 10 },
  ];
  const latency: Record<string, LatencyResult> = {};
  for (const rate of FRAMING === 'only' ? [] : rates) {
    const results: LatencyResult[] = [];
    for (let i = 0; i < LATENCY_RUNS; i++) results.push(await withClients((a, p) => latencyRun(a, p, rate.framesPerSecond, rate.perFrame)));
    const r = (latency[rate.label] = {
      p50: medianOf(results, (x) => x.p50),
      p99: medianOf(results, (x) => x.p99),
      max: medianOf(results, (x) => x.max),
      samples: results.reduce((n, x) => n + x.samples, 0),
      missing: results.reduce((n, x) => n + x.missing, 0),
    });
    if (r.missing > 0) failed = true;
    const missing = r.missing > 0 ? `${fmt(r.missing)} NEVER ARRIVED within 30 s` : 'none missing';
    process.stdout.write(
      `latency at ${rate.label} trades/s, ${LATENCY_SECONDS} s x ${LATENCY_RUNS} runs (${fmt(r.samples)} trades, ${missing}), medians: ` +
        `p50 ${fmt(r.p50)} ms, p99 ${fmt(r.p99)} ms, max ${fmt(r.max)} ms (per run p99: ${results.map((x) => fmt(x.p99)).join(' / ')})\n`,
    );
  }
  process.stdout.write(
    `throughput medians of ${RUNS}: steady ${fmt(medianOf(runs, (r) => r.steady))} trades/s, overall ${fmt(medianOf(runs, (r) => r.overall))} trades/s; ` +
      `CPU per 100k trades: process ${fmt(
        medianOf(runs, (r) => r.nodeCpuPer100k),
        2,
      )} s, broker ${fmt(
        medianOf(runs, (r) => r.brokerCpuPer100k),
        2,
      )} s; ` +
      `peak RSS ${fmt(medianOf(runs, (r) => r.peakRssMiB))} MiB\n`,
  );
  let framing: Record<string, number> | undefined;
  if (framedRuns.length > 0) {
    const rate = { off: medianOf(runs, (r) => r.steady), on: medianOf(framedRuns, (r) => r.steady) };
    const cpu = { off: medianOf(runs, (r) => r.nodeCpuPer100k), on: medianOf(framedRuns, (r) => r.nodeCpuPer100k) };
    // Paired: each framed run against the plain run of its own pair (same minute of the
    // machine's load), then the median of those ratios; steadier than a ratio of medians.
    const pairs = framedRuns.map((on, i) => ({ rate: on.steady / runs[i].steady, cpu: on.nodeCpuPer100k / runs[i].nodeCpuPer100k }));
    const paired = { rate: medianOf(pairs, (p) => p.rate), cpu: medianOf(pairs, (p) => p.cpu) };
    const startup = { off: medianOf(runs, (r) => r.startup), on: medianOf(framedRuns, (r) => r.startup) };
    framing = {
      pairedThroughputRatio: paired.rate,
      pairedCpuRatio: paired.cpu,
      offStartupSeconds: startup.off,
      onStartupSeconds: startup.on,
      offTradesPerSec: Math.round(rate.off),
      onTradesPerSec: Math.round(rate.on),
      throughputRatio: rate.on / rate.off,
      offCpuSecondsPer100k: cpu.off,
      onCpuSecondsPer100k: cpu.on,
      cpuRatio: cpu.on / cpu.off,
      onBrokerCpuSecondsPer100k: medianOf(framedRuns, (r) => r.brokerCpuPer100k),
      onPeakRssMiB: medianOf(framedRuns, (r) => r.peakRssMiB),
    };
    process.stdout.write(
      `framing, medians of ${RUNS} alternating runs: off ${fmt(rate.off)} trades/s steady, process CPU ${fmt(cpu.off, 2)} s per 100k trades; ` +
        `on ${fmt(rate.on)} trades/s steady, process CPU ${fmt(cpu.on, 2)} s per 100k trades; ` +
        `on/off throughput ${fmt(rate.on / rate.off, 3)}, CPU ${fmt(cpu.on / cpu.off, 3)} ` +
        `(goal: framing costs <= 5 %: ${rate.on / rate.off >= 0.95 ? 'met' : 'NOT met'} by throughput, ` +
        `${cpu.on / cpu.off <= 1.05 ? 'met' : 'NOT met'} by CPU)\n` +
        `framing, per pair on/off: throughput ${pairs.map((p) => fmt(p.rate, 2)).join(' / ')}, CPU ${pairs.map((p) => fmt(p.cpu, 2)).join(' / ')}; ` +
        `medians of the pairs: throughput ${fmt(paired.rate, 3)}, CPU ${fmt(paired.cpu, 3)} ` +
        `(goal: ${paired.rate >= 0.95 ? 'met' : 'NOT met'} by throughput, ${paired.cpu <= 1.05 ? 'met' : 'NOT met'} by CPU); ` +
        `start until every partition committed: off ${fmt(startup.off, 2)} s, on ${fmt(startup.on, 2)} s (schema registrations of the new symbol topics)\n`,
    );
  }
  emitResult('process', {
    tradesPerSecond: Math.round(medianOf(runs, (r) => r.steady)),
    overallTradesPerSecond: Math.round(medianOf(runs, (r) => r.overall)),
    throughputRuns: runs.map((r) => Math.round(r.steady)),
    nodeCpuSecondsPer100k: medianOf(runs, (r) => r.nodeCpuPer100k),
    brokerCpuSecondsPer100k: medianOf(runs, (r) => r.brokerCpuPer100k),
    peakRssMiB: medianOf(runs, (r) => r.peakRssMiB),
    latencyP50Ms: latency['1,000']?.p50,
    latencyP99Ms: latency['1,000']?.p99,
    latencyMaxMs: latency['1,000']?.max,
    latencySamples: latency['1,000']?.samples,
    latency20kP50Ms: latency['20,000']?.p50,
    latency20kP99Ms: latency['20,000']?.p99,
    latency20kMaxMs: latency['20,000']?.max,
    outputChecks: runs.map((r) => r.check),
    ...(framing
      ? { framing, framedThroughputRuns: framedRuns.map((r) => Math.round(r.steady)), framedOutputChecks: framedRuns.map((r) => r.check) }
      : {}),
  });
  if (failed) {
    process.stderr.write(
      'bench:process failed: trades were missing, duplicated or wrong on the symbol topics, or latency samples never arrived (see above)\n',
    );
    process.exitCode = 1;
  }
}

main().catch((error) => {
  process.stderr.write(`bench:process failed: ${(error as Error).stack ?? error}\n`);
  process.exitCode = 1;
});
