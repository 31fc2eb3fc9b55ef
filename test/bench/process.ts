import type { Admin, Producer } from 'kafkajs';
import { deleteTopicsQuietly, testKafka, uniqueName } from '../helpers/kafka';
import { codecs, RECORD_TYPE_HEADER, type RawTrade } from '../../src/core/serde';
import { symbolToTopic } from '../../src/core/symbols';
import { retry } from '../../src/core/retry';
import { emitResult, fmt, median, percentile, startFinpipe, type Child } from './lib';

/**
 * `npm run bench:process` — two figures for `finpipe process` (the real CLI, its own process)
 * against the local broker:
 *
 *  1. throughput: the raw topic is filled first (6 partitions, 20 symbols, frames of 10
 *     trades), then process drains it; trades/s = trades committed / time between the first
 *     and the last committed transaction (start-up and group join excluded). Repeated
 *     BENCH_RUNS times (default 3); the median is the figure. Goal: >= 50,000 trades/s.
 *  2. latency at a steady 1,000 trades/s (200 frames/s of 5 trades, event time = now):
 *     from the moment a frame's produce request is acknowledged (the trade is readable on
 *     the raw topic) to the moment a read_committed consumer of the symbol topic receives a
 *     candle update that includes that trade (trade_count reached its position in the
 *     window). Goal: p99 <= 50 ms.
 *
 * The machine is shared and has 2 cores: run it more than once and compare medians.
 */

const BROKERS = (process.env.FINPIPE_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const THROUGHPUT_TRADES = Number(process.env.BENCH_TRADES ?? 300_000);
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 20);
const PARTITIONS = 6;

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

