/**
 * What `finpipe produce` can be told, and every default in one place: the CLI's option
 * defaults, the stage and the sources it builds all read PRODUCE_DEFAULTS.
 */
import type { KafkaConfig } from '../config';
import { LIMITS } from '../limits';
import type { Logger } from '../log';
import type { BackoffOptions } from '../retry';
import type { ValueWriter } from '../serde/registry';

export interface BatchingOptions {
  maxBatchMessages: number;
  /** Keeps one request under the broker's message.max.bytes (1 MiB by default); one record always fits. */
  maxBatchBytes: number;
  lingerMs: number;
  maxBufferedBytes: number;
}

export interface WebSocketSourceSpec {
  kind: 'websocket';
  symbols: string[];
  url: string;
  token: string;
  symbolLimit?: number;
  watchdogMs?: number;
  reconnectBackoff?: BackoffOptions;
  /** REST base URL: check every symbol there before connecting (`--validate`). */
  validateWith?: string;
}

export interface FileSourceSpec {
  kind: 'file';
  path: string;
}

export interface HttpSourceSpec {
  kind: 'http';
  port: number;
  host?: string;
  onListening?: (port: number) => void;
}

export type SourceSpec = WebSocketSourceSpec | FileSourceSpec | HttpSourceSpec;

export interface ProduceOptions {
  kafka: KafkaConfig;
  /** `late` is only reserved: no symbol may be written to it (nor to raw or deadLetter). */
  topics: { raw: string; deadLetter: string; late?: string };
  logger: Logger;
  source: SourceSpec;
  /** How far ahead of the wall clock a trade's time may be; default LIMITS.maxFutureMs. */
  maxFutureMs?: number;
  /** Partitions of the raw topic when finpipe creates it. */
  partitions?: number;
  batching?: Partial<BatchingOptions>;
  /** Append every text frame received to this NDJSON file (replay with source kind file). */
  record?: string;
  /** Stop after at least this many trades (a frame is never split). */
  maxTrades?: number;
  /** Schema Registry framing of the raw records (src/core/serde/registry); default: plain Avro. */
  values?: ValueWriter;
}

export const PRODUCE_DEFAULTS = {
  /** Finnhub's free tier: symbols one connection may subscribe to. */
  symbolLimit: 50,
  /** Finnhub pings every few seconds, so this long without any frame means a dead connection. */
  watchdogMs: 30_000,
  reconnectBackoff: { initialMs: 500, maxMs: 30_000, jitter: 0.3 },
  httpHost: '127.0.0.1',
  partitions: 6,
  batching: { maxBatchMessages: 10_000, maxBatchBytes: LIMITS.recordMaxBytes, lingerMs: 20, maxBufferedBytes: 64 * 1024 * 1024 },
  /** Off a terminal: how often the CLI logs a stats line. */
  statsIntervalMs: 10_000,
} as const;

export type ResolvedSourceSpec =
  | (WebSocketSourceSpec & Required<Pick<WebSocketSourceSpec, 'symbolLimit' | 'watchdogMs' | 'reconnectBackoff'>>)
  | FileSourceSpec
  | (HttpSourceSpec & { host: string });

export interface ResolvedProduceOptions extends ProduceOptions {
  source: ResolvedSourceSpec;
  partitions: number;
  batching: BatchingOptions;
  maxFutureMs: number;
}

export function withProduceDefaults(opts: ProduceOptions): ResolvedProduceOptions {
  return {
    ...opts,
    source: withSourceDefaults(opts.source),
    partitions: opts.partitions ?? PRODUCE_DEFAULTS.partitions,
    batching: { ...PRODUCE_DEFAULTS.batching, ...opts.batching },
    maxFutureMs: opts.maxFutureMs ?? LIMITS.maxFutureMs,
  };
}

function withSourceDefaults(spec: SourceSpec): ResolvedSourceSpec {
  switch (spec.kind) {
    case 'websocket':
      return {
        ...spec,
        symbolLimit: spec.symbolLimit ?? PRODUCE_DEFAULTS.symbolLimit,
        watchdogMs: spec.watchdogMs ?? PRODUCE_DEFAULTS.watchdogMs,
        reconnectBackoff: { ...PRODUCE_DEFAULTS.reconnectBackoff, ...spec.reconnectBackoff },
      };
    case 'http':
      return { ...spec, host: spec.host ?? PRODUCE_DEFAULTS.httpHost };
    case 'file':
      return spec;
  }
}
