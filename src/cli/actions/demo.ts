import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import chalk from 'chalk';
import { createContext, type GlobalOptions } from '../context';
import type { Config } from '../../core/config';
import { runDemo, type DemoSummary, type DemoView } from '../../core/demo';
import type { Logger } from '../../core/log';
import { shutdownSignal } from '../../core/lifecycle';
import { isInteractive, startStatusLine, type StatusLine } from '../../core/ui/terminal';
import { formatTable } from './table';

const n = (x: number) => Math.round(x).toLocaleString('en-US');
const ms = (x: number | null) => (x === null ? '-' : `${n(x)} ms`);
const lag = (x: number | null) => (x === null ? '-' : n(x));

interface DemoFlags {
  symbols: string[];
  rate: number;
  duration: number;
  seed: number;
  windows: string;
  groupPrefix: string;
  store?: string;
  logDir?: string;
  dashboard: boolean;
  dashboardPort: number;
}

export async function runDemoCommand(global: GlobalOptions, opts: DemoFlags): Promise<void> {
  const { config, logger } = createContext(global, 'demo', { 'store.name': opts.store });
  const runDir = opts.logDir ?? mkdtempSync(path.join(tmpdir(), 'finpipe-demo-'));
  const shutdown = shutdownSignal(logger);
  logger.info(
    { symbols: opts.symbols, rate: opts.rate, durationMs: opts.duration, logDir: runDir },
    'starting the pipeline: sink, process, simulator, produce',
  );
  const view = liveView(logger, storeLabel(config));
  try {
    const summary = await runDemo({
      config,
      logger,
      signal: shutdown.signal,
      symbols: opts.symbols,
      rate: opts.rate,
      seed: opts.seed,
      durationMs: opts.duration,
      windows: opts.windows,
      groupPrefix: opts.groupPrefix,
      runDir,
      dashboardPort: opts.dashboard ? opts.dashboardPort : null,
      onDashboard: (url) => {
        process.stdout.write(`dashboard: open ${url}\n`);
        logger.info({ url }, `dashboard: open ${url}`);
      },
      onMetrics: (stage, url) => logger.info({ stage, url }, `${stage} metrics: ${url}`),
      onTick: view.tick,
      kafkaSettings: global.kafkaSetting,
      envFile: global.envFile,
    });
    view.stop();
    process.stdout.write(summaryText(summary, config, opts));
  } finally {
    view.stop();
    shutdown.dispose();
  }
}

/** One live line per stage on a terminal; a stats log line every 5 s otherwise. */
/** How the summary names the store the demo wrote to. */
function storeLabel(config: Config): string {
  return config.store === 'cassandra' ? `Cassandra ${config.cassandra.keyspace}` : `MySQL ${config.mysql.database}`;
}

function liveView(logger: Logger, label: string): { tick: (v: DemoView) => void; stop: () => void } {
  const lines: Record<string, StatusLine> = {};
  const interactive = isInteractive();
  let lastLogged = 0;
  const tick = (v: DemoView) => {
    if (interactive) {
      for (const [name, text] of Object.entries(stageRows(v))) {
        lines[name] ??= startStatusLine(`${chalk.bold('{name}')} {text}`, { name: name.padEnd(8), text });
        lines[name].update({ name: name.padEnd(8), text });
      }
    } else if (v.elapsedMs - lastLogged >= 5000) {
      lastLogged = v.elapsedMs;
      const { stages: _stages, ...figures } = v;
      logger.info(
        { stats: figures },
        `${n(v.mysqlTrades)} trades and ${n(v.mysqlCandles)} candles in ${label}, freshness p99 ${ms(v.freshnessP99Ms)}`,
      );
    }
  };
  return { tick, stop: () => Object.values(lines).forEach((l) => l.stop()) };
}

function stageRows(v: DemoView): Record<string, string> {
  const stage = (name: string) => v.stages.find((s) => s.name === name);
  const state = (name: string) => {
    const s = stage(name);
    return s
      ? `${s.running ? chalk.green('running') : chalk.yellow('stopped')}${s.restarts ? chalk.red(` (${s.restarts} restarts)`) : ''}`
      : '-';
  };
  return {
    produce: `${state('produce')}  raw topic ${n(v.rawPerSec)} msgs/s, ${n(v.rawRecords)} total  ${chalk.dim(stage('produce')?.lastStats ?? '')}`,
    process: `${state('process')}  lag ${lag(v.processLag)}  late ${n(v.lateTrades)}  ${chalk.dim(stage('process')?.lastStats ?? '')}`,
    sink: `${state('sink')}  lag ${lag(v.sinkLag)}  ${n(v.mysqlTradesPerSec)} rows/s  ${chalk.dim(stage('sink')?.lastStats ?? '')}`,
    mysql:
      `${n(v.mysqlTrades)} trades, ${n(v.mysqlCandles)} candles  ` +
      `freshness p50 ${ms(v.freshnessP50Ms)} p99 ${ms(v.freshnessP99Ms)}  dead letters ${n(v.deadLetters)}`,
  };
}

function summaryText(summary: DemoSummary, config: Config, opts: DemoFlags): string {
  const candles =
    summary.latestCandles.length === 0
      ? '  none yet'
      : formatTable([
          ['SYMBOL', 'WINDOW', 'START (UTC)', 'OPEN', 'HIGH', 'LOW', 'CLOSE', 'VOLUME', 'TRADES', 'FINAL'],
          ...summary.latestCandles.map((c) => [
            c.symbol,
            `${c.window_ms / 1000}s`,
            String(c.window_start),
            String(c.open),
            String(c.high),
            String(c.low),
            String(c.close),
            String(Number(c.volume).toFixed(4)),
            String(c.trade_count),
            c.is_final ? 'yes' : 'no',
          ]),
        ])
          .split('\n')
          .map((l) => `  ${l}`)
          .join('\n');
  return [
    '',
    chalk.bold(`finpipe demo: ${(summary.elapsedMs / 1000).toFixed(1)} s, ${opts.symbols.length} symbols at ${n(opts.rate)} trades/s`),
    `  raw topic ${config.topics.raw}: ${n(summary.rawRecords)} records   dead letters: ${n(summary.deadLetters)}   late trades: ${n(summary.lateTrades)}`,
    `  ${storeLabel(config)} (this run): ${n(summary.mysqlTrades)} trades, ${n(summary.mysqlCandles)} candles   ` +
      `freshness p50 ${ms(summary.freshnessP50Ms)}, p99 ${ms(summary.freshnessP99Ms)}`,
    `  stage restarts: ${summary.stages.map((s) => `${s.name} ${s.restarts}`).join(', ')}   logs: ${summary.logDir}`,
    '',
    chalk.bold(`latest candles (${storeLabel(config).split(' ')[0]})`),
    candles,
    '',
    `Look around: ${chalk.cyan('npx finpipe status')}` +
      (config.store === 'mysql'
        ? `, ${chalk.cyan(`mariadb ${config.mysql.database} -e "SELECT * FROM candles ORDER BY window_start DESC LIMIT 10"`)}`
        : ''),
    '',
  ].join('\n');
}
