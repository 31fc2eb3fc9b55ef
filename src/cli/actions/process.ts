import { createContext, type GlobalOptions } from '../context';
import type { ProcessFlags } from '../commands/process';
import { shutdownSignal } from '../../core/lifecycle';
import { newStats, runProcess, totalLag, type ProcessStats } from '../../core/processing';
import { isInteractive, startStatusLine } from '../../core/ui/terminal';

const n = (x: number): string => Math.round(x).toLocaleString('en-US');

interface Snapshot {
  at: number;
  trades: number;
  candles: number;
}

/** Wires flags -> config -> runProcess; status line on a terminal, JSON stats otherwise; summary on stdout. */
export async function runProcessCommand(global: GlobalOptions, symbols: string[], flags: ProcessFlags): Promise<void> {
  const { config, logger } = createContext(global, 'process', {
    'topics.raw': flags.topic,
    'topics.late': flags.lateTopic,
    'topics.deadLetter': flags.dlqTopic,
  });
  const interactive = isInteractive();
  const stats = newStats();
  const status = startStatusLine('process {trades_s} trades/s | {candles_s} candles/s | trades {trades} | lag {lag} | late {late} | dead letters {dlq} | partitions {partitions}', {
    trades_s: 0, trades: 0, candles_s: 0, lag: 0, late: 0, dlq: 0, partitions: '-',
  });
  let last: Snapshot = { at: Date.now(), trades: 0, candles: 0 };
  let lastLog = Date.now();
  const tick = setInterval(() => {
    const now = Date.now();
    const seconds = Math.max((now - last.at) / 1000, 0.001);
    const fields = {
      tradesPerSec: (stats.trades - last.trades) / seconds,
      candlesPerSec: (stats.candles - last.candles) / seconds,
      lag: totalLag(stats),
    };
    if (interactive) {
      last = { at: now, trades: stats.trades, candles: stats.candles };
      status.update({ trades_s: n(fields.tradesPerSec), trades: n(stats.trades), candles_s: n(fields.candlesPerSec), lag: n(fields.lag), late: n(stats.late), dlq: n(stats.deadLetters), partitions: stats.assigned.join(',') || '-' });
    } else if (now - lastLog >= flags.statsInterval) {
      last = { at: now, trades: stats.trades, candles: stats.candles };
      lastLog = now;
      logger.info({ stats: statsJson(stats, fields) }, `${n(fields.tradesPerSec)} trades/s, ${n(fields.candlesPerSec)} candles/s, lag ${n(fields.lag)}, ${n(stats.late)} late, ${n(stats.deadLetters)} dead letters`);
    }
  }, interactive ? 1000 : Math.min(flags.statsInterval, 1000));
  tick.unref();

  const shutdown = shutdownSignal(logger);
  try {
    await runProcess(
      {
        kafka: config.kafka,
        topics: { raw: config.topics.raw, late: config.topics.late, deadLetter: config.topics.deadLetter },
        groupId: flags.group,
        symbols,
        windows: { sizes: flags.windows, latenessMs: flags.lateness, emit: flags.emit },
        fromBeginning: flags.start === 'earliest',
        sessionTimeoutMs: flags.sessionTimeout,
        signal: shutdown.signal,
        logger,
      },
      stats,
    );
  } finally {
    clearInterval(tick);
    status.stop();
    shutdown.dispose();
  }
  const elapsed = (Date.now() - stats.startedAt) / 1000;
  const summary = { ...statsJson(stats, { tradesPerSec: stats.trades / Math.max(elapsed, 0.001) }), elapsedMs: Date.now() - stats.startedAt };
  logger.info({ summary }, 'summary');
  process.stdout.write(
    interactive
      ? `process stopped after ${elapsed.toFixed(1)} s: ${n(stats.records)} raw records, ${n(stats.trades)} trades, ${n(stats.candles)} candles, ` +
          `${n(stats.late)} late trades (to ${config.topics.late}), ${n(stats.deadLetters)} dead letters (to ${config.topics.deadLetter}) in ${n(stats.transactions)} transactions\n`
      : `${JSON.stringify(summary)}\n`,
  );
}

function statsJson(stats: ProcessStats, extra: Record<string, number>): Record<string, unknown> {
  return {
    records: stats.records,
    trades: stats.trades,
    candles: stats.candles,
    late: stats.late,
    deadLetters: stats.deadLetters,
    transactions: stats.transactions,
    lag: totalLag(stats),
    partitions: stats.assigned,
    ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, Math.round(v)])),
  };
}
