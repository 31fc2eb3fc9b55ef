import { FinpipeError } from '../errors';
import { LIMITS } from '../limits';
import type { RawMessage, RawTrade, Trade } from '../serde';
import { PLAIN_VALUES, type ValueReader } from '../serde/registry';
import { rawValue } from './codec';
import { tradeId } from './trade-id';

/**
 * Raw-topic record -> trades: the per-record half of `process`, pure (no Kafka).
 *
 * The raw record, as `finpipe produce` writes it (trades.avsc, plain Avro; see docs/data-model.md):
 *   key        the symbol, UTF-8 (null is accepted from other producers, see below)
 *   value      { data: [{ c: [string|null] | null, p: double, s: string, t: long, v: double }],
 *                type: "trade" }   — one Finnhub frame's trades for that one symbol
 *   timestamp  when produce wrote it: becomes each trade's ingest_timestamp
 *
 * A record that cannot be used as a whole (bytes that are not Avro, a type other than
 * "trade", a trade with a non-finite price, a symbol different from the key) is rejected
 * with a reason and goes to the dead-letter topic; the other records are unaffected.
 * A key that differs from the trades' symbol is rejected because process relies on
 * key = symbol: that puts all of a symbol's trades in one raw partition, in order, which
 * is what makes per-symbol windows correct with several instances.
 *
 * A single trade that breaks a limit every stage agrees on (src/core/limits.ts: a symbol too
 * long for the stores, a time the stores cannot hold or too far in the future), or whose
 * symbol has no valid output topic, is rejected on its own (`rejected`): the record's other
 * trades go on, and the caller dead-letters the record with the reasons. A trade from the
 * future must never reach the windows: it would move its symbol's watermark (saved in the
 * state topic) so far ahead that every later real trade is late and no candle closes again.
 */

export { TRADE_ID_NAMESPACE, tradeId } from './trade-id';

export interface RawRecordRef {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  /** Kafka timestamp (ms since epoch, as a string like kafkajs gives it). */
  timestamp: string;
}

/** `rejected`: why single trades were left out, e.g. `data[2].t: ... ahead of the wall clock ...`. */
export type Decoded = { ok: true; trades: Trade[]; rejected: string[] } | { ok: false; reason: string };

/** What a trade is checked against besides its record's shape; null = no problem. */
export type TradeCheck = (trade: RawTrade) => string | null;

/**
 * The limits on one trade (LIMITS): symbol length and event time. `nowMs` is the wall clock
 * the future is measured from; `maxFutureMs` how far ahead of it a trade may be (clock skew).
 */
export function tradeLimitProblem(trade: RawTrade, nowMs: number, maxFutureMs: number): string | null {
  if (trade.s.length > LIMITS.symbolMaxLength)
    return `s: symbol "${trade.s.slice(0, 40)}…" is ${trade.s.length} characters long; at most ${LIMITS.symbolMaxLength} are allowed`;
  if (trade.t < LIMITS.tradeTimeMinMs || trade.t > LIMITS.tradeTimeMaxMs)
    return `t: ${trade.t} is outside the times the stores can hold (${iso(LIMITS.tradeTimeMinMs)} to ${iso(LIMITS.tradeTimeMaxMs)})`;
  if (trade.t > nowMs + maxFutureMs)
    return (
      `t: ${iso(trade.t)} is ${durationText(trade.t - nowMs)} ahead of the wall clock (${iso(nowMs)}); ` +
      `at most ${durationText(maxFutureMs)} is allowed (--max-future): fix the source's clock or raise --max-future`
    );
  return null;
}

function iso(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

function durationText(ms: number): string {
  if (ms >= 86_400_000) return `${(ms / 86_400_000).toFixed(1)} days`;
  if (ms >= 60_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 1000).toFixed(1)} s`;
}

function problem(raw: RawMessage, key: string | null): string | null {
  if (raw.type !== 'trade') return `type is "${raw.type}", expected "trade"`;
  for (let i = 0; i < raw.data.length; i++) {
    const t = raw.data[i];
    const where = `data[${i}]`;
    if (!t.s) return `${where}.s: symbol is empty`;
    if (key !== null && t.s !== key) return `${where}.s: symbol "${t.s}" differs from the record key "${key}" (process needs key = symbol)`;
    if (!Number.isFinite(t.p)) return `${where}.p: price ${t.p} is not a finite number`;
    if (!Number.isFinite(t.v) || t.v < 0) return `${where}.v: volume ${t.v} is not a finite number >= 0`;
    if (!Number.isSafeInteger(t.t) || t.t <= 0) return `${where}.t: ${t.t} is not a time in ms since the epoch`;
  }
  return null;
}

/**
 * Decodes and checks one raw record; `keep` filters symbols (filtered trades are not an
 * error); `check` rejects single trades (see the module comment).
 */
export function decodeRawRecord(
  record: RawRecordRef,
  keep: (symbol: string) => boolean = () => true,
  check: TradeCheck = () => null,
  reader: ValueReader = PLAIN_VALUES.reader,
): Decoded {
  if (!record.value) return { ok: false, reason: 'record has no value (tombstone)' };
  let raw: RawMessage;
  try {
    raw = rawValue(reader, record.value, record.topic, record.partition);
  } catch (error) {
    return { ok: false, reason: error instanceof FinpipeError ? error.message : String(error) };
  }
  const key = record.key ? record.key.toString('utf8') : null;
  // Records of symbols this run does not keep are not its business, valid or not.
  if (key !== null && !keep(key)) return { ok: true, trades: [], rejected: [] };
  const bad = problem(raw, key);
  if (bad) return { ok: false, reason: bad };
  const ingest = Number(record.timestamp);
  const trades: Trade[] = [];
  const rejected: string[] = [];
  raw.data.forEach((t, index) => {
    if (!keep(t.s)) return;
    const refused = check(t);
    if (refused) return void rejected.push(`data[${index}].${refused}`);
    trades.push({
      id: tradeId(record.topic, record.partition, record.offset, index),
      symbol: t.s,
      price: t.p,
      volume: t.v,
      trade_timestamp: t.t,
      ingest_timestamp: ingest,
      trade_conditions: (t.c ?? []).filter((c): c is string => c !== null),
    });
  });
  return { ok: true, trades, rejected };
}
