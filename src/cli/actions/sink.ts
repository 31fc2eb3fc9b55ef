import { createContext, type GlobalOptions } from '../context';
import { sinkMetrics } from '../../core/metrics';
import { runStage } from '../run-stage';
import { FinpipeError } from '../../core/errors';
import { SINK_DEFAULTS } from '../../core/sink/options';
import { Sink } from '../../core/sink/sink';
import type { SinkStats, TopicStats } from '../../core/sink/stats';
import { validateSinkTopics } from '../../core/sink/topics';
import type { StageView } from '../../core/stage';

/** What the command line passes (src/cli/commands/sink.ts). */
export interface SinkFlags {
  pattern?: string;
  mysqlUrl?: string;
  store?: string;
  group: string;
  batchRows: number;
  flush: number;
  sessionTimeout: number;
  writers: number;
}

const STATS_LOG_INTERVAL_MS = 10_000;

export async function runSinkCommand(global: GlobalOptions, topics: string[], flags: SinkFlags): Promise<void> {
  const { config, logger } = createContext(global, 'sink', { 'mysql.url': flags.mysqlUrl, 'store.name': flags.store });
  if (topics.length === 0 && !flags.pattern) {
    throw new FinpipeError('USAGE', 'name at least one topic or give --pattern', {
      hint: "e.g. finpipe sink BINANCE_BTCUSDT, or finpipe sink --pattern 'BINANCE_.*'",
    });
  }
  validateSinkTopics(config, topics); // bad names are usage errors, before anything connects
  const sink = new Sink({
    config,
    logger,
    topics,
    store: config.store,
    pattern: parsePattern(flags.pattern),
    groupId: flags.group,
    batchRows: flags.batchRows,
    flushMs: flags.flush,
    sessionTimeoutMs: flags.sessionTimeout,
    writers: flags.writers,
  });
  await runStage(sink, sinkView, {
    logger,
    logIntervalMs: STATS_LOG_INTERVAL_MS,
    metrics: { adapter: sinkMetrics(SINK_DEFAULTS.store), config },
  });
}

/** The user's pattern as written (logs show it so); the sink matches it against whole names (wholeNamePattern). */
function parsePattern(pattern: string | undefined): RegExp | undefined {
  if (pattern === undefined) return undefined;
  try {
    return new RegExp(pattern);
  } catch (error) {
    throw new FinpipeError('USAGE', `--pattern ${JSON.stringify(pattern)} is not a valid regular expression: ${(error as Error).message}`, {
      hint: "the pattern must match whole topic names, e.g. 'BINANCE_.*'",
    });
  }
}

/** Rows per second per topic between two snapshots. */
function rate(now: SinkStats, previous: SinkStats, topic: string, s: TopicStats, seconds: number): number {
  return (s.rows - (previous.topics.get(topic)?.rows ?? 0)) / seconds;
}

/** One live line per topic on a terminal; a `sink progress` log line with the same figures otherwise. */
const sinkView: StageView<SinkStats> = {
  lines(now, previous, seconds) {
    const state = now.paused ? `${now.store} unavailable: paused` : now.state === 'running' ? '' : now.state;
    return [...now.topics].map(([topic, s]) => ({
      key: topic,
      text: `${topic.padEnd(20)} ${Math.round(rate(now, previous, topic, s, seconds))
        .toLocaleString()
        .padStart(8)} rows/s  lag ${s.lag.toLocaleString()}  written ${s.rows.toLocaleString()}  dead letters ${s.deadLetters}  ${state}`,
    }));
  },
  log(now, previous, seconds) {
    return {
      fields: {
        records: now.records,
        deadLetters: now.deadLetters,
        paused: now.paused,
        topics: Object.fromEntries(
          [...now.topics].map(([t, s]) => [
            t,
            { rowsPerSec: Math.round(rate(now, previous, t, s, seconds)), lag: s.lag, rows: s.rows, deadLetters: s.deadLetters },
          ]),
        ),
      },
      message: 'sink progress',
    };
  },
  summary(stats) {
    const seconds = (Date.now() - stats.startedAt) / 1000;
    return {
      fields: {
        records: stats.records,
        trades: stats.trades,
        tradesNew: stats.tradesInserted,
        candles: stats.candles,
        deadLetters: stats.deadLetters,
        transactions: stats.transactions,
        seconds: Number(seconds.toFixed(1)),
        topics: Object.fromEntries(stats.topics),
      },
      stdout:
        `sink: ${stats.records} records written (${stats.trades} trades, ${stats.tradesInserted} new; ${stats.candles} candle upserts) ` +
        `in ${stats.transactions} transactions over ${seconds.toFixed(1)} s; ${stats.deadLetters} dead letters`,
    };
  },
};
