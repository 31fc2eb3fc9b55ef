import { LIMITS } from '../../limits';
import { readSchema } from '../../serde';

/**
 * The sink's hot path: a finpipe.Trade record's Avro bytes straight to its LOAD DATA line
 * (the format of tradeLine in sql.ts), in one pass over the bytes, with no Trade object and
 * no strings other than the two numbers. Decoding with avsc into objects and then rendering
 * those cost about three times as much CPU and garbage, and on a small machine the sink's
 * CPU is shared with the broker and the database, so it shows directly in rows/s.
 *
 * It handles the common case only: text fields of printable ASCII without a backslash (and
 * without `"` in trade conditions), symbols and times within LIMITS. For anything else, and
 * for anything invalid (truncated bytes, NaN, an empty id...), appendTradeLine returns
 * false and writes nothing; the caller then takes the exact path (avsc decode, validation
 * with the dead-letter reason, tradeLine). So both paths always produce the same bytes —
 * test/core/stores/mysql/trade-lines.test.ts compares them on random and hostile input.
 *
 * Avro binary, field by field (src/core/serde/schemas/trade.avsc): id string, symbol
 * string, price double, volume double, trade_timestamp long, ingest_timestamp long,
 * trade_conditions array<string>. Strings are a zigzag-varint length and the bytes;
 * doubles 8 bytes little-endian; arrays blocks of (count, items) ending with count 0, where
 * a negative count is followed by the block's byte size. If trade.avsc ever changes shape,
 * the check below turns this fast path off (everything takes the exact path) rather than
 * misread records.
 */
const EXPECTED_FIELDS =
  'id:string,symbol:string,price:double,volume:double,trade_timestamp:long,ingest_timestamp:long,trade_conditions:array<string>';

function schemaShape(): string {
  const schema = readSchema('trade') as { fields: { name: string; type: unknown }[] };
  return schema.fields
    .map(({ name, type }) => {
      const t = type as string | { type: string; items?: string };
      const shape = typeof t === 'string' ? t : t.type === 'array' ? `array<${t.items}>` : t.type;
      return `${name}:${shape}`;
    })
    .join(',');
}

let enabled: boolean | undefined;

/** Whether the fast path matches trade.avsc (checked once). */
export function fastPathEnabled(): boolean {
  enabled ??= schemaShape() === EXPECTED_FIELDS;
  return enabled;
}

const TAB = 0x09;
const NEWLINE = 0x0a;
const QUOTE = 0x22;
const COMMA = 0x2c;
const BACKSLASH = 0x5c;
const ZERO = 0x30;
const COLON = 0x3a;
const DOT = 0x2e;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const DAY_MS = 86_400_000;
/**
 * Varints above this are left to the exact path. (Up to here the sum below rounds the same
 * way as avsc's readLong, byte by byte; no valid field is anywhere near it anyway.)
 */
const MAX_EXACT = 2 ** 53;

/** A growing byte buffer of LOAD DATA lines. */
export class LineBuffer {
  // Small to start: a live sink flushes many small batches; a 5,000-row batch grows it to 1 MB in 6 doublings.
  bytes = Buffer.allocUnsafe(16 * 1024);
  length = 0;

  /** Makes room for `n` more bytes. */
  reserve(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.length + n));
    this.bytes.copy(bigger, 0, 0, this.length);
    this.bytes = bigger;
  }

  appendText(text: string): void {
    this.reserve(Buffer.byteLength(text, 'utf8'));
    this.length += this.bytes.write(text, this.length, 'utf8');
  }

  /**
   * The content as Buffers of at most `pieceBytes` (views, not copies). mysql2 sends each
   * piece of a LOAD DATA LOCAL stream as one packet, which must stay below max_allowed_packet;
   * a piece may end in the middle of a line (the server reads one byte stream).
   */
  pieces(pieceBytes = 65_536): Buffer[] {
    const pieces: Buffer[] = [];
    for (let i = 0; i < this.length; i += pieceBytes) pieces.push(this.bytes.subarray(i, Math.min(this.length, i + pieceBytes)));
    return pieces;
  }
}

/** What the transcoder points at between records. */
const EMPTY = Buffer.alloc(0);
const SPARE = new LineBuffer();

// The date part ("YYYY-MM-DD ") of the day last rendered: rows of a batch share their day.
let cachedDay = NaN;
const dayBytes = Buffer.alloc(11);

/**
 * Reads one record's fields in order, appending their text to `out`; each read returns
 * false for "not handled here". One instance is reused for every record (no allocation).
 */
class Transcoder {
  src: Buffer = EMPTY;
  pos = 0;
  out: LineBuffer = SPARE;
  /** Set when a varint is truncated or too large to decode exactly. */
  bad = false;

