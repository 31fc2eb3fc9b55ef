import { Command, InvalidArgumentError } from 'commander';
import { withMetricsOptions } from './metrics-options';
import { globalOptions, parseDuration, positiveInt } from './options';
import { SINK_DEFAULTS } from '../../core/sink/options';
import type { SinkFlags } from '../actions/sink';

/** `finpipe sink <topics...>` / `--pattern <regex>`: per-symbol topics -> MySQL. */
export function sinkCommand(): Command {
  return withMetricsOptions(new Command('sink'))
    .description(
      'per-symbol topics -> the store (MySQL, or Cassandra with --store cassandra): tables trades and candles, created when missing',
    )
    .argument('[topics...]', 'per-symbol topics written by finpipe process, e.g. BINANCE_BTCUSDT')
    .option(
      '--pattern <regex>',
      `also read every topic whose whole name matches (e.g. 'BINANCE_.*' or 'AAPL|MSFT'), including ones created later ` +
        `(looked for every ${SINK_DEFAULTS.patternPollMs / 1000} s); Kafka's internal topics, finpipe's raw, dead-letter ` +
        `and late topics and changelogs (*-state) are never read`,
    )
    .option(
      '--mysql-url <url>',
      'mysql://user:password@host:port/database (env FINPIPE_MYSQL_URL; prefer the variable when there is a password: a command line shows in ps)',
    )
    .option('--store <name>', 'where rows go: mysql or cassandra (env FINPIPE_STORE, default mysql)')
    .option('-g, --group <id>', 'consumer group: run more sinks with the same group to share the partitions', SINK_DEFAULTS.groupId)
    .option('--batch-rows <n>', 'write a transaction once this many records are buffered', positiveInt, SINK_DEFAULTS.batchRows)
    .option('--flush <duration>', '...or once the oldest buffered record is this old', durationArg, SINK_DEFAULTS.flushMs)
    .option(
      '--writers <n>',
      'database transactions in flight at once, one connection each (offsets still commit in order)',
      positiveInt,
      SINK_DEFAULTS.writers,
    )
    .option(
      '--session-timeout <duration>',
      'consumer session timeout: how soon the group notices a crashed sink (min 6s on default brokers)',
      durationArg,
      SINK_DEFAULTS.sessionTimeoutMs,
    )
    .addHelpText(
      'after',
      `
Rows go to two shared tables keyed by symbol: trades (one row per trade id) and candles
(one row per symbol, window size and window start, holding the newest version). Offsets are
committed only after the database transaction commits, and every write is an upsert, so a
restart after a crash neither loses nor duplicates rows. Records that cannot be decoded or
that the database refuses go to the dead-letter topic (FINPIPE_DLQ_TOPIC) with the reason.

Examples:
  $ finpipe sink BINANCE_BTCUSDT
  $ finpipe sink --pattern 'BINANCE_.*'
  $ finpipe sink BINANCE_BTCUSDT --store cassandra     (FINPIPE_CASSANDRA_* say where; see the README)
  $ FINPIPE_MYSQL_URL=mysql://root@127.0.0.1:3306/finpipe finpipe sink BINANCE_BTCUSDT BINANCE_ETHUSDT --batch-rows 10000 --flush 2s`,
    )
    .action(async (topics: string[], opts: SinkFlags, command: Command) => {
      const { runSinkCommand } = await import('../actions/sink');
      await runSinkCommand(globalOptions(command), topics, opts);
    });
}

function durationArg(value: string): number {
  const ms = parseDuration(value);
  if (ms < 1) throw new InvalidArgumentError(`"${value}" must be at least 1ms.`);
  return ms;
}
