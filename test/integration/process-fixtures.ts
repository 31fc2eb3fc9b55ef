import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import type { TestContext } from 'node:test';
import type { Admin, Message } from 'kafkajs';
import { deleteTopicsQuietly, testKafka, waitFor } from '../helpers/kafka';
import { codecs, type Candle, type RawTrade, type Trade } from '../../src/core/serde';
import { symbolToTopic } from '../../src/core/symbols';
import { TRADE_ID_NAMESPACE } from '../../src/core/process/transform';

/**
 * Shared by the process integration tests: unique scenarios on the real broker, a reader that
 * reads topics exactly to their end, and an independent reference computation of what
 * `finpipe process` must output.
 */

export interface Scenario {
  id: string;
  raw: string;
  late: string;
  dlq: string;
  group: string;
  /** Symbols unique to this test run, so their topics are too. */
  symbols: string[];
  env: Record<string, string>;
  args(...extra: string[]): string[];
}

export async function scenario(
  t: TestContext,
  admin: Admin,
  partitions: number,
  symbolCount: number,
  /** Output topic names: the plain mapping unless process runs with --topic-prefix. */
  topicOf: (symbol: string) => string = symbolToTopic,
): Promise<Scenario> {
  const id = randomUUID().slice(0, 8);
  const s: Scenario = {
    id,
    raw: `proc-raw-${id}`,
    late: `proc-late-${id}`,
    dlq: `proc-dlq-${id}`,
    group: `proc-group-${id}`,
    symbols: Array.from({ length: symbolCount }, (_, i) => `T${id}:S${i}`),
    env: {},
    args: (...extra) => [
      'process',
      '--topic',
      s.raw,
      '--late-topic',
      s.late,
      '--dlq-topic',
      s.dlq,
      '--group',
      s.group,
      '--session-timeout',
      '6s',
      '--stats-interval',
      '1s',
      ...extra,
    ],
  };
  // The frames carry fixed 2023 timestamps (deterministic ids and windows). Under the
  // broker's default 7-day retention, its periodic check (every 5 min) would delete them in
  // the middle of a test, so this topic keeps its records.
  await admin.createTopics({
    topics: [{ topic: s.raw, numPartitions: partitions, configEntries: [{ name: 'retention.ms', value: '-1' }] }],
    waitForLeaders: true,
  });
  t.after(() => deleteAll([s.raw, s.late, s.dlq, `${s.group}-state`, ...s.symbols.map(topicOf)]));
  return s;
}

/** Deletes topics, checking and trying again: a busy broker may time out a large delete. */
async function deleteAll(names: string[]): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    await deleteTopicsQuietly(names);
    const a = testKafka().admin();
    try {
      await a.connect();
      const existing = new Set(await a.listTopics());
      if (!names.some((n) => existing.has(n))) return;
    } catch {
      return; // the broker is gone: nothing more to clean
    } finally {
      await a.disconnect().catch(() => {});
    }
  }
}

/** One raw record: a frame's trades for one symbol, sent to an explicit partition. */
export interface Frame {
  symbol: string;
  partition: number;
  trades: RawTrade[];
  /** Kafka timestamp = ingest time. */
  timestamp: number;
  /** Bytes that are not Avro (a poison record) instead of the trades. */
  garbage?: boolean;
}

export function frameMessage(f: Frame): Message {
  return {
    key: f.symbol,
    partition: f.partition,
    timestamp: String(f.timestamp),
    value: f.garbage ? Buffer.from([0xff, 0xff, 0xff, 0x01, 0x02]) : codecs().raw.encode({ data: f.trades, type: 'trade' }),
  };
}

export interface ReadBack {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
  timestamp: string;
}

/**
 * Reads topics (read_committed) from the beginning exactly to their current end: every
 * record committed before the call, nothing missed, no waiting on a guess.
 */
export async function readToEnd(admin: Admin, topics: string[], timeoutMs = 30_000): Promise<ReadBack[]> {
  const present = new Set(await admin.listTopics());
  const names = topics.filter((n) => present.has(n));
  if (names.length === 0) return [];
  const ends = new Map<string, bigint>();
  const fetchEnds = async () => {
    for (const name of names) for (const o of await admin.fetchTopicOffsets(name)) ends.set(`${name}/${o.partition}`, BigInt(o.high));
  };
  await fetchEnds();
  const positions = new Map<string, bigint>();
  const done = () => [...ends].every(([k, end]) => end <= 0n || (positions.get(k) ?? 0n) >= end);
  const out: ReadBack[] = [];
  const consumer = testKafka().consumer({ groupId: `proc-reader-${randomUUID()}`, readUncommitted: false, maxWaitTimeInMs: 100 });
  let wake: () => void = () => {};
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    positions.set(`${payload.topic}/${payload.partition}`, BigInt(payload.lastOffset) + 1n);
    if (done()) wake();
  });
  await consumer.connect();
  try {
    for (const name of names) await consumer.subscribe({ topic: name, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(m.headers ?? {})) headers[k] = String(Buffer.isBuffer(v) ? v.toString() : v);
          out.push({
            topic: batch.topic,
            partition: batch.partition,
            offset: m.offset,
            key: m.key?.toString() ?? null,
            value: m.value,
            headers,
            timestamp: m.timestamp,
          });
        }
      },
    });
    const deadline = Date.now() + timeoutMs;
    // Done only when a fresh look at the end offsets agrees: an end offset read once under
    // heavy load has been seen to come back too low, which ended a read-back early.
    for (;;) {
      if (!done()) {
        const remaining = deadline - Date.now();
        if (remaining <= 0) throw new Error(`timed out reading ${names.join(', ')} to the end`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(remaining, 500));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        continue;
      }
      await fetchEnds();
      if (done()) return out;
    }
  } finally {
    await consumer.disconnect().catch(() => {});
  }
}

