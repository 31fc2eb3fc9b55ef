import { DLQ_HEADERS } from '../kafka/dead-letter';
import { codecs, RECORD_TYPE_HEADER } from '../serde';

/**
 * One record of any topic finpipe writes -> a JSON-able object, or why it is not one.
 * Never throws: a record it cannot decode comes back as `undecodable` with its bytes in
 * base64, so one bad record never stops `consume`.
 *
 * How the record type is found, first match wins:
 *   - header finpipe.dlq.reason   a dead letter: the reason and context headers, and the
 *                                 original bytes (text when they are UTF-8, else base64);
 *   - header finpipe.late.reason  a late trade (Trade schema) on the late topic;
 *   - header finpipe.type         trade | candle on a per-symbol topic;
 *   - no header: by the topic     the raw topic's Finnhub message (trades.avsc); a
 *                                 process group's `<group>-state` changelog holds JSON;
 *                                 a per-symbol record without its header is undecodable.
 *
 * Schema Registry framing (magic byte 0, 4-byte schema id, Avro) is recognised but not
 * decoded here: `framed` is the seam where a registry-backed decoder plugs in. Without one,
 * such a record is reported as framed with its schema id.
 */

/** What a topic is to finpipe (consume works this out from the topic name and the settings). */
export type TopicKind = 'raw' | 'symbol' | 'late' | 'dead-letter' | 'state' | 'other';

export interface RecordBytes {
  value: Buffer | null;
  /** Header values as UTF-8 strings. */
  headers: Record<string, string>;
}

export type DecodedRecord =
  | { type: 'raw' | 'trade' | 'candle' | 'late-trade'; value: unknown; schemaId?: number }
  | { type: 'state'; value: unknown }
  | { type: 'dead-letter'; value: DeadLetterView }
  | { type: 'tombstone'; value: null }
  | { type: 'undecodable'; value: { reason: string; base64: string; schemaId?: number } };

export interface DeadLetterView {
  reason: string | null;
  stage: string | null;
  source: string | null;
  /** When it was dead-lettered (ISO-8601), from finpipe.dlq.timestamp. */
  deadLetteredAt: string | null;
  truncated?: { originalBytes: number | null; originalSha256: string | null };
  /** The original bytes: `text` when they are valid UTF-8 without control characters, `base64` always. */
  original: { text?: string; base64: string };
}

/**
 * Decodes a framed value (the whole value, header included): resolves its schema id and
 * returns the record, or throws an Error saying why not (unknown id, unreadable schema).
 * Built by registryDecoder() when a Schema Registry is configured.
 */
export type FramedDecoder = (value: Buffer, expected: 'raw' | 'trade' | 'candle') => Promise<unknown>;

export interface DecodeOptions {
  framed?: FramedDecoder;
}

export const LATE_REASON_HEADER = 'finpipe.late.reason';

export async function decodeRecord(kind: TopicKind, record: RecordBytes, options: DecodeOptions = {}): Promise<DecodedRecord> {
  const { value, headers } = record;
  if (headers[DLQ_HEADERS.reason] !== undefined || kind === 'dead-letter') return { type: 'dead-letter', value: deadLetterView(record) };
  if (value === null) return { type: 'tombstone', value: null };
  const recordType = headers[RECORD_TYPE_HEADER];
  if (headers[LATE_REASON_HEADER] !== undefined) return decodeAs('late-trade', 'trade', value, options);
  if (recordType === 'trade' || recordType === 'candle') return decodeAs(recordType, recordType, value, options);
  if (recordType !== undefined)
    return undecodable(value, `unknown ${RECORD_TYPE_HEADER} header "${recordType}" (expected trade or candle)`);
  if (kind === 'symbol') return undecodable(value, `a per-symbol record without its ${RECORD_TYPE_HEADER} header`);
  if (kind === 'late') return decodeAs('late-trade', 'trade', value, options);
  if (kind === 'state') return decodeJson(value);
  return decodeAs('raw', 'raw', value, options);
}

async function decodeAs(
  type: 'raw' | 'trade' | 'candle' | 'late-trade',
  schema: 'raw' | 'trade' | 'candle',
  value: Buffer,
  options: DecodeOptions,
): Promise<DecodedRecord> {
  const schemaId = framedSchemaId(value);
  // With a registry, a value that looks framed is read as framed first: a framed value can
  // happen to parse as plain Avro too, but then as the wrong record.
  if (schemaId !== undefined && options.framed) {
    try {
      return { type, value: await options.framed(value, schema), schemaId };
    } catch (error) {
      const framedError = (error as Error).message;
      const plain = decodePlain(type, schema, value);
      return 'error' in plain ? undecodable(value, `framed (schema id ${schemaId}) but not decodable: ${framedError}`, schemaId) : plain;
    }
  }
  const plain = decodePlain(type, schema, value);
  if (!('error' in plain)) return plain;
  if (schemaId === undefined) return undecodable(value, plain.error);
  return undecodable(value, `framed (schema id ${schemaId}); pass --schema-registry to decode`, schemaId);
}

function decodePlain(
  type: 'raw' | 'trade' | 'candle' | 'late-trade',
  schema: 'raw' | 'trade' | 'candle',
  value: Buffer,
): DecodedRecord | { error: string } {
  try {
    return { type, value: codecs()[schema].decode(value) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/** A state changelog record: JSON written by process (state-store.ts). */
function decodeJson(value: Buffer): DecodedRecord {
  try {
    return { type: 'state', value: JSON.parse(value.toString('utf8')) as unknown };
  } catch (error) {
    return undecodable(value, `not JSON: ${(error as Error).message}`);
  }
}

/** The schema id of a value in the Confluent wire format (0x00, 4-byte big-endian id, payload); undefined otherwise. */
export function framedSchemaId(value: Buffer): number | undefined {
  return value.length >= 5 && value[0] === 0 ? value.readUInt32BE(1) : undefined;
}

function undecodable(value: Buffer, reason: string, schemaId?: number): DecodedRecord {
  return { type: 'undecodable', value: { reason, base64: value.toString('base64'), ...(schemaId === undefined ? {} : { schemaId }) } };
}

function deadLetterView({ value, headers }: RecordBytes): DeadLetterView {
  const bytes = value ?? Buffer.alloc(0);
  const at = Number(headers[DLQ_HEADERS.timestamp]);
  const text = readableText(bytes);
  const view: DeadLetterView = {
    reason: headers[DLQ_HEADERS.reason] ?? null,
    stage: headers[DLQ_HEADERS.stage] ?? null,
    source: headers[DLQ_HEADERS.source] ?? null,
    deadLetteredAt: headers[DLQ_HEADERS.timestamp] !== undefined && Number.isFinite(at) ? new Date(at).toISOString() : null,
    original: { ...(text === undefined ? {} : { text }), base64: bytes.toString('base64') },
  };
  if (headers[DLQ_HEADERS.truncated] === 'true') {
    const original = Number(headers[DLQ_HEADERS.originalBytes]);
    view.truncated = {
      originalBytes: Number.isFinite(original) ? original : null,
      originalSha256: headers[DLQ_HEADERS.originalSha256] ?? null,
    };
  }
  return view;
}

/** The bytes as text when they are valid UTF-8 with no control characters but tab and newlines. */
export function readableText(bytes: Buffer): string | undefined {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/.test(text)) return undefined;
  return text;
}
