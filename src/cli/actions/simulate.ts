import chalk from 'chalk';
import { createContext, type GlobalOptions } from '../context';
import type { SimulateFlags } from '../commands/simulate';
import { FinpipeError } from '../../core/errors';
import { aborted, shutdownSignal } from '../../core/lifecycle';
import { DEFAULT_SIMULATED_SYMBOLS, startSimulator } from '../../core/simulator';
import { isInteractive, startStatusLine } from '../../core/ui/terminal';

const n = (x: number): string => x.toLocaleString('en-US');

/** Runs the simulator until SIGINT/SIGTERM; prints where it listens and the produce command to use. */
export async function runSimulateCommand(global: GlobalOptions, flags: SimulateFlags): Promise<void> {
  const { logger } = createContext(global, 'simulate');
  const symbols = flags.symbols.length > 0 ? flags.symbols : DEFAULT_SIMULATED_SYMBOLS;
  let sim;
  try {
    sim = await startSimulator({
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
      faults: { dropEverySec: flags.dropEvery === undefined ? undefined : flags.dropEvery / 1000, noPing: !flags.ping, malformedFraction: flags.malformed, hiddenFromSearch: flags.hideFromSearch },
      logger,
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') {
      throw new FinpipeError('USAGE', `cannot listen on ${flags.host}:${flags.port}: ${code}`, { hint: 'pick another port with --port (0 = any free port)', cause: error });
    }
    if (error instanceof RangeError) throw new FinpipeError('USAGE', error.message, { cause: error });
    throw error;
  }
  const loopback = ['127.0.0.1', 'localhost', '::1'].includes(flags.host);
  const example = symbols.slice(0, 2).map((s) => (/[\s/]/.test(s) ? `'${s}'` : s)).join(' ');
  const tokenPart = flags.token.length > 0 ? `FINNHUB_TOKEN=${flags.token[0]} ` : loopback ? '' : 'FINNHUB_TOKEN=any ';
  process.stdout.write(
    `Finnhub simulator listening on ${sim.url} (REST ${sim.restUrl}): ${symbols.length} symbols, ` +
      `${flags.rate === 0 ? 'unlimited' : n(flags.rate)} trades/s per connection, seed ${flags.seed}\n` +
      `Produce from it with:\n  ${tokenPart}FINNHUB_WS_URL=${sim.url} finpipe produce ${example}\n`,
  );

  const shutdown = shutdownSignal(logger);
  const status = startStatusLine('simulate {connections} connections | {rate} trades/s | trades {trades} | malformed {malformed} | drops {drops}', {
    connections: 0, rate: 0, trades: 0, malformed: 0, drops: 0,
  });
  let previous = sim.stats();
  let previousAt = Date.now();
  let lastLog = 0;
  const timer = setInterval(() => {
    const s = sim.stats();
    const now = Date.now();
    const rate = Math.round(((s.tradesSent - previous.tradesSent) * 1000) / Math.max(1, now - previousAt));
    previous = s;
    previousAt = now;
    if (isInteractive()) status.update({ connections: s.connections, rate: n(rate), trades: n(s.tradesSent), malformed: n(s.malformedSent), drops: s.drops });
    else if (now - lastLog >= 10_000) {
      lastLog = now;
      logger.info({ stats: s, tradesPerSec: rate }, `${s.connections} connections, ${n(rate)} trades/s`);
    }
  }, 1000);
  try {
    await aborted(shutdown.signal);
  } finally {
    clearInterval(timer);
    status.stop();
    shutdown.dispose();
    await sim.close();
  }
  const s = sim.stats();
  process.stdout.write(`${chalk.bold('simulator stopped')}: ${n(s.tradesSent)} trades in ${n(s.framesSent)} frames, ${n(s.malformedSent)} malformed, ${n(s.drops)} dropped connections\n`);
}