/** Waits until the group has committed every raw partition up to its end. */
export async function waitProcessed(admin: Admin, s: Scenario, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    `${s.group} to commit ${s.raw} to the end`,
    async () => {
      const ends = await admin.fetchTopicOffsets(s.raw);
      const [committed] = await admin.fetchOffsets({ groupId: s.group, topics: [s.raw] });
      return ends.every((e) => e.high === '0' || committed?.partitions.find((p) => p.partition === e.partition)?.offset === e.high);
    },
    timeoutMs,
    200,
  );
}

/** Fraction of the raw topic's records the group has committed so far. */
export async function committedFraction(admin: Admin, s: Scenario): Promise<number> {
  const { done, total } = await committedProgress(admin, s);
  return total === 0 ? 0 : done / total;
}

/** Raw records the group has committed (done) and raw records there are (total). */
export async function committedProgress(admin: Admin, s: Scenario): Promise<{ done: number; total: number }> {
  const ends = await admin.fetchTopicOffsets(s.raw);
  const [committed] = await admin.fetchOffsets({ groupId: s.group, topics: [s.raw] });
  let total = 0;
  let done = 0;
  for (const e of ends) {
    total += Number(e.high);
    done += Math.max(0, Number(committed?.partitions.find((p) => p.partition === e.partition)?.offset ?? 0));
  }
  return { done, total };
}

// ---- the reference: what process must write, computed without its code ----------------------

