import type { Admin, Producer } from 'kafkajs';
import { deleteTopicsQuietly, testKafka, uniqueName } from '../helpers/kafka';
import { codecs, RECORD_TYPE_HEADER, type RawMessage, type RawTrade } from '../../src/core/serde';
import { valueCodecs } from '../../src/core/serde/registry';
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
 *  3. Schema Registry framing off and on, side by side (issue 14's goal: framing costs
 *     <= 5 %): BENCH_RUNS pairs, each two identical backlogs (1,000,000 trades unless
 *     BENCH_TRADES says otherwise), one plain and one framed
 *     (written through the registry writer, as `produce --schema-registry` writes them),
 *     drained by two process commands started at the same moment on the same core, the
 *     framed one with --schema-registry (it reads framed raw values, registers the symbol
 *     topics' subjects and writes framed trades and candles). The figure is each pair's
 *     on/off ratio of CPU per trade, over each command's whole run, and the median of those
 *     ratios. Both sides get the same core at the same moments: run one after the other,
 *     single runs differed by up to 25 % and the medians of four alternating pairs moved
 *     from 0.92 to 1.13 between two mornings with the same code. Which side is framed (and
 *     starts first) alternates. Each side's trades/s is printed too, but two commands
 *     sharing a core do not finish together (the later one has the core to itself at the
 *     end), so CPU per trade is what compares them. Both backlogs are checked like the
 *     throughput runs' (framed ones decoded through the registry reader; a plain value on a
 *     framed symbol topic counts as wrong). The registry is FINPIPE_TEST_SCHEMA_REGISTRY_URL
 *     or the local one (npm run services:up registry).
 *     BENCH_FRAMING: "both" (default: 1, 2 and 3), "off" (1 and 2, no registry needed),
 *     "only" (3 alone: the quick way to measure framing's cost), "same" (3 with both sides
 *     plain: the method's own spread, what it shows when there is no difference).
 *
 * The machine is shared and has 2 cores: compare CPU per trade first, wall figures second.
 * BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles the finpipe commands.
 */

const BROKERS = (process.env.FINPIPE_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const THROUGHPUT_TRADES = Number(process.env.BENCH_TRADES ?? 300_000);
/** Each side of a side-by-side pair: more than alone, so start-up weighs less. */
const SIDE_BY_SIDE_TRADES = Number(process.env.BENCH_TRADES ?? 1_000_000);
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 20);
const LATENCY_RUNS = Number(process.env.BENCH_LATENCY_RUNS ?? 3);
const PARTITIONS = 6;
/** More `finpipe process` arguments for experiments, e.g. BENCH_PROCESS_ARGS="-X max.partition.fetch.bytes=2097152". */
const EXTRA_ARGS = (process.env.BENCH_PROCESS_ARGS ?? '').split(' ').filter(Boolean);
const FRAMING = process.env.BENCH_FRAMING ?? 'both';
if (!['both', 'off', 'only', 'same'].includes(FRAMING)) throw new Error(`BENCH_FRAMING must be both, off, only or same (got ${FRAMING})`);
/**
 * The CPU both commands of a side-by-side pair share. Unpinned, two identical plain
 * commands differed by up to 22 % in CPU per trade over a window both were steady in (3
 * pairs: 0.78-1.04); sharing one core, by up to 8 % (4 pairs: 0.92-1.07).
 */
const SIDE_BY_SIDE_CPU = '0';
/** The throughput runs of process alone, and the latency runs (skipped when only the side-by-side pairs are wanted). */
const SOLO_RUNS = FRAMING === 'both' || FRAMING === 'off';
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

/**
 * `finpipe process` for the run; with `framed`, with --schema-registry (framed input and
 * output); with `cpus`, pinned to those CPUs.
 */
function startProcess(run: Run, framed = false, cpus?: string): Child {
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
    cpus,
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
  steady: number;
  overall: number;
  /** Seconds from the start of `finpipe process` until every partition had committed once. */
  startup: number;
  nodeCpuPer100k: number;
  brokerCpuPer100k: number;
  peakRssMiB: number;
  check: OutputCheck;
}

/** Where a drain stood at one moment: raw records committed, process's and the broker's CPU seconds. */
interface Sample {
  at: number;
  records: number;
  nodeCpu: number;
  brokerCpu: number;
}

/** A raw topic filled with the backlog, ready for process to drain. */
interface Backlog {
  run: Run;
  framed: boolean;
  /** The registry writer and reader of a framed backlog (its check decodes through the reader). */
  registry: ReturnType<typeof valueCodecs> | null;
  frames: number;
  perFrame: number;
  /** Partitions that got records: with 20 symbols hashed over 6 partitions one may get none. */
  filled: number;
}

/** How one process command drained its backlog: its start, and the samples that bound its steady part. */
interface Drain {
  started: number;
  /** The first sample at which every partition had committed once: the steady part starts there. */
  steady: Sample;
  /** The first sample with the whole backlog committed. */
  done: Sample;
  peakRssMiB: number;
}

/** Writes a backlog; framed: every value framed with the raw subject's id (as `produce --schema-registry` does). */
async function writeBacklog(admin: Admin, producer: Producer, framed: boolean, trades: number): Promise<Backlog> {
  const run = newRun(20);
  const perFrame = 10;
  const frames = Math.ceil(trades / perFrame);
  const registry = framed ? valueCodecs({ url: REGISTRY_URL }) : null;
  const writer = registry?.writer;
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
  const filled = (await admin.fetchTopicOffsets(run.raw)).filter((o) => Number(o.high) > 0).length;
  return { run, framed, registry, frames, perFrame, filled };
}

/**
 * Starts one `finpipe process` per backlog, all at once, and samples their progress every
 * 20 ms until each has committed its whole backlog (a finished one is stopped at once).
 * Several run on one CPU (SIDE_BY_SIDE_CPU), so the kernel interleaves them on the same core
 * and whatever slows that core slows each alike; a single one runs unpinned.
 */
async function drain(admin: Admin, backlogs: Backlog[]): Promise<Drain[]> {
  const broker = brokerPid();
  const cpus = backlogs.length > 1 ? SIDE_BY_SIDE_CPU : undefined;
  const children = backlogs.map((b) => ({ child: startProcess(b.run, b.framed, cpus), started: Date.now() }));
  const drains: Partial<Drain>[] = children.map(({ started }) => ({ started }));
  const stopping: Promise<unknown>[] = [];
  try {
    const deadline = Date.now() + 300_000;
    while (drains.some((d) => !d.done)) {
      const progress = await Promise.all(backlogs.map((b, i) => (drains[i].done ? Promise.resolve(null) : committed(admin, b.run))));
      const at = Date.now();
      const brokerCpu = cpuSeconds(broker);
      progress.forEach((p, i) => {
        if (!p) return;
        const { child } = children[i];
        const d = drains[i];
        const sample = { at, records: p.records, nodeCpu: cpuSeconds(child.proc.pid), brokerCpu };
        // Before every partition has committed once, some are still starting: producer
        // fencing, state restore and, with a registry, the symbol topics' subjects.
        if (!d.steady && p.partitions >= backlogs[i].filled) d.steady = sample;
        if (p.records >= backlogs[i].frames) {
          d.done = sample;
          d.peakRssMiB = peakRssMiB(child.proc.pid);
          stopping.push(child.stop('SIGTERM'));
        } else if (Date.now() > deadline || child.proc.exitCode !== null) {
          throw new Error(`process did not finish (committed ${p.records}/${backlogs[i].frames}):\n${child.output().slice(-3000)}`);
        }
      });
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await Promise.all([...stopping, ...children.map(({ child }) => child.stop('SIGTERM'))]);
  }
  return drains as Drain[];
}

/** Every trade of the backlog on its symbol topic, exactly once (framed ones read through the registry). */
function checkBacklog(b: Backlog): Promise<OutputCheck> {
  return checkOutputs(testKafka('bench-check'), b.run.raw, b.run.symbols.map(symbolToTopic), { reader: b.registry?.reader });
}

/** CPU seconds per 100,000 trades between two samples. */
function cpuPer100k(from: Sample, to: Sample, trades: number, cpu: (s: Sample) => number): number {
  return ((cpu(to) - cpu(from)) / trades) * 100_000;
}

/** One plain backlog drained by process alone: the throughput figures. */
async function throughputRun(admin: Admin, producer: Producer): Promise<ThroughputResult> {
  const backlog = await writeBacklog(admin, producer, false, THROUGHPUT_TRADES);
  try {
    const [d] = await drain(admin, [backlog]);
    const trades = (d.done.records - d.steady.records) * backlog.perFrame;
    return {
      steady: trades / ((d.done.at - d.steady.at) / 1000),
      overall: (backlog.frames * backlog.perFrame) / ((d.done.at - d.started) / 1000),
      startup: (d.steady.at - d.started) / 1000,
      nodeCpuPer100k: cpuPer100k(d.steady, d.done, trades, (s) => s.nodeCpu),
      brokerCpuPer100k: cpuPer100k(d.steady, d.done, trades, (s) => s.brokerCpu),
      peakRssMiB: d.peakRssMiB,
      check: await checkBacklog(backlog),
    };
  } finally {
    await cleanup(backlog.run);
  }
}

/** One side of a side-by-side pair, from its start to its last commit. */
interface Side {
  framed: boolean;
  /** All trades / seconds from start to last commit, sharing the core with the other side. */
  tradesPerSecond: number;
  /** Process's CPU (user + system) from its start to its last commit, per 100,000 trades. */
  cpuPer100k: number;
  /** The same from its first commit on every partition on (start-up and first transactions left out). */
  steadyCpuPer100k: number;
  /** Seconds until every partition had committed once. */
  startup: number;
  check: OutputCheck;
}

/**
 * A side-by-side pair (see the module comment): two identical backlogs, framed as
 * `framedSides` says ([false, false] calibrates), drained by two process commands running at
 * the same time on one core. The sides come back in `framedSides` order.
 *
 * Each side's CPU is counted over its whole run, start-up included. A window inside the runs
 * (both steady, as the first version of this benchmark had it) is biased: a partition has a
 * whole transaction of up to 40,000 trades processed but not yet committed at any moment, so
 * the side that became steady later (the framed one, while registering its subjects) had
 * paid for work the window's commits did not show yet. That made framing look 16 % more
 * costly even with both sides writing the very same trade bytes.
 */
async function sideBySide(admin: Admin, producer: Producer, framedSides: [boolean, boolean]): Promise<[Side, Side]> {
  const backlogs: Backlog[] = [];
  try {
    for (const framed of framedSides) backlogs.push(await writeBacklog(admin, producer, framed, SIDE_BY_SIDE_TRADES));
    const drains = await drain(admin, backlogs);
    const checks = await Promise.all(backlogs.map(checkBacklog));
    const sides = drains.map((d, i): Side => {
      const { frames, perFrame } = backlogs[i];
      const trades = frames * perFrame;
      return {
        framed: backlogs[i].framed,
        tradesPerSecond: trades / ((d.done.at - d.started) / 1000),
        cpuPer100k: (d.done.nodeCpu / trades) * 100_000,
        steadyCpuPer100k: cpuPer100k(d.steady, d.done, (d.done.records - d.steady.records) * perFrame, (s) => s.nodeCpu),
        startup: (d.steady.at - d.started) / 1000,
        check: checks[i],
      };
    });
    return [sides[0], sides[1]];
  } finally {
    for (const b of backlogs) await cleanup(b.run);
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
  const runs: ThroughputResult[] = [];
  let failed = false;
  const checked = (check: OutputCheck) => {
    if (check.missing + check.duplicated + check.wrong > 0) failed = true;
    return `${fmt(check.expected)} trades checked: ${check.missing} missing, ${check.duplicated} duplicated, ${check.wrong} wrong`;
  };
  for (let i = 0; i < (SOLO_RUNS ? RUNS : 0); i++) {
    const r = await withClients(throughputRun);
    runs.push(r);
    process.stdout.write(
      `throughput run ${i + 1}/${RUNS}: steady ${fmt(r.steady)} trades/s, overall ${fmt(r.overall)} trades/s ` +
        `(every partition committed after ${fmt(r.startup, 2)} s); ` +
        `CPU per 100k trades: process ${fmt(r.nodeCpuPer100k, 2)} s, broker ${fmt(r.brokerCpuPer100k, 2)} s; peak RSS ${fmt(r.peakRssMiB)} MiB; ` +
        `${checked(r.check)}\n`,
    );
  }
  const rates = [
    { label: '1,000', framesPerSecond: 200, perFrame: 5 },
    { label: '20,000', framesPerSecond: 2_000, perFrame: 10 },
  ];
  const latency: Record<string, LatencyResult> = {};
  for (const rate of SOLO_RUNS ? rates : []) {
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
  if (runs.length > 0)
    process.stdout.write(
      `throughput medians of ${RUNS}: steady ${fmt(medianOf(runs, (r) => r.steady))} trades/s, overall ${fmt(medianOf(runs, (r) => r.overall))} trades/s; ` +
        `CPU per 100k trades: process ${fmt(
          medianOf(runs, (r) => r.nodeCpuPer100k),
          2,
        )} s, ` +
        `broker ${fmt(
          medianOf(runs, (r) => r.brokerCpuPer100k),
          2,
        )} s; peak RSS ${fmt(medianOf(runs, (r) => r.peakRssMiB))} MiB\n`,
    );

  // Side-by-side pairs: framing on against off (or, calibrating, plain against plain).
  const calibrating = FRAMING === 'same';
  const pairs: { on: Side; off: Side; cpu: number; steadyCpu: number }[] = [];
  if (FRAMING !== 'off')
    process.stdout.write(
      calibrating
        ? 'side by side, both plain (calibration: what the method shows when there is no difference)\n'
        : `framing off and on side by side, two process commands at once on one core (registry ${REGISTRY_URL})\n`,
    );
  const [offName, onName] = calibrating ? ['plain A', 'plain B'] : ['framing off', 'framing on'];
  const ratioName = calibrating ? 'B/A' : 'on/off';
  for (let i = 0; i < (FRAMING === 'off' ? 0 : RUNS); i++) {
    // Which side is framed, and so which process starts first, alternates from pair to pair.
    const framedSides: [boolean, boolean] = calibrating ? [false, false] : i % 2 === 0 ? [false, true] : [true, false];
    const sides = await withClients((admin, producer) => sideBySide(admin, producer, framedSides));
    const [off, on] = sides[0].framed ? [sides[1], sides[0]] : sides;
    const pair = { on, off, cpu: on.cpuPer100k / off.cpuPer100k, steadyCpu: on.steadyCpuPer100k / off.steadyCpuPer100k };
    pairs.push(pair);
    const side = (s: Side, name: string) =>
      `${name} ${fmt(s.tradesPerSecond)} trades/s, CPU ${fmt(s.cpuPer100k, 2)} s per 100k (steady part ${fmt(s.steadyCpuPer100k, 2)} s; ` +
      `every partition committed after ${fmt(s.startup, 2)} s)`;
    process.stdout.write(
      `side-by-side pair ${i + 1}/${RUNS}: ${side(off, offName)}; ${side(on, onName)}; ` +
        `${ratioName} CPU per trade ${fmt(pair.cpu, 3)} (steady part ${fmt(pair.steadyCpu, 3)}); ${checked(off.check)} / ${checked(on.check)}\n`,
    );
  }
  let framing: Record<string, unknown> | undefined;
  if (pairs.length > 0) {
    const cpu = medianOf(pairs, (p) => p.cpu);
    const steadyCpu = medianOf(pairs, (p) => p.steadyCpu);
    const startup = { off: medianOf(pairs, (p) => p.off.startup), on: medianOf(pairs, (p) => p.on.startup) };
    const goal = (ratio: number) =>
      !Number.isFinite(ratio)
        ? ' (no steady part: use more BENCH_TRADES)'
        : calibrating
          ? ''
          : ` (goal: framing costs <= 5 %: ${ratio <= 1.05 ? 'met' : 'NOT met'})`;
    process.stdout.write(
      `${calibrating ? 'calibration B/A' : 'framing on/off'}, medians of ${pairs.length} side-by-side pairs: ` +
        `CPU per trade over the whole run ${fmt(cpu, 3)}${goal(cpu)}, per pair ${pairs.map((p) => fmt(p.cpu, 3)).join(' / ')}; ` +
        `steady part ${fmt(steadyCpu, 3)}${goal(steadyCpu)}, per pair ${pairs.map((p) => fmt(p.steadyCpu, 3)).join(' / ')}; ` +
        `on a core of its own, throughput scales as the inverse (${fmt(1 / cpu, 3)} / ${fmt(1 / steadyCpu, 3)}); ` +
        `start until every partition committed, medians: ${offName} ${fmt(startup.off, 2)} s, ${onName} ${fmt(startup.on, 2)} s\n`,
    );
    framing = {
      method: calibrating ? 'side by side, both plain (calibration)' : 'side by side',
      pairedCpuRatio: cpu,
      pairedSteadyCpuRatio: steadyCpu,
      throughputOnOwnCoreRatio: 1 / cpu,
      pairs: pairs.map((p) => ({
        cpuRatio: p.cpu,
        steadyCpuRatio: p.steadyCpu,
        offTradesPerSec: Math.round(p.off.tradesPerSecond),
        onTradesPerSec: Math.round(p.on.tradesPerSecond),
        offCpuSecondsPer100k: p.off.cpuPer100k,
        onCpuSecondsPer100k: p.on.cpuPer100k,
        offSteadyCpuSecondsPer100k: p.off.steadyCpuPer100k,
        onSteadyCpuSecondsPer100k: p.on.steadyCpuPer100k,
      })),
      offStartupSeconds: startup.off,
      onStartupSeconds: startup.on,
    };
  }
  emitResult(calibrating ? 'process-calibration' : 'process', {
    ...(runs.length > 0
      ? {
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
        }
      : {}),
    ...(framing ? { framing } : {}),
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
