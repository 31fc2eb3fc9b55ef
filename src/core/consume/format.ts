import type { Candle, RawMessage, Trade } from '../serde';
import { readableText, type DecodedRecord } from './decode';
import type { RawRecord } from './reader';

/**
 * How `consume` prints a record:
 *   json   one JSON object per line (rpk's field names), for jq and scripts;
 *   table  one aligned line per record with a readable summary of the value, for a terminal;
 *   raw    the value's bytes exactly as stored, then a newline (kcat's default).
 */
export type ConsumeFormat = 'json' | 'table' | 'raw';

export interface PrintOptions {
  format: ConsumeFormat;
  /** Show the key. */
  key: boolean;
  /** Show every header. */
  headers: boolean;
}

export interface ConsumedRecord extends RawRecord {
  decoded: DecodedRecord;
}

/** The key as text when it is readable, else as base64. */
function keyView(key: Buffer | null): string | { base64: string } | null {
  if (key === null) return null;
  const text = readableText(key);
  return text ?? { base64: key.toString('base64') };
}

export function jsonLine(record: ConsumedRecord, options: PrintOptions): string {
  return JSON.stringify({
    topic: record.topic,
    partition: record.partition,
    offset: Number(record.offset),
    timestamp: Number(record.timestamp),
    ...(options.key ? { key: keyView(record.key) } : {}),
    ...(options.headers ? { headers: record.headers } : {}),
    type: record.decoded.type,
    value: record.decoded.value,
  });
}

const time = (ms: number) => new Date(ms).toISOString();
const num = (n: number) => String(Number(n.toPrecision(12)));

/** A one-line, human summary of a decoded value. */
export function summary(decoded: DecodedRecord): string {
  switch (decoded.type) {
    case 'raw': {
      const m = decoded.value as RawMessage;
      const first = m.data[0];
      const more = m.data.length > 1 ? ` (+${m.data.length - 1} more)` : '';
      return first ? `${m.type} ${first.s} ${num(first.p)} x ${num(first.v)} at ${time(first.t)}${more}` : `${m.type} (no trades)`;
    }
    case 'trade':
    case 'late-trade': {
      const t = decoded.value as Trade;
      const conditions = t.trade_conditions.length > 0 ? ` [${t.trade_conditions.join(',')}]` : '';
      return `${t.symbol} ${num(t.price)} x ${num(t.volume)} at ${time(t.trade_timestamp)}${conditions} id ${t.id}`;
    }
    case 'candle': {
      const c = decoded.value as Candle;
      return (
        `${c.symbol} ${c.window_ms / 1000}s ${time(c.window_start)} O ${num(c.open)} H ${num(c.high)} L ${num(c.low)} C ${num(c.close)} ` +
        `V ${num(c.volume)} n ${c.trade_count} v${c.version}${c.is_final ? ' final' : ''}`
      );
    }
    case 'dead-letter': {
      const d = decoded.value;
      const bytes = d.original.text !== undefined ? JSON.stringify(d.original.text) : `base64 ${d.original.base64}`;
      return `${d.stage ?? '?'}: ${d.reason ?? '(no reason header)'} | from ${d.source ?? '?'} | ${bytes}`;
    }
    case 'tombstone':
      return '(null value)';
    case 'state':
      return JSON.stringify(decoded.value);
    case 'undecodable':
      return `${decoded.value.reason} | base64 ${decoded.value.base64}`;
  }
}

/** Column widths of the table: every line is printed as it arrives, so they are fixed. */
const WIDTHS = { partition: 4, offset: 9, timestamp: 24, key: 18, type: 11 };

export function tableHeader(options: PrintOptions): string {
  const cells = ['PART'.padEnd(WIDTHS.partition), 'OFFSET'.padEnd(WIDTHS.offset), 'TIMESTAMP'.padEnd(WIDTHS.timestamp)];
  if (options.key) cells.push('KEY'.padEnd(WIDTHS.key));
  cells.push('TYPE'.padEnd(WIDTHS.type), 'VALUE');
  return cells.join(' ');
}

/** One table line (plus indented header lines with --headers); long values wrap rather than being cut. */
export function tableLine(record: ConsumedRecord, options: PrintOptions): string {
  const key = keyView(record.key);
  const cells = [
    String(record.partition).padEnd(WIDTHS.partition),
    record.offset.padEnd(WIDTHS.offset),
    time(Number(record.timestamp)).padEnd(WIDTHS.timestamp),
  ];
  if (options.key) cells.push((key === null ? '-' : typeof key === 'string' ? key : `base64:${key.base64}`).padEnd(WIDTHS.key));
  cells.push(record.decoded.type.padEnd(WIDTHS.type), summary(record.decoded));
  const line = cells.join(' ');
  if (!options.headers) return line;
  const headerLines = Object.entries(record.headers).map(([k, v]) => `    ${k}: ${v}`);
  return [line, ...headerLines].join('\n');
}
