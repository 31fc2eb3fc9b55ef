import { createContext, type GlobalOptions } from '../context';
import type { ProduceFlags } from '../commands/produce';
import { FinpipeError } from '../../core/errors';
import { shutdownSignal } from '../../core/lifecycle';
import { resolveFinnhubEndpoint, runProduce, type ProduceStats, type ProduceSummary, type SourceSpec } from '../../core/produce';
import { isInteractive, startStatusLine } from '../../core/ui/terminal';

const n = (x: number): string => x.toLocaleString('en-US');

/** Wires flags -> config -> runProduce; status line on a terminal, JSON stats otherwise; summary on stdout. */
export async function runProduceCommand(global: GlobalOptions, symbols: string[], flags: ProduceFlags): Promise<void> {
  const { config, logger } = createContext(global, 'produce', {
    'finnhub.wsUrl': flags.url,
    'finnhub.restUrl': flags.restUrl,
    'topics.raw': flags.topic,
    'topics.deadLetter': flags.dlqTopic,
  });

  const chosen = [flags.fromFile !== undefined && '--from-file', flags.http !== undefined && '--http'].filter(Boolean);
  if (chosen.length > 1) throw new FinpipeError('USAGE', `${chosen.join(' and ')} cannot be combined`, { hint: 'one source per produce process' });
  let source: SourceSpec;
  if (flags.fromFile !== undefined || flags.http !== undefined) {
    if (symbols.length > 0) {
      throw new FinpipeError('USAGE', `symbols (${symbols.join(' ')}) are only for the websocket source, not ${chosen[0]}`, { hint: `the ${chosen[0] === '--http' ? 'requests' : 'file'} carry their own symbols; drop the symbols` });
    }
    if (flags.validate) throw new FinpipeError('USAGE', `--validate only applies to the websocket source, not ${chosen[0]}`);
    source = flags.fromFile !== undefined ? { kind: 'file', path: flags.fromFile } : { kind: 'http', port: flags.http!, host: flags.httpHost };
  } else {
    if (symbols.length === 0) {
      throw new FinpipeError('USAGE', 'nothing to produce from: give symbols, --from-file or --http', { hint: 'e.g. finpipe produce BINANCE:BTCUSDT BINANCE:ETHUSDT' });
    }
    const endpoint = resolveFinnhubEndpoint(config.finnhub);
    source = {
      kind: 'websocket',
      symbols,
      url: endpoint.url,
      token: endpoint.token,
      symbolLimit: flags.symbolLimit,
      watchdogMs: flags.watchdog,
      validateWith: flags.validate ? endpoint.restUrl : undefined,
    };
  }

  const interactive = isInteractive();
  const status = startStatusLine('produce {rate} trades/s | trades {trades} | msgs {messages} | reconnects {reconnects} | dead letters {dlq} | buffer {buffer}', {
    rate: 0, trades: 0, messages: 0, reconnects: 0, dlq: 0, buffer: '0 KiB',
  });
  const onStats = (s: ProduceStats): void => {
    if (interactive) {
      status.update({ rate: n(s.tradesPerSec), trades: n(s.tradesAcked), messages: n(s.messagesAcked), reconnects: s.reconnects, dlq: n(s.deadLetters), buffer: `${n(Math.round(s.bufferedBytes / 1024))} KiB` });
    } else {
      logger.info({ stats: s }, `${n(s.tradesPerSec)} trades/s, ${n(s.tradesAcked)} trades in ${n(s.messagesAcked)} messages, ${s.reconnects} reconnects, ${s.deadLetters} dead letters`);
    }
  };

  const shutdown = shutdownSignal(logger);
  let summary: ProduceSummary;
  try {
    summary = await runProduce({
      kafka: config.kafka,
      topics: { raw: config.topics.raw, deadLetter: config.topics.deadLetter },
      logger,
      source,
      partitions: flags.partitions,
      batching: { maxBatchMessages: flags.batchMessages, lingerMs: flags.linger, maxBufferedBytes: flags.maxBuffer * 1024 * 1024 },
      record: flags.record,
      maxTrades: flags.maxTrades,
      signal: shutdown.signal,
      statsIntervalMs: interactive ? 1000 : flags.statsInterval,
      onStats,
    });
  } finally {
    status.stop();
    shutdown.dispose();
  }
  if (!interactive) logger.info({ summary }, 'summary'); // for log shippers; a person reads the line below
  const seconds = summary.elapsedMs / 1000;
  process.stdout.write(
    `produce stopped (${summary.stopReason}) after ${seconds.toFixed(1)} s: ${n(summary.tradesAcked)} trades in ${n(summary.messagesAcked)} messages to ${config.topics.raw} ` +
      `(${n(Math.round(summary.tradesAcked / Math.max(seconds, 0.001)))} trades/s), ${n(summary.deadLettersAcked)} dead letters to ${config.topics.deadLetter} ` +
      `(${n(summary.invalidTrades)} invalid trades), ${n(summary.reconnects)} reconnects, ${n(summary.pings)} pings, ${n(summary.errorFrames)} error frames\n`,
  );
}
