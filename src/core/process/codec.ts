import { codecs, type Candle, type RawMessage, type Trade } from '../serde';
import type { ValueReader, ValueWriter } from '../serde/registry';

/**
 * The Avro entry points of `process`, in one place: the raw record's value in, the Trade
 * and Candle values out. A framing prefix around the Avro payload (e.g. a schema registry's)
 * belongs here and nowhere else in process.
 *
 * Trades take a fast encoder: one Trade is encoded per trade processed, and avsc's
 * `toBuffer` (a generic writer plus a zero-filled copy per record) showed as about 5 % of
 * process's CPU. The fast one writes the same bytes for the common shape — ASCII text,
 * safe-integer times — and gives everything else to avsc, so the output never differs
 * (test/core/process/codec.test.ts compares both on random and unusual trades).
 *
 * Avro binary of finpipe.Trade (src/core/serde/schemas/trade.avsc), field by field: id and
 * symbol strings (zigzag-varint length, bytes), price and volume doubles (8 bytes little
 * endian), trade_timestamp and ingest_timestamp longs (zigzag varints), trade_conditions an
 * array of strings (a count and the items, then a 0; an empty array is the 0 alone).
 */

// With a Schema Registry configured, values go through its framing reader and writer
// (serde/registry); without one, through the plain fast paths below, exactly as before.

/** A raw-topic value: framed or plain with a registry, plain Avro without. Throws DECODE_FAILED. */
export function rawValue(reader: ValueReader, value: Buffer, topic: string, partition: number): RawMessage {
  return reader.framed ? reader.decode<RawMessage>('raw', value, topic, partition) : decodeRawValue(value);
}

/**
 * A Trade value for a per-symbol topic (whose subjects writer.prepare() registered);
 * `header` is writer.header(topic, 'trade'), looked up by the caller once per symbol rather
 * than per trade. The fast body (behind the frame header when framed); the writer's own
 * (avsc) path for what the fast one does not take.
 */
export function tradeValue(writer: ValueWriter, topic: string, header: Buffer | null, trade: Trade): Buffer {
  return encodeTradeFast(trade, header) ?? writer.encode(topic, 'trade', trade);
}

/** A Candle value for a per-symbol topic (whose subjects writer.prepare() registered). */
export function candleValue(writer: ValueWriter, topic: string, candle: Candle): Buffer {
  return writer.framed ? writer.encode(topic, 'candle', candle) : encodeCandleValue(candle);
}

export function decodeRawValue(value: Buffer): RawMessage {
  return codecs().raw.decode(value);
}

export function encodeCandleValue(candle: Candle): Buffer {
  return codecs().candle.encode(candle);
}

// Values are written straight into a shared slab (they are never written to afterwards);
// `buf`/`pos` are the slab and the write position of the value being encoded.
const SLAB_SIZE = 64 * 1024;
let buf = Buffer.allocUnsafe(SLAB_SIZE);
let slabUsed = 0;
let pos = 0;

/** Makes room for `bound` bytes at the slab's end and starts a value there. */
function start(bound: number): void {
  if (slabUsed + bound > buf.length) {
    buf = Buffer.allocUnsafe(Math.max(SLAB_SIZE, bound));
    slabUsed = 0;
  }
  pos = slabUsed;
}

/** avsc's Tap.writeLong, for safe integers. */
function writeLong(n: number): void {
  if (n >= -1073741824 && n < 1073741824) {
    let m = n >= 0 ? n << 1 : (~n << 1) | 1;
    while (m > 0x7f) {
      buf[pos++] = (m & 0x7f) | 0x80;
      m >>>= 7;
    }
    buf[pos++] = m;
  } else {
    let f = n >= 0 ? n * 2 : -n * 2 - 1;
    while (f >= 128) {
      buf[pos++] = (f & 0x7f) | 0x80;
      f /= 128;
    }
    buf[pos++] = f & 0x7f;
  }
}

/** An ASCII string; false for anything else (avsc's path then). A loop: these strings are
 * short, and a native call per string (Buffer.write) cost more than the copy. */
function writeAscii(s: unknown): boolean {
  if (typeof s !== 'string') return false;
  const n = s.length;
  writeLong(n);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return false;
    buf[pos++] = c;
  }
  return true;
}

function writeDouble(d: unknown): boolean {
  if (typeof d !== 'number') return false;
  buf.writeDoubleLE(d, pos);
  pos += 8;
  return true;
}

/** avsc's range of a long held in a JS number (isSafeLong); outside it avsc refuses the value. */
const MAX_LONG = 9007199254740990;

function writeTime(t: unknown): boolean {
  if (typeof t !== 'number' || !Number.isInteger(t) || t > MAX_LONG || t < -MAX_LONG) return false;
  writeLong(t);
  return true;
}

/**
 * The Trade's Avro bytes, or null when it is not the common shape (see the module comment);
 * with `prefix` (a frame header), the prefix followed by those bytes.
 */
export function encodeTradeFast(trade: Trade, prefix: Buffer | null = null): Buffer | null {
  const conditions = trade.trade_conditions;
  if (!Array.isArray(conditions)) return null;
  // Upper bound of the size (ASCII strings, 10-byte varints), so the writes below never overflow.
  let bound = 64 + (typeof trade.id === 'string' ? trade.id.length : 0) + (typeof trade.symbol === 'string' ? trade.symbol.length : 0);
  for (const c of conditions) bound += 10 + (typeof c === 'string' ? c.length : 0);
  start(bound + (prefix?.length ?? 0));
  if (prefix) for (let i = 0; i < prefix.length; i++) buf[pos++] = prefix[i];
  const ok =
    writeAscii(trade.id) &&
    writeAscii(trade.symbol) &&
    writeDouble(trade.price) &&
    writeDouble(trade.volume) &&
    writeTime(trade.trade_timestamp) &&
    writeTime(trade.ingest_timestamp);
  if (!ok) return null;
  if (conditions.length > 0) {
    writeLong(conditions.length);
    for (const c of conditions) if (!writeAscii(c)) return null;
  }
  buf[pos++] = 0;
  const value = buf.subarray(slabUsed, pos);
  slabUsed = pos;
  return value;
}
