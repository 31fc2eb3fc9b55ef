/**
 * `finpipe produce`: a trade source (Finnhub websocket, recorded file, HTTP) -> validation
 * -> one Avro message per (frame, symbol) on the raw topic, invalid input on the
 * dead-letter topic. See pipeline.ts for the record layout and batching-producer.ts for
 * batching and backpressure.
 *
 * Shutdown: when `signal` aborts (SIGINT/SIGTERM) the source stops reading, everything
 * already received is flushed and acknowledged, and runProduce returns the summary.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { Partitioners } from 'kafkajs';
import type { KafkaConfig } from '../config';
import { SETTINGS_BY_PATH } from '../config/settings';
import { FinpipeError } from '../errors';
import { createKafka } from '../kafka/client';
import { kafkaUnavailable } from '../kafka/errors';
import { withAdmin } from '../kafka/admin';
import { createTopics } from '../kafka/topics';
import type { Logger } from '../log';
import { registerSecret } from '../redact';
import type { BackoffOptions } from '../retry';
import type { RawTrade } from '../serde';
import { FileSource } from '../sources/file';
import { FinnhubWebSocketSource, urlWithoutToken } from '../sources/finnhub-ws';
import { HttpSource } from '../sources/http';
import { checkSymbolCount, normaliseSymbols, validateSymbols } from '../sources/symbol-check';
import type { FrameSink, TradeSource } from '../sources/types';
import { BatchingProducer, type BatchingOptions } from './batching-producer';
import { TradePipeline, type PipelineCounters } from './pipeline';

export { BatchingProducer, DEFAULT_BATCHING, type BatchingOptions } from './batching-producer';
export { TradePipeline, WarnLimiter } from './pipeline';

export const DEFAULT_SYMBOL_LIMIT = 50;
export const DEFAULT_RAW_PARTITIONS = 6;
/** Placeholder sent to a local simulator when no FINNHUB_TOKEN is set (it accepts any token). */
export const SIMULATOR_TOKEN = 'finpipe-simulator';

export type SourceSpec =
  | {
      kind: 'websocket';
      symbols: string[];
      url: string;
      token: string;
      symbolLimit?: number;
      watchdogMs?: number;
      /** Reconnect delays (default 500 ms doubling to 30 s, 30% jitter). */
      reconnectBackoff?: BackoffOptions;
      /** REST base URL: check every symbol there before connecting (`--validate`). */
      validateWith?: string;
    }
  | { kind: 'file'; path: string }
  | { kind: 'http'; port: number; host?: string; onListening?: (port: number) => void };

export interface ProduceOptions {
  kafka: KafkaConfig;
  topics: { raw: string; deadLetter: string };
  logger: Logger;
  source: SourceSpec;
  /** Partitions of the raw topic when finpipe creates it (default 6). */
  partitions?: number;
  batching?: Partial<BatchingOptions>;
  /** Append every text frame received to this NDJSON file (replay with source kind file). */
  record?: string;
  /** Stop after at least this many trades (a frame is never split). */
  maxTrades?: number;
  signal?: AbortSignal;
  statsIntervalMs?: number;
  onStats?: (stats: ProduceStats) => void;
}

export interface ProduceStats extends PipelineCounters {
  reconnects: number;
  /** Trades acknowledged by Kafka. */
  tradesAcked: number;
  messagesAcked: number;
  bytesAcked: number;
  deadLettersAcked: number;
  bufferedBytes: number;
  /** Acknowledged trades per second since the previous stats (the whole run in the summary). */
  tradesPerSec: number;
  elapsedMs: number;
}

export interface ProduceSummary extends ProduceStats {
  source: string;
  stopReason: 'signal' | 'end of input' | 'max trades';
}

/**
 * Where and how to connect. With no FINNHUB_TOKEN: the real service is refused with a
 * clear message; a loopback URL (a local `finpipe simulate`) gets a placeholder token.
 * A non-default websocket URL with the default REST URL implies the REST API of the same
 * server (the simulator serves both on one port).
 */
