import { createContext, type GlobalOptions } from '../context';
import { produceMetrics } from '../../core/metrics';
import { runStage } from '../run-stage';
import type { Config } from '../../core/config';
import { FinpipeError } from '../../core/errors';
import { ProduceStage, resolveFinnhubEndpoint, type ProduceStats, type ProduceSummary, type SourceSpec } from '../../core/produce';
import type { StageView } from '../../core/stage';
import { valueCodecs } from '../../core/serde/registry';

export interface ProduceFlags {
  url?: string;
  restUrl?: string;
  topic?: string;
  dlqTopic?: string;
  validate: boolean;
  symbolLimit: number;
  watchdog: number;
  fromFile?: string;
  record?: string;
  http?: number;
  httpHost: string;
  partitions: number;
  batchMessages: number;
  linger: number;
  maxBuffer: number;
  maxTrades?: number;
  /** As written (`2m`): the setting limits.maxFuture parses it, like FINPIPE_MAX_FUTURE. */
  maxFuture?: string;
  statsInterval: number;
}

const n = (x: number): string => x.toLocaleString('en-US');

/** Wires flags -> config -> ProduceStage, run like every stage (live line or JSON stats, then the summary). */
export async function runProduceCommand(global: GlobalOptions, symbols: string[], flags: ProduceFlags): Promise<void> {
  const { config, logger } = createContext(global, 'produce', {
    'finnhub.wsUrl': flags.url,
    'finnhub.restUrl': flags.restUrl,
    'topics.raw': flags.topic,
    'topics.deadLetter': flags.dlqTopic,
    'limits.maxFuture': flags.maxFuture,
  });
  const stage = new ProduceStage({
    kafka: config.kafka,
    values: valueCodecs(config.schemaRegistry).writer,
    topics: { raw: config.topics.raw, deadLetter: config.topics.deadLetter, late: config.topics.late },
    logger,
    source: sourceFromFlags(symbols, flags, config),
    partitions: flags.partitions,
    batching: { maxBatchMessages: flags.batchMessages, lingerMs: flags.linger, maxBufferedBytes: flags.maxBuffer * 1024 * 1024 },
    record: flags.record,
    maxTrades: flags.maxTrades,
    maxFutureMs: config.limits.maxFutureMs,
  });
  await runStage(stage, produceView(config.topics), {
    logger,
    logIntervalMs: flags.statsInterval,
    metrics: { adapter: produceMetrics, config },
  });
}

function sourceFromFlags(symbols: string[], flags: ProduceFlags, config: Config): SourceSpec {
  const chosen = [flags.fromFile !== undefined && '--from-file', flags.http !== undefined && '--http'].filter(Boolean);
  if (chosen.length > 1)
    throw new FinpipeError('USAGE', `${chosen.join(' and ')} cannot be combined`, { hint: 'one source per produce process' });
  if (flags.fromFile !== undefined || flags.http !== undefined) {
    if (symbols.length > 0) {
      throw new FinpipeError('USAGE', `symbols (${symbols.join(' ')}) are only for the websocket source, not ${chosen[0]}`, {
        hint: `the ${chosen[0] === '--http' ? 'requests' : 'file'} carry their own symbols; drop the symbols`,
      });
    }
    if (flags.validate) throw new FinpipeError('USAGE', `--validate only applies to the websocket source, not ${chosen[0]}`);
    return flags.fromFile !== undefined
      ? { kind: 'file', path: flags.fromFile }
      : { kind: 'http', port: flags.http!, host: flags.httpHost };
  }
  if (symbols.length === 0) {
    throw new FinpipeError('USAGE', 'nothing to produce from: give symbols, --from-file or --http', {
      hint: 'e.g. finpipe produce BINANCE:BTCUSDT BINANCE:ETHUSDT',
    });
  }
  const endpoint = resolveFinnhubEndpoint(config.finnhub);
  return {
    kind: 'websocket',
    symbols,
    url: endpoint.url,
    token: endpoint.token,
    symbolLimit: flags.symbolLimit,
    watchdogMs: flags.watchdog,
    validateWith: flags.validate ? endpoint.restUrl : undefined,
  };
}

function produceView(topics: { raw: string; deadLetter: string }): StageView<ProduceStats, ProduceSummary> {
  const rate = (now: ProduceStats, previous: ProduceStats, seconds: number): number =>
    Math.round((now.tradesAcked - previous.tradesAcked) / seconds);
  return {
    lines(now, previous, seconds) {
      const text =
        `produce ${n(rate(now, previous, seconds))} trades/s | trades ${n(now.tradesAcked)} | msgs ${n(now.messagesAcked)} | reconnects ${now.reconnects} | ` +
        `dead letters ${n(now.deadLetters)} | buffer ${n(Math.round(now.bufferedBytes / 1024))} KiB`;
      return [{ key: 'produce', text }];
    },
    log(now, previous, seconds) {
      const tradesPerSec = rate(now, previous, seconds);
      return {
        fields: { stats: { ...now, tradesPerSec } },
        message:
          `${n(tradesPerSec)} trades/s, ${n(now.tradesAcked)} trades in ${n(now.messagesAcked)} messages, ` +
          `${now.reconnects} reconnects, ${now.deadLetters} dead letters` +
          (now.clientErrors > 0 ? `, ${now.clientErrors} failed HTTP requests` : ''),
      };
    },
    summary(final) {
      const seconds = final.elapsedMs / 1000;
      const tradesPerSec = final.elapsedMs > 0 ? Math.round((final.tradesAcked * 1000) / final.elapsedMs) : 0;
      const stdout =
        `produce stopped (${final.stopReason}) after ${seconds.toFixed(1)} s: ` +
        `${n(final.tradesAcked)} trades in ${n(final.messagesAcked)} messages to ${topics.raw} ` +
        `(${n(Math.round(final.tradesAcked / Math.max(seconds, 0.001)))} trades/s), ` +
        `${n(final.deadLettersAcked)} dead letters to ${topics.deadLetter} ` +
        `(${n(final.invalidTrades)} invalid trades), ${n(final.reconnects)} reconnects, ${n(final.pings)} pings, ${n(final.errorFrames)} error frames`;
      return { fields: { ...final, tradesPerSec }, stdout };
    },
  };
}