export function v5(name: string): string {
  const h = createHash('sha1')
    .update(Buffer.from(TRADE_ID_NAMESPACE.replace(/-/g, ''), 'hex'))
    .update(name)
    .digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.toString('hex', 0, 16);
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export interface Expected {
  trades: Trade[];
  late: Trade[];
  /** Candles of closed windows (is_final) keyed `symbol|size|start`. */
  finals: Map<string, Candle>;
  /** Latest update of windows still open at the end, same keys. */
  open: Map<string, Candle>;
  deadLetterSources: string[];
}

export const candleKey = (c: Candle): string => `${c.symbol}|${c.window_ms}|${c.window_start}`;

/**
 * Replays the raw topic as read back (offsets and all) through the semantics of the issue,
 * written as plainly as possible: group each symbol's on-time trades per window, then fold.
 */
export function reference(
  raw: ReadBack[],
  sizes: number[],
  latenessMs: number,
  keep: (s: string) => boolean = () => true,
  /** Trades process must refuse (dead-letter) on their own: they are left out, ids keep their position. */
  refused: (d: RawTrade) => boolean = () => false,
): Expected {
  const exp: Expected = { trades: [], late: [], finals: new Map(), open: new Map(), deadLetterSources: [] };
  const bySymbol = new Map<string, Trade[]>();
  const sorted = [...raw].sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
  for (const r of sorted) {
    if (r.key !== null && !keep(r.key)) continue;
    let msg;
    try {
      msg = codecs().raw.decode(r.value!);
    } catch {
      exp.deadLetterSources.push(`${r.topic}/${r.partition}/${r.offset}`);
      continue;
    }
    msg.data.forEach((d, i) => {
      if (refused(d)) return;
      const trade: Trade = {
        id: v5(`${r.topic}/${r.partition}/${r.offset}/${i}`),
        symbol: d.s,
        price: d.p,
        volume: d.v,
        trade_timestamp: d.t,
        ingest_timestamp: Number(r.timestamp),
        trade_conditions: (d.c ?? []).filter((c): c is string => c !== null),
      };
      exp.trades.push(trade);
      bySymbol.set(d.s, [...(bySymbol.get(d.s) ?? []), trade]);
    });
  }
  for (const [symbol, trades] of bySymbol) {
    const buckets = new Map<string, Trade[]>();
    let newest = -Infinity;
    for (const tr of trades) {
      const watermark = newest - latenessMs;
      let late = false;
      for (const size of sizes) {
        const start = Math.floor(tr.trade_timestamp / size) * size;
        if (start + size <= watermark) late = true;
        else buckets.set(`${size}|${start}`, [...(buckets.get(`${size}|${start}`) ?? []), tr]);
      }
      if (late) exp.late.push(tr);
      newest = Math.max(newest, tr.trade_timestamp);
    }
    const finalWatermark = newest - latenessMs;
    for (const [k, list] of buckets) {
      const [size, start] = k.split('|').map(Number);
      const first = list.reduce((a, b) => (b.trade_timestamp < a.trade_timestamp ? b : a));
      const last = list.reduce((a, b) => (b.trade_timestamp >= a.trade_timestamp ? b : a));
      let volume = 0;
      let pv = 0;
      let sum = 0;
      for (const x of list) {
        volume += x.volume;
        pv += x.price * x.volume;
        sum += x.price;
      }
      const closed = start + size <= finalWatermark;
      const candle: Candle = {
        symbol,
        window_ms: size,
        window_start: start,
        window_end: start + size,
        open: first.price,
        close: last.price,
        high: Math.max(...list.map((x) => x.price)),
        low: Math.min(...list.map((x) => x.price)),
        volume,
        vwap: volume > 0 ? pv / volume : null,
        trade_count: list.length,
        avg_price: sum / list.length,
        is_final: closed,
        version: closed ? list.length + 1 : list.length,
      };
      (closed ? exp.finals : exp.open).set(candleKey(candle), candle);
    }
  }
  return exp;
}

/** Splits what process wrote into trades and candles (asserting the record layout on the way). */
export function decodeOutputs(
  records: ReadBack[],
  topicOf: (symbol: string) => string = symbolToTopic,
): { trades: Trade[]; candles: Candle[] } {
  const trades: Trade[] = [];
  const candles: Candle[] = [];
  for (const r of records) {
    const type = r.headers['finpipe.type'];
    if (type === 'trade') trades.push(decodeTrade(r.value!));
    else if (type === 'candle') candles.push({ ...codecs().candle.decode(r.value!) });
    else throw new Error(`record ${r.topic}/${r.partition}/${r.offset} has finpipe.type=${type}`);
    const symbol = type === 'trade' ? trades[trades.length - 1].symbol : candles[candles.length - 1].symbol;
    if (r.key !== symbol) throw new Error(`record ${r.topic}/${r.offset}: key ${r.key} is not the symbol ${symbol}`);
    if (r.topic !== topicOf(symbol)) throw new Error(`${symbol} written to ${r.topic}`);
  }
  return { trades, candles };
}

/** As a plain object (avsc decodes to class instances, which deepEqual tells apart). */
export const decodeTrade = (value: Buffer): Trade => ({ ...codecs().trade.decode(value) });

export const byId = (a: Trade, b: Trade): number => a.id.localeCompare(b.id);

/**
 * The symbol topics and the late topic hold exactly the reference: every trade once (ids
 * included), candle versions growing per window, one final per closed window, the latest
 * update of each open one.
 */
export async function assertOutputsAreTheReference(
  admin: Admin,
  s: Scenario,
  exp: Expected,
  topicOf: (symbol: string) => string = symbolToTopic,
): Promise<void> {
  const out = decodeOutputs(await readToEnd(admin, s.symbols.map(topicOf)), topicOf);
  assert.equal(out.trades.length, exp.trades.length, 'no trade lost or doubled');
  assert.deepEqual(out.trades.sort(byId), [...exp.trades].sort(byId));
  const last = new Map<string, Candle>();
  let finals = 0;
  for (const c of out.candles) {
    const prev = last.get(candleKey(c));
    if (prev) assert.ok(c.version > prev.version && !prev.is_final, `${candleKey(c)}: version ${c.version} after ${prev.version}`);
    last.set(candleKey(c), c);
    if (c.is_final) finals++;
  }
  assert.equal(finals, exp.finals.size, 'one final candle per closed window');
  assert.deepEqual(new Map([...last].filter(([, c]) => c.is_final)), exp.finals);
  assert.deepEqual(new Map([...last].filter(([, c]) => !c.is_final)), exp.open);
  const late = (await readToEnd(admin, [s.late])).map((r) => decodeTrade(r.value!));
  assert.deepEqual(late.sort(byId), [...exp.late].sort(byId));
}

/** Deletes consumer groups with a client of its own (the test's admin may be disconnected by then); never throws. */
export async function deleteGroupsQuietly(groups: string[]): Promise<void> {
  const a = testKafka().admin();
  try {
    await a.connect();
    for (const g of groups) await a.deleteGroups([g]).catch(() => {});
  } catch {
    // the broker is gone: nothing more to clean
  } finally {
    await a.disconnect().catch(() => {});
  }
}