export function resolveFinnhubEndpoint(finnhub: { token?: string; wsUrl: string; restUrl: string }): { url: string; restUrl: string; token: string } {
  let url = finnhub.wsUrl;
  let token = finnhub.token;
  try {
    const parsed = new URL(url);
    const inUrl = parsed.searchParams.get('token');
    if (inUrl) {
      registerSecret(inUrl);
      token ??= inUrl;
      url = urlWithoutToken(url);
    }
  } catch {
    // loadConfig has already refused URLs that do not parse
  }
  const defaultWs = SETTINGS_BY_PATH.get('finnhub.wsUrl')?.default;
  const defaultRest = SETTINGS_BY_PATH.get('finnhub.restUrl')?.default;
  let restUrl = finnhub.restUrl;
  if (url !== defaultWs && restUrl === defaultRest) {
    restUrl = `${url.replace(/^ws/, 'http').replace(/\/+$/, '')}/api/v1`;
  }
  if (!token) {
    const host = safeHost(url);
    if (host === '127.0.0.1' || host === 'localhost' || host === '[::1]' || host === '::1') {
      token = SIMULATOR_TOKEN;
    } else {
      throw new FinpipeError('CONFIG_INVALID', `finnhub.token: FINNHUB_TOKEN is required to connect to ${urlWithoutToken(url)}`, {
        hint: 'get a free API key at https://finnhub.io/register and set FINNHUB_TOKEN (env or .env), or try it locally: `finpipe simulate`, then `FINNHUB_WS_URL=ws://127.0.0.1:8765 finpipe produce BINANCE:BTCUSDT`',
      });
    }
  }
  return { url, restUrl, token };
}

function safeHost(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return '';
  }
}

