import chalk from 'chalk';
import { createContext, type GlobalOptions } from '../context';
import { simulatorMetrics } from '../../core/metrics';
import { runStage } from '../run-stage';
import { registerSecret } from '../../core/redact';
import { DEFAULT_SIMULATED_SYMBOLS, SimulatorStage, type RunningSimulator, type SimulatorStats } from '../../core/simulator';
import type { StageView } from '../../core/stage';

export interface SimulateFlags {
  port: number;
  host: string;
  symbols: string[];
  rate: number;
  seed: number;
  symbolLimit: number;
  token: string[];
  pingInterval: number;
  maxTrades?: number;
  restLimit: number;
  dropEvery?: number;
  ping: boolean;
  malformed: number;
  hideFromSearch: string[];
}

/** Off a terminal: how often the simulator logs a stats line. */
const STATS_LOG_INTERVAL_MS = 10_000;

const n = (x: number): string => x.toLocaleString('en-US');

/** Runs the simulator until SIGINT/SIGTERM; prints where it listens and the produce command to use. */
export async function runSimulateCommand(global: GlobalOptions, flags: SimulateFlags): Promise<void> {
  const { config, logger } = createContext(global, 'simulate');
  flags.token.forEach((token) => registerSecret(token)); // masked wherever a client echoes one back into a log
  const symbols = flags.symbols.length > 0 ? flags.symbols : DEFAULT_SIMULATED_SYMBOLS;
  const stage = new SimulatorStage({
    host: flags.host,
    port: flags.port,
    symbols,
    rate: flags.rate,
    seed: flags.seed,
    tokens: flags.token.length > 0 ? flags.token : undefined,
    symbolLimit: flags.symbolLimit,
    pingIntervalMs: flags.pingInterval,
    maxTrades: flags.maxTrades,
    restLimitPerMinute: flags.restLimit,
    faults: {
      dropEverySec: flags.dropEvery === undefined ? undefined : flags.dropEvery / 1000,
      noPing: !flags.ping,
      malformedFraction: flags.malformed,
      hiddenFromSearch: flags.hideFromSearch,
    },
    logger,
    onListening: (sim) => process.stdout.write(listening(sim, symbols, flags)),
  });
  // The first stats line after a second: the demo shows it as the simulator's status.
  await runStage(stage, simulateView, {
    logger,
    logIntervalMs: STATS_LOG_INTERVAL_MS,
    firstLogAfterMs: 1_000,
    metrics: { adapter: simulatorMetrics, config },
  });
}

function listening(sim: RunningSimulator, symbols: string[], flags: SimulateFlags): string {
  const loopback = ['127.0.0.1', 'localhost', '::1'].includes(flags.host);
  const example = symbols
    .slice(0, 2)
    .map((s) => (/[\s/]/.test(s) ? `'${s}'` : s))
    .join(' ');
  // Never the --token value itself: this line is printed, logged and copied around.
  const tokenPart = flags.token.length > 0 ? 'FINNHUB_TOKEN=<one of the --token values> ' : loopback ? '' : 'FINNHUB_TOKEN=any ';
  return (
    `Finnhub simulator listening on ${sim.url} (REST ${sim.restUrl}): ${symbols.length} symbols, ` +
    `${flags.rate === 0 ? 'unlimited' : n(flags.rate)} trades/s per connection, seed ${flags.seed}\n` +
    `Produce from it with:\n  ${tokenPart}FINNHUB_WS_URL=${sim.url} finpipe produce ${example}\n`
  );
}

const rate = (now: SimulatorStats, previous: SimulatorStats, seconds: number): number =>
  Math.round((now.tradesSent - previous.tradesSent) / seconds);

const simulateView: StageView<SimulatorStats> = {
  lines(now, previous, seconds) {
    const text =
      `simulate ${now.connections} connections | ${n(rate(now, previous, seconds))} trades/s | ` +
      `trades ${n(now.tradesSent)} | malformed ${n(now.malformedSent)} | drops ${now.drops}`;
    return [{ key: 'simulate', text }];
  },
  log(now, previous, seconds) {
    const tradesPerSec = rate(now, previous, seconds);
    return { fields: { stats: now, tradesPerSec }, message: `${now.connections} connections, ${n(tradesPerSec)} trades/s` };
  },
  summary(final) {
    const stdout =
      `${chalk.bold('simulator stopped')}: ${n(final.tradesSent)} trades in ${n(final.framesSent)} frames, ` +
      `${n(final.malformedSent)} malformed, ${n(final.drops)} dropped connections`;
    return { fields: { ...final }, stdout };
  },
};
