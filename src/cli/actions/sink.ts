import { createContext, type GlobalOptions } from '../context';
import type { SinkFlags } from '../commands/sink';
import { FinpipeError } from '../../core/errors';
import { shutdownSignal } from '../../core/lifecycle';
import type { Logger } from '../../core/log';
import { Sink, validateSinkTopics, type SinkStats } from '../../core/sinks/sink';
import { isInteractive, startStatusLine, type StatusLine } from '../../core/ui/terminal';

const STATS_LOG_INTERVAL_MS = 10_000;

export async function runSinkCommand(global: GlobalOptions, topics: string[], flags: SinkFlags): Promise<void> {
  const { config, logger } = createContext(global, 'sink', { 'mysql.url': flags.mysqlUrl });
  if (topics.length === 0 && !flags.pattern) {
    throw new FinpipeError('USAGE', 'name at least one topic or give --pattern', { hint: 'e.g. finpipe sink BINANCE_BTCUSDT, or finpipe sink --pattern \'BINANCE_.*\'' });
  }
  validateSinkTopics(config, topics); // bad names are usage errors, before anything connects
  let pattern: RegExp | undefined;
  if (flags.pattern !== undefined) {
    try {
      pattern = new RegExp(flags.pattern);
    } catch (error) {
      throw new FinpipeError('USAGE', `--pattern ${JSON.stringify(flags.pattern)} is not a valid regular expression: ${(error as Error).message}`, { hint: 'the pattern must match whole topic names, e.g. \'BINANCE_.*\'' });
    }
  }

  const shutdown = shutdownSignal(logger);
  const sink = new Sink({ config, logger, topics, pattern, groupId: flags.group, batchRows: flags.batchRows, flushMs: flags.flush, sessionTimeoutMs: flags.sessionTimeout, writers: flags.writers, signal: shutdown.signal });
  const progress = startProgress(sink, logger);
  let stats: SinkStats;
  try {
    stats = await sink.run();
  } finally {
    progress.stop();
    shutdown.dispose();
  }
  const seconds = (Date.now() - stats.startedAt) / 1000;
  const summary = {
    records: stats.records, trades: stats.trades, tradesNew: stats.tradesInserted, candles: stats.candles, deadLetters: stats.deadLetters,
    transactions: stats.transactions, seconds: Number(seconds.toFixed(1)), topics: Object.fromEntries(stats.topics),
  };
  logger.info(summary, 'sink stopped');
  process.stdout.write(
    `sink: ${stats.records} records written (${stats.trades} trades, ${stats.tradesInserted} new; ${stats.candles} candle upserts) ` +
      `in ${stats.transactions} transactions over ${seconds.toFixed(1)} s; ${stats.deadLetters} dead letters\n`,
  );
}

/**
 * Progress: on a terminal one live line per topic (rows/s over the last second and lag);
 * otherwise a JSON log line every 10 s with the same figures.
 */
function startProgress(sink: Sink, logger: Logger): { stop(): void } {
  const interactive = isInteractive();
  const lines = new Map<string, StatusLine>();
  let previous = new Map<string, number>();
  let previousAt = Date.now();
  let lastLog = Date.now();
  const tick = () => {
    const stats = sink.snapshot();
    const now = Date.now();
    const seconds = Math.max(0.001, (now - previousAt) / 1000);
    const rates = new Map<string, number>();
    for (const [topic, s] of stats.topics) rates.set(topic, (s.rows - (previous.get(topic) ?? 0)) / seconds);
    if (interactive) {
      for (const [topic, s] of stats.topics) {
        let line = lines.get(topic);
        if (!line) {
          line = startStatusLine('{topic} {rate} rows/s  lag {lag}  written {rows}  dead letters {dlq}  {state}', {});
          lines.set(topic, line);
        }
        line.update({ topic: topic.padEnd(20), rate: Math.round(rates.get(topic) ?? 0).toLocaleString().padStart(8), lag: s.lag.toLocaleString(), rows: s.rows.toLocaleString(), dlq: s.deadLetters, state: stats.paused ? 'MySQL unavailable: paused' : stats.state === 'running' ? '' : stats.state });
      }
      previous = new Map([...stats.topics].map(([t, s]) => [t, s.rows]));
      previousAt = now;
    } else if (now - lastLog >= STATS_LOG_INTERVAL_MS) {
      logger.info(
        {
          records: stats.records, deadLetters: stats.deadLetters, paused: stats.paused,
          topics: Object.fromEntries([...stats.topics].map(([t, s]) => [t, { rowsPerSec: Math.round(rates.get(t) ?? 0), lag: s.lag, rows: s.rows, deadLetters: s.deadLetters }])),
        },
        'sink progress',
      );
      previous = new Map([...stats.topics].map(([t, s]) => [t, s.rows]));
      previousAt = now;
      lastLog = now;
    }
  };
  const timer = setInterval(tick, 1_000);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      for (const line of lines.values()) line.stop();
    },
  };
}