export async function runProduce(opts: ProduceOptions): Promise<ProduceSummary> {
  const log = opts.logger;
  const spec = opts.source;
  let source: TradeSource;
  if (spec.kind === 'websocket') {
    const symbols = normaliseSymbols(spec.symbols);
    if (symbols.length === 0) throw new FinpipeError('USAGE', 'no symbols to subscribe to', { hint: 'e.g. finpipe produce BINANCE:BTCUSDT AAPL' });
    checkSymbolCount(symbols, spec.symbolLimit ?? DEFAULT_SYMBOL_LIMIT);
    if (spec.validateWith) await validateSymbols(symbols, { restUrl: spec.validateWith, token: spec.token, logger: log, signal: opts.signal });
    source = new FinnhubWebSocketSource({ url: spec.url, token: spec.token, symbols, logger: log, watchdogMs: spec.watchdogMs, backoff: spec.reconnectBackoff });
  } else if (spec.kind === 'file') {
    source = new FileSource(spec.path);
  } else {
    source = new HttpSource({ port: spec.port, host: spec.host, logger: log, onListening: spec.onListening });
  }

  const partitions = opts.partitions ?? DEFAULT_RAW_PARTITIONS;
  await withAdmin(opts.kafka, log, async (admin) => {
    const results = await createTopics(
      admin,
      [
        { name: opts.topics.raw, partitions, replicationFactor: 1 },
        { name: opts.topics.deadLetter, partitions: 1, replicationFactor: 1 },
      ],
      { strict: false },
    );
    for (const r of results) if (r.status === 'created') log.info({ topic: r.name, partitions: r.partitions }, `created topic ${r.name} (${r.partitions} partitions)`);
  });

  const producer = createKafka(opts.kafka, log, 'produce').producer({
    idempotent: true, // with acks=all: no duplicates from kafkajs' own retries
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner, // murmur2, like the Java client: same key -> same partition
    retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 200, maxRetryTime: 10_000 },
  });
  try {
    await producer.connect();
  } catch (error) {
    throw kafkaUnavailable(error, opts.kafka.brokers);
  }

  const out = new BatchingProducer(producer, log, opts.batching);
  const pipeline = new TradePipeline(out, opts.topics, log);
  const stop = new AbortController();
  let stopReason: ProduceSummary['stopReason'] = 'end of input';
  const onAbort = (): void => {
    stopReason = 'signal';
    stop.abort();
  };
  if (opts.signal?.aborted) onAbort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  let recorder: WriteStream | undefined;
  if (opts.record) {
    recorder = createWriteStream(opts.record, { flags: 'a' });
    await new Promise<void>((resolve, reject) => {
      recorder!.once('open', () => resolve());
      recorder!.once('error', (error) => reject(new FinpipeError('IO_ERROR', `cannot write ${opts.record}: ${(error as NodeJS.ErrnoException).code ?? error.message}`, { cause: error })));
    });
    log.info({ file: opts.record }, `recording frames to ${opts.record}`);
  }

  const checkLimit = (): void => {
    if (opts.maxTrades !== undefined && pipeline.counters.trades >= opts.maxTrades && !stop.signal.aborted) {
      stopReason = 'max trades';
      stop.abort();
    }
  };
  const sink: FrameSink = {
    frame(data, binary, origin) {
      if (stop.signal.aborted) return undefined; // stopped: a frame still in the socket's buffer is not taken
      let drained: Promise<void> | undefined;
      if (recorder && !binary) {
        // One frame per line; JSON needs no raw newlines, so folding them keeps the frame's meaning.
        if (!recorder.write(`${data.toString('utf8').replace(/[\r\n]+/g, ' ')}\n`)) drained = new Promise((r) => recorder!.once('drain', () => r()));
      }
      const wait = pipeline.frame(data, binary, origin);
      checkLimit();
      return wait && drained ? Promise.all([wait, drained]).then(() => undefined) : (wait ?? drained);
    },
    trades(trades: RawTrade[]) {
      const wait = pipeline.trades(trades);
      checkLimit();
      return wait;
    },
    deadLetter: (value, reason, origin) => pipeline.deadLetter(value, reason, origin),
  };

  const started = Date.now();
  const snapshot = (previous?: { at: number; trades: number }): ProduceStats => {
    const raw = out.acked.get(opts.topics.raw) ?? { messages: 0, bytes: 0, weight: 0 };
    const dlq = out.acked.get(opts.topics.deadLetter) ?? { messages: 0, bytes: 0, weight: 0 };
    const now = Date.now();
    const since = previous ?? { at: started, trades: 0 };
    return {
      ...pipeline.counters,
      reconnects: source.reconnects,
      tradesAcked: raw.weight,
      messagesAcked: raw.messages,
      bytesAcked: raw.bytes,
      deadLettersAcked: dlq.messages,
      bufferedBytes: out.bufferedBytes,
      tradesPerSec: now > since.at ? Math.round(((raw.weight - since.trades) * 1000) / (now - since.at)) : 0,
      elapsedMs: now - started,
    };
  };
  let last = { at: started, trades: 0 };
  const statsTimer = opts.onStats
    ? setInterval(() => {
        const s = snapshot(last);
        last = { at: Date.now(), trades: s.tradesAcked };
        opts.onStats!(s);
      }, opts.statsIntervalMs ?? 1000)
    : undefined;

  log.info({ source: source.description, topic: opts.topics.raw }, `producing from ${source.description} to ${opts.topics.raw}`);
  let failure: unknown;
  try {
    await source.run(sink, stop.signal);
  } catch (error) {
    failure = error;
  }
  opts.signal?.removeEventListener('abort', onAbort);
  // Everything received is flushed, whatever stopped the source.
  try {
    await out.flush();
  } catch (error) {
    failure ??= error;
  }
  clearInterval(statsTimer);
  pipeline.close();
  if (recorder) await new Promise<void>((resolve) => recorder!.end(() => resolve()));
  await producer.disconnect().catch((error) => log.debug({ err: error }, 'producer disconnect failed'));
  if (failure) throw failure;
  return { ...snapshot(), source: source.description, stopReason };
}
