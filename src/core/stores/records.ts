import type { IHeaders } from 'kafkajs';
import { FinpipeError } from '../errors';
import { LIMITS } from '../limits';
import { codecs, RECORD_TYPE_HEADER, type Candle, type Trade } from '../serde';

/**
 * What the sink reads: records on the per-symbol topics written by `finpipe process`.
 *
 *   key     the symbol (UTF-8)
 *   header  finpipe.type = "trade" | "candle"
 *   value   plain Avro (no container, no registry prefix): finpipe.Trade or finpipe.Candle,
 *           see src/core/serde/schemas/trade.avsc and candle.avsc
 *
 * recordKind tells a trade from a candle by the header; decodeTrade and decodeCandle turn
 * the value into a row. Each throws a DECODE_FAILED FinpipeError whose message is the
 * dead-letter reason. They also refuse what breaks the limits every stage checks (LIMITS
 * in src/core/limits.ts: symbol length, the time range, the window size) and values MySQL
 * cannot store as sent (NaN, ±Infinity): those would otherwise reach the database and be
 * refused there, costing the batch a row-by-row rewrite, with a vaguer reason. (The sink renders most trades
 * without decodeTrade, see mysql/trade-lines.ts, and refuses exactly the same records.)
 * decodeRecord does all three in one call.
 */
export type SinkRow = { kind: 'trade'; trade: Trade } | { kind: 'candle'; candle: Candle };

export interface SourceMessage {
  key: Buffer | null;
  value: Buffer | null;
  headers?: IHeaders;
}

/** Where a record came from, as written in dead letters: `topic/partition/offset`. */
export interface SourceRef {
  topic: string;
  partition: number;
  offset: string;
}

export function sourceString(ref: SourceRef): string {
  return `${ref.topic}/${ref.partition}/${ref.offset}`;
}

export function headerString(headers: IHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name];
  const first = Array.isArray(v) ? v[0] : v;
  if (first === undefined || first === null) return undefined;
  return Buffer.isBuffer(first) ? first.toString('utf8') : String(first);
}

function fail(message: string): never {
  throw new FinpipeError('DECODE_FAILED', message);
}

function finite(name: string, value: number): void {
  if (!Number.isFinite(value)) fail(`${name} is ${value}; MySQL cannot store NaN or Infinity`);
}

const EARLIEST = new Date(LIMITS.tradeTimeMinMs).toISOString();
const LATEST = new Date(LIMITS.tradeTimeMaxMs).toISOString();

/** The times every stage accepts (LIMITS): also what DATETIME(3) holds, and what renders as a plain YYYY-MM-DD. */
function timestamp(name: string, value: number): void {
  if (!Number.isSafeInteger(value)) fail(`${name} ${value} is not a whole number of ms since the epoch`);
  if (value < LIMITS.tradeTimeMinMs || value > LIMITS.tradeTimeMaxMs)
    fail(`${name} ${value} is outside ${EARLIEST} .. ${LATEST}, the times finpipe accepts (LIMITS in src/core/limits.ts)`);
}

/**
 * The symbol column holds LIMITS.symbolMaxLength characters. Counted in code points, as
 * MySQL counts them: never stricter than produce and process, which count UTF-16 units
 * (a string's length), so a symbol they let through is never refused here.
 */
function symbol(what: string, value: string): void {
  if (!value) fail(`${what} symbol is empty`);
  if (value.length <= LIMITS.symbolMaxLength) return;
  const length = [...value].length;
  if (length > LIMITS.symbolMaxLength)
    fail(`${what} symbol is ${length} characters long; at most ${LIMITS.symbolMaxLength} are accepted (LIMITS.symbolMaxLength)`);
}

/** An INT UNSIGNED column (window_ms, trade_count, version). */
function unsignedInt(name: string, value: number, min: number, max = 2 ** 32 - 1): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) fail(`${name} ${value} is not an integer in ${min} .. ${max}`);
}

export function validateTrade(trade: Trade): Trade {
  if (!trade.id) fail('trade id is empty');
  symbol('trade', trade.symbol);
  finite('price', trade.price);
  finite('volume', trade.volume);
  timestamp('trade_timestamp', trade.trade_timestamp);
  timestamp('ingest_timestamp', trade.ingest_timestamp);
  return trade;
}

export function validateCandle(candle: Candle): Candle {
  symbol('candle', candle.symbol);
  for (const name of ['open', 'high', 'low', 'close', 'volume', 'avg_price'] as const) finite(name, candle[name]);
  if (candle.vwap !== null) finite('vwap', candle.vwap);
  timestamp('window_start', candle.window_start);
  timestamp('window_end', candle.window_end);
  unsignedInt('window_ms', candle.window_ms, 1, LIMITS.windowMaxMs);
  unsignedInt('trade_count', candle.trade_count, 0);
  unsignedInt('version', candle.version, 0);
  return candle;
}

const TRADE_TYPE = Buffer.from('trade');
const CANDLE_TYPE = Buffer.from('candle');

function sameBytes(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The record type header; compared as bytes first, since decoding a string per record shows in profiles. */
function recordType(headers: IHeaders | undefined): string | undefined {
  const v = headers?.[RECORD_TYPE_HEADER];
  if (Buffer.isBuffer(v)) {
    if (sameBytes(v, TRADE_TYPE)) return 'trade';
    if (sameBytes(v, CANDLE_TYPE)) return 'candle';
  }
  return headerString(headers, RECORD_TYPE_HEADER);
}

export type RecordKind = SinkRow['kind'];

/** Which kind of row a record holds (by its header); throws DECODE_FAILED, the dead-letter reason, for anything else. */
export function recordKind(message: SourceMessage): RecordKind {
  const type = recordType(message.headers);
  if (!message.value || message.value.length === 0) fail('empty record value (tombstone?); expected an Avro Trade or Candle');
  if (type === 'trade' || type === 'candle') return type;
  return fail(
    type === undefined
      ? `missing header ${RECORD_TYPE_HEADER}; expected "trade" or "candle" (is this a per-symbol topic written by finpipe process?)`
      : `header ${RECORD_TYPE_HEADER} is "${type.slice(0, 40)}"; expected "trade" or "candle"`,
  );
}

export function decodeTrade(value: Buffer): Trade {
  return validateTrade(codecs().trade.decode(value));
}

export function decodeCandle(value: Buffer): Candle {
  return validateCandle(codecs().candle.decode(value));
}

export function decodeRecord(message: SourceMessage): SinkRow {
  return recordKind(message) === 'trade'
    ? { kind: 'trade', trade: decodeTrade(message.value!) }
    : { kind: 'candle', candle: decodeCandle(message.value!) };
}
