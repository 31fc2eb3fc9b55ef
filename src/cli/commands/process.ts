import { Command, InvalidArgumentError, Option } from 'commander';
import { PROCESS_DEFAULTS } from '../../core/process/options';
import type { ProcessFlags } from '../actions/process';
import { durationLabel, globalOptions, parseDuration } from './options';

const D = PROCESS_DEFAULTS;

/** `10s,1m` -> [10000, 60000]: distinct, positive, each a whole number of ms. */
export function parseWindows(value: string): number[] {
  const sizes = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(parseDuration);
  if (sizes.length === 0) throw new InvalidArgumentError(`"${value}" lists no window; use e.g. 10s or 1s,10s,1m.`);
  for (const size of sizes) if (size <= 0) throw new InvalidArgumentError(`window sizes must be > 0 (got "${value}").`);
  if (new Set(sizes).size !== sizes.length) throw new InvalidArgumentError(`"${value}" lists a window size twice.`);
  return sizes.sort((a, b) => a - b);
}

function sessionTimeout(value: string): number {
  const ms = parseDuration(value);
  if (ms < 6_000 || ms > 300_000) throw new InvalidArgumentError(`"${value}" is outside what the broker accepts by default (6s to 5m).`);
  return ms;
}

/** `finpipe process`: raw trades -> per-symbol topics with trades and event-time candles, exactly once. */
export function processCommand(): Command {
  return new Command('process')
    .description('raw trades -> per-symbol topics with trades and event-time candles, exactly once')
    .argument('[symbols...]', 'symbols to keep, e.g. BINANCE:BTCUSDT AAPL (default: all)')
    .option('-t, --topic <name>', 'raw topic to read (env FINPIPE_RAW_TOPIC, default "trades")')
    .option('--late-topic <name>', 'topic for trades that missed a closed window (env FINPIPE_LATE_TOPIC, default "trades.late")')
    .option('--dlq-topic <name>', 'dead-letter topic for unusable raw records (env FINPIPE_DLQ_TOPIC, default "finpipe.dlq")')
    .option(
      '-g, --group <id>',
      'consumer group; instances with the same group share the raw partitions. Its state lives in topic <group>-state',
      D.groupId,
    )
    .addOption(
      new Option('-w, --windows <sizes>', 'candle window sizes, comma-separated (epoch-aligned, tumbling)')
        .argParser(parseWindows)
        .default([...D.windows.sizes], D.windows.sizes.map(durationLabel).join(',')),
    )
    .addOption(
      new Option('-l, --lateness <duration>', 'how far behind the newest trade of a symbol a trade may be and still count in its candle')
        .argParser(parseDuration)
        .default(D.windows.latenessMs, durationLabel(D.windows.latenessMs)),
    )
    .addOption(
      new Option(
        '-e, --emit <mode>',
        'update: a new candle version on every change (coalesced per transaction) and a final one when the window closes; final: only when it closes',
      )
        .choices(['update', 'final'])
        .default(D.windows.emit),
    )
    .addOption(
      new Option('--start <where>', 'where a group without committed offsets starts reading')
        .choices(['earliest', 'latest'])
        .default(D.fromBeginning ? 'earliest' : 'latest'),
    )
    .addOption(
      new Option(
        '--session-timeout <duration>',
        "consumer-group session timeout: how soon a crashed instance's partitions move to the others",
      )
        .argParser(sessionTimeout)
        .default(D.sessionTimeoutMs, durationLabel(D.sessionTimeoutMs)),
    )
    .addOption(
      new Option('--stats-interval <duration>', 'how often to log JSON stats when not on a terminal')
        .argParser(parseDuration)
        .default(D.statsIntervalMs, durationLabel(D.statsIntervalMs)),
    )
    .addHelpText(
      'after',
      `
Output: one topic per symbol (BINANCE:BTCUSDT -> BINANCE_BTCUSDT, created with 1 partition),
key = symbol, header finpipe.type = trade | candle, Avro finpipe.Trade / finpipe.Candle.
Run more instances with the same --group to share the work; kill -9 is safe.

Examples:
  $ finpipe process
  $ finpipe process BINANCE:BTCUSDT BINANCE:ETHUSDT --windows 1s,10s,1m
  $ finpipe process --emit final --lateness 30s --group candles-final`,
    )
    .action(async (symbols: string[], flags: ProcessFlags, command: Command) => {
      const { runProcessCommand } = await import('../actions/process');
      await runProcessCommand(globalOptions(command), symbols, flags);
    });
}
