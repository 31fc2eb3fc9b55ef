import { readFileSync } from 'node:fs';
import path from 'node:path';
import avro from 'avsc';
import { FinpipeError } from '../errors';
import { packageRoot } from '../paths';

/**
 * Avro codecs for every record finpipe writes. The .avsc files in ./schemas are the source
 * of truth (documented in docs/data-model.md); they are read at start-up from the package.
 *
 * Plain Avro binary, no container header and no schema-registry prefix: that is what the
 * Spark jobs of the pipelines finpipe replaces (from_avro with trades.avsc) read.
 */

/** The Finnhub trade as it arrives on the websocket (and as stored in the raw topic). */
export interface RawTrade {
  /** symbol */ s: string;
  /** price */ p: number;
  /** time, ms since epoch */ t: number;
  /** volume */ v: number;
  /** trade conditions; null when Finnhub sent none */ c: (string | null)[] | null;
}

/** One raw-topic record: the trades of one frame for one symbol. */
export interface RawMessage {
  data: RawTrade[];
  type: string;
}

export interface Trade {
  id: string;
  symbol: string;
  price: number;
  volume: number;
  trade_timestamp: number;
  ingest_timestamp: number;
  trade_conditions: string[];
}

export interface Candle {
  symbol: string;
  window_ms: number;
  window_start: number;
  window_end: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  vwap: number | null;
  trade_count: number;
  avg_price: number;
  is_final: boolean;
  version: number;
}

/** Header on per-symbol topics telling a Trade from a Candle. */
export const RECORD_TYPE_HEADER = 'finpipe.type';
export type RecordType = 'trade' | 'candle';

export const SCHEMA_DIR = path.join(packageRoot(), 'src', 'core', 'serde', 'schemas');

export function readSchema(name: 'trades' | 'trade' | 'candle'): avro.Schema {
  return JSON.parse(readFileSync(path.join(SCHEMA_DIR, `${name}.avsc`), 'utf8')) as avro.Schema;
}

export interface Codec<T> {
  type: avro.Type;
  encode(value: T): Buffer;
  /**
   * The record in buffer[start..] (start: after a frame header, without slicing the buffer);
   * throws FinpipeError DECODE_FAILED on bytes that are not a valid record.
   */
  decode(buffer: Buffer, start?: number): T;
}

function codec<T>(name: 'trades' | 'trade' | 'candle'): Codec<T> {
  const type = avro.Type.forSchema(readSchema(name));
  return {
    type,
    encode: (value) => type.toBuffer(value),
    decode(buffer, start = 0) {
      let result: { value: unknown; offset: number };
      try {
        result = type.decode(buffer, start);
      } catch (error) {
        throw new FinpipeError('DECODE_FAILED', `not a valid ${type.name} Avro record: ${(error as Error).message}`, { cause: error });
      }
      if (result.offset !== buffer.length) {
        throw new FinpipeError(
          'DECODE_FAILED',
          `not a valid ${type.name} Avro record: ${result.offset < 0 ? 'truncated' : `${buffer.length - result.offset} trailing bytes`}`,
        );
      }
      return result.value as T;
    },
  };
}

let cache: { raw: Codec<RawMessage>; trade: Codec<Trade>; candle: Codec<Candle> } | undefined;

/** The codecs, built once per process. */
export function codecs(): { raw: Codec<RawMessage>; trade: Codec<Trade>; candle: Codec<Candle> } {
  cache ??= { raw: codec<RawMessage>('trades'), trade: codec<Trade>('trade'), candle: codec<Candle>('candle') };
  return cache;
}
