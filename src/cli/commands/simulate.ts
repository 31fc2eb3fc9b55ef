import { Command, InvalidArgumentError } from 'commander';
import { withMetricsOptions } from './metrics-options';
import { collect, globalOptions, nonNegativeNumber, parseDuration, positiveInt } from './options';
import type { SimulateFlags } from '../actions/simulate';
import { SIMULATOR_DEFAULTS } from '../../core/simulator/types';

function fraction(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`"${value}" is not a fraction between 0 and 1.`);
  return n;
}

function integer(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`"${value}" is not an integer.`);
  return n;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`"${value}" is not a port (0-65535; 0 = any free port).`);
  return n;
}

/** `finpipe simulate`: a local Finnhub-compatible websocket + REST server. */
export function simulateCommand(): Command {
  return withMetricsOptions(new Command('simulate'))
    .description('run a Finnhub-compatible websocket + REST server (trades, pings, errors, REST symbol lookup) for local runs and tests')
    .option('-p, --port <n>', 'port (0 = any free port)', port, SIMULATOR_DEFAULTS.port)
    .option('--host <host>', 'address to listen on', SIMULATOR_DEFAULTS.host)
    .option(
      '-s, --symbols <list>',
      'simulated symbols, comma-separated or repeated (default: 60+ crypto, US stock and forex symbols)',
      (v: string, prev: string[] = []) => [
        ...prev,
        ...v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      ],
      [],
    )
    .option(
      '-r, --rate <n>',
      'trades per second per connection (0 = as fast as the client reads)',
      nonNegativeNumber,
      SIMULATOR_DEFAULTS.rate,
    )
    .option('--seed <n>', 'random seed: the same seed gives the same trades', integer, SIMULATOR_DEFAULTS.seed)
    .option(
      '--symbol-limit <n>',
      'subscriptions allowed per connection (past it: {"type":"error","msg":"Subscribing to too many symbols"})',
      positiveInt,
      SIMULATOR_DEFAULTS.symbolLimit,
    )
    .option(
      '--token <token>',
      'accept only this token (repeatable; default: any non-empty token). Use a made-up token, not a real key',
      collect,
      [],
    )
    .option('--ping-interval <duration>', 'heartbeat period', parseDuration, SIMULATOR_DEFAULTS.pingIntervalMs)
    .option('--max-trades <n>', 'stop sending trades to a connection after this many (pings continue)', positiveInt)
    .option(
      '--rest-limit <n>',
      'REST calls allowed per token per minute (HTTP 429 past it)',
      positiveInt,
      SIMULATOR_DEFAULTS.restLimitPerMinute,
    )
    .option('--drop-every <duration>', 'fault: drop every connection this often (e.g. 10s)', parseDuration)
    .option('--no-ping', 'fault: never send {"type":"ping"}')
    .option('--malformed <fraction>', 'fault: fraction of trade frames replaced by malformed ones (0..1)', fraction, 0)
    .option('--hide-from-search <symbol>', 'fault: symbol that REST /search never returns (repeatable)', collect, [])
    .addHelpText(
      'after',
      `
Examples:
  $ finpipe simulate
  $ finpipe simulate --port 9000 --symbols BINANCE:BTCUSDT,AAPL --rate 5000 --seed 7
  $ finpipe simulate --drop-every 30s --malformed 0.01 --no-ping     # a misbehaving service
It prints the produce command to run against it.`,
    )
    .action(async (flags: SimulateFlags, command: Command) => {
      const { runSimulateCommand } = await import('../actions/simulate');
      await runSimulateCommand(globalOptions(command), flags);
    });
}
