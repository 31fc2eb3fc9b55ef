/**
 * A faster encoder for one Kafka record (record batch v2 "Record") inside kafkajs, byte for
 * byte the same as kafkajs' own.
 *
 * Why: profiling `process` (docs/benchmarks.md) showed kafkajs' produce-request encoding as
 * the largest cost, about 40 % of the CPU, most of it in the per-record encoder: every record
 * and every header gets a `new Encoder()`, i.e. a zero-filled 512-byte Buffer, and every
 * varint a `Buffer.from([...])`; that is also most of the garbage the collector then spends
 * another 14 % on. `process` writes one record per trade, so this is paid per trade.
 *
 * How: it computes the record's exact size, writes it into a slice of a shared slab (no
 * zero fill, no intermediate Buffers) and returns an object with the two properties kafkajs
 * reads from an Encoder (`buf`, `buffer`); fast-encoding.ts installs it in kafkajs' place.
 * Anything unusual (a header value that is not a string or Buffer, a timestamp delta that is
 * not a safe integer...) is handed to kafkajs' own encoder, so the output never differs:
 * test/core/kafka/record-encoder.test.ts compares both on random records.
 */

type Value = Buffer | string | null | undefined;
type Headers = Record<string, Value | Value[]>;
export interface RecordInput {
  offsetDelta?: number;
  timestampDelta?: number;
  key?: Value;
  value?: Value;
  headers?: Headers;
}
/** What kafkajs reads from a record's encoder. */
export interface EncodedRecord {
  buf: Buffer;
  readonly buffer: Buffer;
}
export type RecordEncoder = (record: RecordInput) => EncodedRecord;

/** Size of a zigzag varint of a 32-bit signed integer. */
function varIntSize(value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0;
  let bytes = 1;
  while (v >= 0x80) {
    bytes++;
    v >>>= 7;
  }
  return bytes;
}

function writeVarInt(buf: Buffer, pos: number, value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0;
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[pos++] = v;
  return pos;
}

/** Bytes of a key, value or header value, or -1 for null; undefined when not ours to encode. */
function byteSize(value: unknown): number | undefined {
  if (value === null || value === undefined) return -1;
  if (Buffer.isBuffer(value)) return value.length;
  if (typeof value === 'string') return Buffer.byteLength(value, 'utf8');
  return undefined;
}

function writeBytes(buf: Buffer, pos: number, value: Value, size: number): number {
  pos = writeVarInt(buf, pos, size);
  if (size <= 0) return pos;
  if (typeof value === 'string') buf.write(value, pos, size, 'utf8');
  else (value as Buffer).copy(buf, pos);
  return pos + size;
}

/** Headers as kafkajs flattens them: [key, value] in key order, array values one entry each. */
function flatHeaders(headers: Headers): [string, Value][] | undefined {
  const out: [string, Value][] = [];
  for (const key of Object.keys(headers)) {
    const v = headers[key];
    if (Array.isArray(v)) for (const item of v) out.push([key, item]);
    else out.push([key, v]);
  }
  // kafkajs' size computation throws on a null header value; leave such records to it.
  for (const [, v] of out) if (typeof v !== 'string' && !Buffer.isBuffer(v)) return undefined;
  return out;
}

const SLAB_SIZE = 64 * 1024;
let slab = Buffer.allocUnsafe(SLAB_SIZE);
let slabUsed = 0;

/** `n` bytes from the shared slab (records are immutable once written, so sharing is safe). */
function take(n: number): Buffer {
  if (n > SLAB_SIZE / 8) return Buffer.allocUnsafe(n);
  if (slabUsed + n > SLAB_SIZE) {
    slab = Buffer.allocUnsafe(SLAB_SIZE);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + n);
  slabUsed += n;
  return out;
}

/** The record's bytes (in a slice of a shared slab), or null when it is not ours to encode. */
export function encodeRecordFast(record: RecordInput): Buffer | null {
  const { offsetDelta = 0, timestampDelta = 0, key, value, headers = {} } = record;
  // Varlong zigzag equals varint zigzag for values that fit 31 bits; kafkajs' Long handles the rest.
  if (!Number.isInteger(timestampDelta) || timestampDelta < -(2 ** 30) || timestampDelta >= 2 ** 30) return null;
  if (!Number.isInteger(offsetDelta) || offsetDelta < 0 || offsetDelta >= 2 ** 30) return null;
  const keySize = byteSize(key);
  const valueSize = byteSize(value);
  const flat = flatHeaders(headers);
  if (keySize === undefined || valueSize === undefined || !flat) return null;
  const headerSizes: number[] = [];
  let body = 1 + varIntSize(timestampDelta) + varIntSize(offsetDelta);
  body += varIntSize(keySize) + Math.max(0, keySize) + varIntSize(valueSize) + Math.max(0, valueSize) + varIntSize(flat.length);
  for (const [k, v] of flat) {
    const ks = Buffer.byteLength(k, 'utf8');
    const vs = byteSize(v) as number;
    headerSizes.push(ks, vs);
    body += varIntSize(ks) + ks + varIntSize(vs) + Math.max(0, vs);
  }
  const buf = take(varIntSize(body) + body);
  let pos = writeVarInt(buf, 0, body);
  buf[pos++] = 0; // attributes
  pos = writeVarInt(buf, pos, timestampDelta);
  pos = writeVarInt(buf, pos, offsetDelta);
  pos = writeBytes(buf, pos, key, keySize);
  pos = writeBytes(buf, pos, value, valueSize);
  pos = writeVarInt(buf, pos, flat.length);
  for (let i = 0; i < flat.length; i++) {
    pos = writeBytes(buf, pos, flat[i][0], headerSizes[2 * i]);
    pos = writeBytes(buf, pos, flat[i][1], headerSizes[2 * i + 1]);
  }
  return buf;
}

/** The fast encoder; `fallback` (kafkajs' own) takes what it does not handle. */
export function fastRecordEncoder(fallback: RecordEncoder): RecordEncoder {
  return (record) => {
    const buf = encodeRecordFast(record);
    return buf ? { buf, buffer: buf } : fallback(record);
  };
}