function startProcess(run: Run): Child {
  return startFinpipe(
    ['process', '--topic', run.raw, '--group', run.group, '--late-topic', run.late, '--dlq-topic', run.dlq, '--brokers', BROKERS.join(',')],
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

async function committed(admin: Admin, run: Run): Promise<number> {
  // A new group's coordinator may still be moving ("not the correct coordinator"): kafkajs
  // marks that retriable, so retry() waits it out instead of failing the run.
  const [t] = await retry(() => admin.fetchOffsets({ groupId: run.group, topics: [run.raw] }), {
    initialMs: 100,
    maxMs: 1_000,
    attempts: 20,
  });
  return (t?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
}

function frame(symbol: string, time: number, size: number, seq: number): Buffer {
  const data: RawTrade[] = [];
  for (let i = 0; i < size; i++)
    data.push({ s: symbol, p: 100 + ((seq * 7 + i) % 50) / 10, t: time + i, v: 1 + (i % 3), c: i % 4 === 0 ? ['1'] : null });
  return codecs().raw.encode({ data, type: 'trade' });
}

async function throughputRun(admin: Admin, producer: Producer): Promise<number> {
  const run = newRun(20);
  const perFrame = 10;
  const frames = Math.ceil(THROUGHPUT_TRADES / perFrame);
  try {
    await admin.createTopics({ topics: [{ topic: run.raw, numPartitions: PARTITIONS }], waitForLeaders: true });
    const base = Date.now() - 3_600_000;
    for (let i = 0; i < frames; i += 2_000) {
      const messages = [];
      for (let j = i; j < Math.min(frames, i + 2_000); j++) {
        const symbol = run.symbols[j % run.symbols.length];
        messages.push({ key: symbol, value: frame(symbol, base + j * 5, perFrame, j) });
      }
      await producer.send({ topic: run.raw, messages });
    }
    const child = startProcess(run);
    let first: { at: number; records: number } | null = null;
    let last = { at: 0, records: 0 };
    try {
      const deadline = Date.now() + 300_000;
      for (;;) {
        const records = await committed(admin, run);
        const now = Date.now();
        if (records > 0 && !first) first = { at: now, records };
        if (records > last.records) last = { at: now, records };
        if (records >= frames) break;
        if (now > deadline || child.proc.exitCode !== null)
          throw new Error(`process did not finish (committed ${records}/${frames}):\n${child.output().slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await child.stop('SIGTERM');
    }
    const trades = (last.records - first!.records) * perFrame;
    const seconds = (last.at - first!.at) / 1000;
    return trades / seconds;
  } finally {
    await cleanup(run);
  }
}

async function latencyRun(admin: Admin, producer: Producer): Promise<number[]> {
  const run = newRun(10);
  const framesPerSecond = 200;
  const perFrame = 5;
  try {
    await admin.createTopics({
      topics: [{ topic: run.raw, numPartitions: PARTITIONS }, ...run.symbols.map((s) => ({ topic: symbolToTopic(s), numPartitions: 1 }))],
      waitForLeaders: true,
    });
    const child = startProcess(run);
    const note = (m: string) => process.env.BENCH_DEBUG && process.stderr.write(`${new Date().toISOString()} ${m}\n`);
    note('started process');
    // window key -> ack times of its trades, in order; a candle with trade_count n covers the first n
    const pending = new Map<string, { acked: number[]; seen: number }>();
    const latencies: number[] = [];
    let measuring = false;
    const consumer = testKafka('bench-latency').consumer({ groupId: `${run.group}-reader`, readUncommitted: false, maxWaitTimeInMs: 20 });
    await consumer.connect();
    note('consumer connected');
    for (const s of run.symbols) await consumer.subscribe({ topic: symbolToTopic(s), fromBeginning: true });
    note('subscribed');
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (String(message.headers?.[RECORD_TYPE_HEADER]) !== 'candle') return;
        const now = Date.now();
        const c = codecs().candle.decode(message.value!);
        const entry = pending.get(`${c.symbol}|${c.window_start}`);
        if (!entry) return;
        for (; entry.seen < Math.min(c.trade_count, entry.acked.length); entry.seen++) {
          if (measuring) latencies.push(now - entry.acked[entry.seen]);
        }
      },
    });
    note('running');
    try {
      // Wait until process has joined and written something before measuring.
      const started = Date.now();
      let seq = 0;
      const sendOne = () => {
        const symbol = run.symbols[seq % run.symbols.length];
        const now = Date.now();
        const value = frame(symbol, now, perFrame, seq++);
        // trade i has event time now + i: it belongs to that time's 10 s window
        const ends = Array.from({ length: perFrame }, (_, i) => `${symbol}|${Math.floor((now + i) / 10_000) * 10_000}`);
        void producer.send({ topic: run.raw, acks: -1, messages: [{ key: symbol, value }] }).then(() => {
          const acked = Date.now();
          for (const k of ends) {
            let entry = pending.get(k);
            if (!entry) pending.set(k, (entry = { acked: [], seen: 0 }));
            entry.acked.push(acked);
          }
        });
      };
      const warmupMs = 5_000;
      const totalMs = warmupMs + LATENCY_SECONDS * 1000;
      const interval = 1000 / framesPerSecond;
      let sent = 0;
      while (Date.now() - started < totalMs) {
        if (!measuring && Date.now() - started > warmupMs) measuring = true;
        const due = Math.floor((Date.now() - started) / interval);
        while (sent < due) {
          sendOne();
          sent++;
        }
        await new Promise((r) => setTimeout(r, 2));
      }
      note('sent all');
      await new Promise((r) => setTimeout(r, 500));
      if (child.proc.exitCode !== null) throw new Error(`process exited:\n${child.output().slice(-3000)}`);
    } finally {
      await consumer.disconnect();
      note('consumer disconnected');
      const watchdog = setTimeout(() => note(`process not stopping:\n${child.output().slice(-4000)}`), 8_000);
      await child.stop('SIGTERM');
      clearTimeout(watchdog);
      note('process stopped');
    }
    return latencies;
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

async function main(): Promise<void> {
  const rates: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const rate = await withClients(throughputRun);
    rates.push(rate);
    process.stdout.write(
      `throughput run ${i + 1}/${RUNS}: ${fmt(rate)} trades/s (${fmt(THROUGHPUT_TRADES)} trades, ${PARTITIONS} partitions, 20 symbols, 10 trades/frame)\n`,
    );
  }
  const lat = await withClients(latencyRun);
  const p50 = percentile(lat, 0.5);
  const p99 = percentile(lat, 0.99);
  const max = Math.max(...lat);
  process.stdout.write(`throughput median: ${fmt(median(rates))} trades/s (goal >= 50,000)\n`);
  process.stdout.write(
    `latency at 1,000 trades/s over ${LATENCY_SECONDS} s (${fmt(lat.length)} trades): ` +
      `p50 ${fmt(p50)} ms, p99 ${fmt(p99)} ms, max ${fmt(max)} ms (goal p99 <= 50 ms)\n`,
  );
  emitResult('process', {
    tradesPerSecond: Math.round(median(rates)),
    throughputRuns: rates.map(Math.round),
    latencyP50Ms: p50,
    latencyP99Ms: p99,
    latencyMaxMs: max,
    latencySamples: lat.length,
  });
}

main().catch((error) => {
  process.stderr.write(`bench:process failed: ${(error as Error).stack ?? error}\n`);
  process.exitCode = 1;
});
