import { readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import type { Kafka } from 'kafkajs';
import { tradeId } from '../../src/core/process/transform';
import { RECORD_TYPE_HEADER, type RawMessage, type Trade } from '../../src/core/serde';
import { frameId } from '../../src/core/serde/framing';
import { PLAIN_VALUES, type ValueReader } from '../../src/core/serde/registry';
import { uniqueName } from '../helpers/kafka';

/**
 * What bench:process measures besides the clock: CPU of a process (node or the broker) from
 * /proc, which is robust to other work on the machine where wall time is not, the peak RSS,
 * and the check that every trade of a backlog reached its symbol topic exactly once (plain
 * Avro, or Schema Registry framed values read through the registry reader).
 */

const TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux this runs on

/** User + system CPU seconds used so far by a process; NaN when it cannot be read. */
export function cpuSeconds(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/** Peak resident set size (VmHWM) in MiB; NaN when it cannot be read. */
export function peakRssMiB(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** The local broker's pid (npm run services:up writes it), or undefined. */
/** The pid of the running program named `name` (as in /proc/<pid>/comm), e.g. mariadbd. */
export function pidOf(name: string): number | undefined {
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === name) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

export function brokerPid(): number | undefined {
  const dir = path.join(homedir(), '.cache', 'finpipe');
  try {
    for (const entry of readdirSync(dir).filter((e) => e.startsWith('kafka-'))) {
      const pid = Number(readFileSync(path.join(dir, entry, 'broker.pid'), 'utf8').trim());
      if (pid > 0 && !Number.isNaN(cpuSeconds(pid))) return pid;
    }
  } catch {
    // no local broker (FINPIPE_KAFKA_BROKERS points elsewhere): no broker CPU figure
  }
  return undefined;
}

/** One trade as the raw topic has it: its expected id and the fields process must carry over. */
interface ExpectedTrade {
  symbol: string;
  time: number;
  price: number;
}

export interface OutputCheck {
  expected: number;
  /** Expected trades never seen on their symbol topic. */
  missing: number;
  /** Trades seen more than once (same id). */
  duplicated: number;
  /** Trades whose id is not one the raw topic yields, or whose fields differ from the raw trade's. */
  wrong: number;
}

/**
 * Reads `topics` from the beginning with read_committed until `done` says so or nothing new
 * arrived for `idleMs`; hands every record to `onRecord` (after `reader` looked up the
 * schema ids of the batch's framed values).
 */
async function readAll(
  kafka: Kafka,
  topics: string[],
  reader: ValueReader,
  onRecord: (topic: string, partition: number, offset: string, value: Buffer, type: string | undefined) => void,
  done: () => boolean,
  idleMs: number,
): Promise<void> {
  const consumer = kafka.consumer({ groupId: uniqueName('bench-check'), readUncommitted: false, maxWaitTimeInMs: 100, maxBytes: 50 << 20 });
  await consumer.connect();
  let last = Date.now();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        await reader.prepare(batch.messages);
        for (const m of batch.messages) {
          if (m.value) onRecord(batch.topic, batch.partition, m.offset, m.value, m.headers?.[RECORD_TYPE_HEADER]?.toString());
        }
        last = Date.now();
      },
    });
    while (!done() && Date.now() - last < idleMs) await new Promise((r) => setTimeout(r, 50));
  } finally {
    await consumer.disconnect();
  }
}

/**
 * Every trade of the raw topic must be on its symbol topic exactly once, under the id that
 * its raw topic/partition/offset/position yields and with its symbol, time and price: trades
 * are compared by identity, not counted. After the expected number has arrived the reader
 * goes on for `settleMs` so that duplicates would show.
 *
 * `reader`: how values are decoded; a framing reader (valueCodecs with a registry) expects
 * framed trades on the symbol topics, and a plain trade there counts as wrong.
 */
export async function checkOutputs(
  kafka: Kafka,
  rawTopic: string,
  symbolTopics: string[],
  options: { settleMs?: number; reader?: ValueReader } = {},
): Promise<OutputCheck> {
  const settleMs = options.settleMs ?? 1_500;
  const reader = options.reader ?? PLAIN_VALUES.reader;
  const expected = new Map<string, ExpectedTrade>();
  let rawRecords = 0;
  let rawPlain = 0;
  await readAll(
    kafka,
    [rawTopic],
    reader,
    (topic, partition, offset, value) => {
      rawRecords++;
      if (reader.framed && frameId(value) < 0) rawPlain++;
      reader
        .decode<RawMessage>('raw', value, topic, partition)
        .data.forEach((t, i) => expected.set(tradeId(rawTopic, partition, offset, i), { symbol: t.s, time: t.t, price: t.p }));
    },
    () => false,
    3_000,
  );
  const seen = new Map<string, number>();
  let wrong = 0;
  let settledSince = 0;
  await readAll(
    kafka,
    symbolTopics,
    reader,
    (topic, partition, _offset, value, type) => {
      if (type !== 'trade') return;
      const t = reader.decode<Trade>('trade', value, topic, partition);
      const want = expected.get(t.id);
      const formOk = !reader.framed || frameId(value) >= 0;
      if (!want || !formOk || want.symbol !== t.symbol || want.time !== t.trade_timestamp || want.price !== t.price) wrong++;
      seen.set(t.id, (seen.get(t.id) ?? 0) + 1);
    },
    () => {
      if (seen.size < expected.size) return false;
      settledSince ||= Date.now();
      return Date.now() - settledSince > settleMs;
    },
    10_000,
  );
  let missing = 0;
  let duplicated = 0;
  for (const id of expected.keys()) if (!seen.has(id)) missing++;
  for (const n of seen.values()) if (n > 1) duplicated += n - 1;
  if (rawRecords === 0) throw new Error(`read no record of ${rawTopic}: cannot check the outputs`);
  if (rawPlain > 0)
    throw new Error(`${rawPlain} of ${rawRecords} records of ${rawTopic} are not framed: the framed backlog was not written framed`);
  return { expected: expected.size, missing, duplicated, wrong };
}