  /** Zigzag varint (Avro int/long) -> number; sets `bad` instead of returning a wrong one. */
  readLong(): number {
    const { src } = this;
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 8 && this.pos < src.length; i++) {
      const b = src[this.pos++];
      n += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (n > MAX_EXACT) break;
        return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
      }
      scale *= 128;
    }
    this.bad = true;
    return 0;
  }

  /**
   * A string copied as is: printable ASCII only, no backslash (LOAD DATA's escape
   * character) and, `inJson` (a trade condition), no quote. Ids and symbols must not be
   * empty (the exact path refuses those as poison); a condition may be. Longer than
   * `maxLength` bytes (here one byte is one character) is left to the exact path too.
   */
  copyString(inJson: boolean, maxLength = Infinity): boolean {
    const allowEmpty = inJson;
    const length = this.readLong();
    const { src, pos, out } = this;
    if (this.bad || length < 0 || length > maxLength || pos + length > src.length || (length === 0 && !allowEmpty)) return false;
    const bytes = out.bytes;
    let o = out.length;
    for (let i = pos; i < pos + length; i++) {
      const c = src[i];
      if (c < 0x20 || c > 0x7e || c === BACKSLASH || (inJson && c === QUOTE)) return false;
      bytes[o++] = c;
    }
    out.length = o;
    this.pos = pos + length;
    return true;
  }

  putByte(c: number): void {
    this.out.bytes[this.out.length++] = c;
  }

  copyDouble(): boolean {
    const { src, pos, out } = this;
    if (pos + 8 > src.length) return false;
    const value = src.readDoubleLE(pos);
    this.pos = pos + 8;
    if (!Number.isFinite(value)) return false;
    const text = String(value); // the shortest text that reads back as the same double
    const bytes = out.bytes;
    let o = out.length;
    for (let i = 0; i < text.length; i++) bytes[o++] = text.charCodeAt(i);
    out.length = o;
    return true;
  }

  /**
   * ms since the epoch -> "YYYY-MM-DD HH:MM:SS.mmm" (UTC): the arithmetic of datetime() in
   * sql.ts, writing digits instead of building a string (calling datetimeText here made the
   * whole transcoder half again as slow).
   */
  copyTime(): boolean {
    const ms = this.readLong();
    // Outside the range every stage accepts: the exact path names the poison.
    if (this.bad || ms < LIMITS.tradeTimeMinMs || ms > LIMITS.tradeTimeMaxMs) return false;
    const day = Math.floor(ms / DAY_MS);
    if (day !== cachedDay) {
      const iso = new Date(day * DAY_MS).toISOString();
      if (iso.length !== 24) return false; // a year outside 0000-9999 (LIMITS keeps times inside; a guard)
      dayBytes.write(`${iso.slice(0, 10)} `, 'latin1');
      cachedDay = day;
    }
    const { out } = this;
    const bytes = out.bytes;
    let o = out.length;
    for (let i = 0; i < 11; i++) bytes[o++] = dayBytes[i];
    let rest = ms - day * DAY_MS;
    const h = Math.floor(rest / 3_600_000);
    rest -= h * 3_600_000;
    const m = Math.floor(rest / 60_000);
    rest -= m * 60_000;
    const s = Math.floor(rest / 1000);
    const milli = rest - s * 1000;
    bytes[o++] = ZERO + Math.floor(h / 10);
    bytes[o++] = ZERO + (h % 10);
    bytes[o++] = COLON;
    bytes[o++] = ZERO + Math.floor(m / 10);
    bytes[o++] = ZERO + (m % 10);
    bytes[o++] = COLON;
    bytes[o++] = ZERO + Math.floor(s / 10);
    bytes[o++] = ZERO + (s % 10);
    bytes[o++] = DOT;
    bytes[o++] = ZERO + Math.floor(milli / 100);
    bytes[o++] = ZERO + (Math.floor(milli / 10) % 10);
    bytes[o++] = ZERO + (milli % 10);
    out.length = o;
    return true;
  }

  /** trade_conditions as JSON.stringify renders plain strings: ["a","b"], or [] when empty. */
  copyConditions(): boolean {
    this.putByte(OPEN_BRACKET);
    let first = true;
    for (;;) {
      let count = this.readLong();
      if (this.bad) return false;
      if (count === 0) break;
      if (count < 0) {
        count = -count;
        this.readLong(); // the block's size in bytes
        if (this.bad) return false;
      }
      for (let i = 0; i < count; i++) {
        if (!first) this.putByte(COMMA);
        first = false;
        this.putByte(QUOTE);
        if (!this.copyString(true)) return false;
        this.putByte(QUOTE);
      }
    }
    this.putByte(CLOSE_BRACKET);
    return true;
  }

  /** The fields in trade.avsc order, tab-separated, as TRADE_COLUMNS lists them; the record must end there. */
  line(): boolean {
    if (!this.copyString(false)) return false; // id
    this.putByte(TAB);
    if (!this.copyString(false, LIMITS.symbolMaxLength)) return false; // symbol
    this.putByte(TAB);
    if (!this.copyDouble()) return false; // price
    this.putByte(TAB);
    if (!this.copyDouble()) return false; // volume
    this.putByte(TAB);
    if (!this.copyTime()) return false; // trade_timestamp
    this.putByte(TAB);
    if (!this.copyTime()) return false; // ingest_timestamp
    this.putByte(TAB);
    if (!this.copyConditions()) return false; // trade_conditions
    this.putByte(NEWLINE);
    return this.pos === this.src.length;
  }
}

const transcoder = new Transcoder();

/**
 * Reads one Trade from `src` and appends its line to `out`. Returns false, with `out`
 * unchanged, for anything outside the common case or invalid (see above).
 */
export function appendTradeLine(out: LineBuffer, src: Buffer): boolean {
  if (!fastPathEnabled()) return false;
  const t = transcoder;
  const start = out.length;
  // Room for the longest line these bytes can make, so that no field checks for space.
  // Per input byte at most 3 output bytes (an empty trade condition, one 0x00 byte, becomes
  // `"",`; a double's 8 bytes at most 25 characters); on top of that at most 47 (two times
  // from 1-byte varints are 23 characters each, plus separators). So 4 per byte + 128 is
  // safe, and checked after the fact: a write past the end of a Buffer is silently dropped.
  const budget = 4 * src.length + 128;
  out.reserve(budget);
  t.src = src;
  t.pos = 0;
  t.out = out;
  t.bad = false;
  const ok = t.line();
  if (out.length - start > budget)
    throw new Error(`trade-lines: a ${src.length}-byte record made a line longer than its ${budget}-byte budget`);
  if (!ok) out.length = start;
  // Let go of the record (a view of a whole Kafka fetch) and the batch's buffer.
  t.src = EMPTY;
  t.out = SPARE;
  return ok;
}
