import { Command, InvalidArgumentError, Option } from 'commander';
import { withMetricsOptions } from './metrics-options';
import { LIMITS } from '../../core/limits';
import { PROCESS_DEFAULTS } from '../../core/process/options';
import { topicPrefixProblem } from '../../core/process/output-topics';
import type { ProcessFlags } from '../actions/process';
import { durationLabel, globalOptions, parseDuration } from './options';

const D = PROCESS_DEFAULTS;

/**
 * `10s,1m` -> [10000, 60000]: distinct, positive, each a whole number of ms, and at most
 * LIMITS.windowMaxMs (candles.window_ms is INT UNSIGNED: a larger window's every candle
 * would be refused by the sink).
 */
export function parseWindows(value: string): number[] {
  const sizes = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(parseDuration);
  if (sizes.length === 0) throw new InvalidArgumentError(`"${value}" lists no window; use e.g. 10s or 1s,10s,1m.`);
  for (const size of sizes) if (size <= 0) throw new InvalidArgumentError(`window sizes must be > 0 (got "${value}").`);
  for (const size of sizes)
    if (size > LIMITS.windowMaxMs)
      throw new InvalidArgumentError(
        `window size ${durationLabel(size)} is larger than ${LIMITS.windowMaxMs} ms (about 49.7 days), ` +
          'the largest window_ms the stores hold; use e.g. 1h or 24h.',
      );
  if (new Set(sizes).size !== sizes.length) throw new InvalidArgumentError(`"${value}" lists a window size twice.`);
  return sizes.sort((a, b) => a - b);
}

/** --topic-prefix: a legal start of topic names, with room left for the longest symbol. */
export function parseTopicPrefix(value: string): string {
  const problem = topicPrefixProblem(value);
  if (problem) throw new InvalidArgumentError(`"${value}" cannot start topic names: ${problem}.`);
  return value;
}

/** --max-future: how far ahead of the wall clock a trade's time may be. */
function maxFuture(value: string): string {
  const ms = parseDuration(value);
  if (ms <= 0) throw new InvalidArgumentError(`"${value}" must be > 0: trades stamped a moment ahead (clock skew) are normal.`);
  return value; // as written: the setting limits.maxFuture parses it, like FINPIPE_MAX_FUTURE
}

function sessionTimeout(value: string): number {
  const ms = parseDuration(value);
  if (ms < 6_000 || ms > 300_000) throw new InvalidArgumentError(`"${value}" is outside what the broker accepts by default (6s to 5m).`);
  return ms;
}

const HELP_AFTER = `
Output: one topic per symbol (BINANCE:BTCUSDT -> BINANCE_BTCUSDT, created with 1 partition),
key = symbol, header finpipe.type = trade | candle, Avro finpipe.Trade / finpipe.Candle.
Run more instances with the same --group to share the work; kill -9 is safe.
A trade that cannot be processed (a symbol with no valid topic, or one mapping onto finpipe's
own or Kafka's internal topics, a time outside the limits or beyond --max-future) goes to
the dead-letter topic with the reason; the rest goes on.

Examples:
  $ finpipe process
  $ finpipe process BINANCE:BTCUSDT BINANCE:ETHUSDT --windows 1s,10s,1m
  $ finpipe process --emit final --lateness 30s --group candles-final --topic-prefix final-
  $ finpipe sink --pattern 'final-.*'     # the second configuration's candles`;

/** `finpipe process`: raw trades -> per-symbol topics with trades and event-time candles, exactly once. */
export function processCommand(): Command {
  return withMetricsOptions(new Command('process'))
    .description('raw trades -> per-symbol topics with trades and event-time candles, exactly once')
    .argument('[symbols...]', 'symbols to keep, e.g. BINANCE:BTCUSDT AAPL (default: all)')
    .option('-t, --topic <name>', 'raw topic to read (env FINPIPE_RAW_TOPIC, default "trades")')
    .option('--late-topic <name>', 'topic for trades that missed a closed window (env FINPIPE_LATE_TOPIC, default "trades.late")')
    .option('--dlq-topic <name>', 'dead-letter topic for unusable raw records (env FINPIPE_DLQ_TOPIC, default "finpipe.dlq")')
    .option(
      '-g, --group <id>',
      'consumer group; instances with the same group share the raw partitions. Its state lives in topic <group>-state ' +
        `(default: "${D.groupId}" for the raw topic "trades", "${D.groupId}-<raw topic>" for any other)`,
    )
    .addOption(
      new Option(
        '--topic-prefix <prefix>',
        'prepended to every symbol topic (final- -> final-BINANCE_BTCUSDT): keeps the output of two configurations apart',
      )
        .argParser(parseTopicPrefix)
        .default(D.topicPrefix, 'none'),
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
      new Option(
        '--max-future <duration>',
        "how far ahead of the wall clock a trade's time may be; later trades are dead-lettered (they would move the watermark for ever) " +
          `(env FINPIPE_MAX_FUTURE, default ${durationLabel(D.maxFutureMs)})`,
      ).argParser(maxFuture),
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
    .addHelpText('after', HELP_AFTER)
    .action(async (symbols: string[], flags: ProcessFlags, command: Command) => {
      const { runProcessCommand } = await import('../actions/process');
      await runProcessCommand(globalOptions(command), symbols, flags);
    });
}
