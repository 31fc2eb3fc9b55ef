import { createContext, type GlobalOptions } from '../context';
import { processMetrics } from '../../core/metrics';
import { runStage } from '../run-stage';
import { Processor, processOptions, totalLag, type ProcessStats } from '../../core/process';
import type { StageView } from '../../core/stage';
import { valueCodecs } from '../../core/serde/registry';

export interface ProcessFlags {
  topic?: string;
  lateTopic?: string;
  dlqTopic?: string;
  /** Unset: derived from the raw topic (defaultGroupId). */
  group?: string;
  topicPrefix: string;
  windows: number[];
  lateness: number;
  emit: 'update' | 'final';
  /** As written (`2m`); unset: FINPIPE_MAX_FUTURE or its default. */
  maxFuture?: string;
  start: 'earliest' | 'latest';
  sessionTimeout: number;
  statsInterval: number;
}

const n = (x: number): string => Math.round(x).toLocaleString('en-US');

/** Wires flags -> config -> Processor, run by the CLI's one stage runner. */
export async function runProcessCommand(global: GlobalOptions, symbols: string[], flags: ProcessFlags): Promise<void> {
  const { config, logger } = createContext(global, 'process', {
    'topics.raw': flags.topic,
    'topics.late': flags.lateTopic,
    'topics.deadLetter': flags.dlqTopic,
    'limits.maxFuture': flags.maxFuture,
  });
  const processor = new Processor(
    processOptions({
      kafka: config.kafka,
      values: valueCodecs(config.schemaRegistry),
      topics: { raw: config.topics.raw, late: config.topics.late, deadLetter: config.topics.deadLetter },
      groupId: flags.group,
      topicPrefix: flags.topicPrefix,
      symbols,
      windows: { sizes: flags.windows, latenessMs: flags.lateness, emit: flags.emit },
      maxFutureMs: config.limits.maxFutureMs,
      fromBeginning: flags.start === 'earliest',
      sessionTimeoutMs: flags.sessionTimeout,
      logger,
    }),
  );
  await runStage(processor, processView(config.topics), {
    logger,
    logIntervalMs: flags.statsInterval,
    metrics: { adapter: processMetrics(config.topics.raw), config },
  });
}

function processView(topics: { late: string; deadLetter: string }): StageView<ProcessStats> {
  const rates = (now: ProcessStats, previous: ProcessStats, seconds: number) => ({
    tradesPerSec: (now.trades - previous.trades) / seconds,
    candlesPerSec: (now.candles - previous.candles) / seconds,
    lag: totalLag(now),
  });
  return {
    lines(now, previous, seconds) {
      const r = rates(now, previous, seconds);
      const text =
        `process ${n(r.tradesPerSec)} trades/s | ${n(r.candlesPerSec)} candles/s | trades ${n(now.trades)} | lag ${n(r.lag)} | ` +
        `late ${n(now.late)} | dead letters ${n(now.deadLetters)} | partitions ${now.assigned.join(',') || '-'}`;
      return [{ key: 'process', text }];
    },
    log(now, previous, seconds) {
      const r = rates(now, previous, seconds);
      return {
        fields: { stats: statsJson(now, r) },
        message: `${n(r.tradesPerSec)} trades/s, ${n(r.candlesPerSec)} candles/s, lag ${n(r.lag)}, ${n(now.late)} late, ${n(now.deadLetters)} dead letters`,
      };
    },
    summary(final, interactive) {
      const elapsedMs = Date.now() - final.startedAt;
      const elapsed = elapsedMs / 1000;
      const fields = { ...statsJson(final, { tradesPerSec: final.trades / Math.max(elapsed, 0.001) }), elapsedMs };
      const stdout = interactive
        ? `process stopped after ${elapsed.toFixed(1)} s: ${n(final.records)} raw records, ${n(final.trades)} trades, ` +
          `${n(final.candles)} candles, ${n(final.late)} late trades (to ${topics.late}), ` +
          `${n(final.deadLetters)} dead letters (to ${topics.deadLetter}) in ${n(final.transactions)} transactions`
        : JSON.stringify(fields);
      return { fields, stdout };
    },
  };
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
