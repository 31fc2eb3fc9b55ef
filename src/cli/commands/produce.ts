import { Command, InvalidArgumentError, Option } from 'commander';
import { withMetricsOptions } from './metrics-options';
import { globalOptions, parseDuration, positiveInt } from './options';
import type { ProduceFlags } from '../actions/produce';
import { PRODUCE_DEFAULTS } from '../../core/produce/options';

const MiB = 1024 * 1024;

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`"${value}" is not a port (0-65535).`);
  return n;
}

/** A duration checked now (usage error, exit 2) but passed on as written: the setting parses it with its env form. */
function duration(value: string): string {
  parseDuration(value);
  return value;
}

/** `finpipe produce`: Finnhub websocket (or a recorded file, or HTTP) -> Avro -> the raw topic. */
export function produceCommand(): Command {
  return withMetricsOptions(new Command('produce'))
    .description('Finnhub websocket trades -> Avro -> the raw Kafka topic (invalid input -> dead-letter topic)')
    .argument('[symbols...]', 'Finnhub symbols to subscribe to, e.g. BINANCE:BTCUSDT AAPL "IC MARKETS:1"')
    .option('--url <ws-url>', 'Finnhub websocket URL (env FINNHUB_WS_URL; default wss://ws.finnhub.io). The token comes from FINNHUB_TOKEN')
    .option(
      '--rest-url <url>',
      "Finnhub REST base URL for --validate (env FINNHUB_REST_URL; default: derived from --url when it is not Finnhub's)",
    )
    .option('-t, --topic <name>', 'raw topic (env FINPIPE_RAW_TOPIC, default "trades"); created with --partitions if missing')
    .option('--dlq-topic <name>', 'dead-letter topic (env FINPIPE_DLQ_TOPIC, default "finpipe.dlq")')
    .option('--validate', "check every symbol with Finnhub's REST API first (at most 60 calls/min) and refuse unknown ones", false)
    .option(
      '--symbol-limit <n>',
      'most symbols one connection may subscribe to (Finnhub free tier: 50)',
      positiveInt,
      PRODUCE_DEFAULTS.symbolLimit,
    )
    .option(
      '--watchdog <duration>',
      'reconnect when no frame (trade or ping) arrived for this long',
      parseDuration,
      PRODUCE_DEFAULTS.watchdogMs,
    )
    .option('--from-file <path>', 'replay recorded frames (NDJSON, one frame per line) instead of connecting')
    .option('--record <path>', 'also append every frame received to this NDJSON file (replay it with --from-file)')
    .addOption(new Option('--http <port>', 'accept POST /trades (JSON array of trades) on this port instead of connecting').argParser(port))
    .option('--http-host <host>', 'address for --http (0.0.0.0 = every interface)', PRODUCE_DEFAULTS.httpHost)
    .option('-p, --partitions <n>', 'partitions of the raw topic when it has to be created', positiveInt, PRODUCE_DEFAULTS.partitions)
    .option(
      '--batch-messages <n>',
      'send to Kafka once this many messages are pending',
      positiveInt,
      PRODUCE_DEFAULTS.batching.maxBatchMessages,
    )
    .option('--linger <duration>', 'longest a message waits for others to fill a batch', parseDuration, PRODUCE_DEFAULTS.batching.lingerMs)
    .option(
      '--max-buffer <MiB>',
      'memory bound: MiB received but not yet acknowledged; past it reading pauses',
      positiveInt,
      PRODUCE_DEFAULTS.batching.maxBufferedBytes / MiB,
    )
    .option('--max-trades <n>', 'stop (flush, summary, exit 0) after at least this many trades', positiveInt)
    .addOption(
      new Option(
        '--max-future <duration>',
        "dead-letter trades whose time is more than this ahead of this machine's clock (env FINPIPE_MAX_FUTURE, default 1m)",
      ).argParser(duration),
    )
    .option(
      '--stats-interval <duration>',
      'how often to log JSON stats when not on a terminal',
      parseDuration,
      PRODUCE_DEFAULTS.statsIntervalMs,
    )
    .addHelpText(
      'after',
      `
Token: FINNHUB_TOKEN (env or .env) is sent to Finnhub and never printed. A local simulator
(a 127.0.0.1/localhost URL) accepts any token, so none is needed there.

Examples:
  $ FINNHUB_TOKEN=... finpipe produce BINANCE:BTCUSDT BINANCE:ETHUSDT AAPL --validate
  $ finpipe simulate &     # then:
  $ FINNHUB_WS_URL=ws://127.0.0.1:8765 finpipe produce BINANCE:BTCUSDT BINANCE:ETHUSDT
  $ finpipe produce --url ws://127.0.0.1:8765 BINANCE:BTCUSDT --record today.ndjson
  $ finpipe produce --from-file today.ndjson
  $ finpipe produce --http 8080    # curl -H 'Content-Type: application/json' -d '[{"s":"AAPL","p":190.1,"t":1718000000000,"v":5}]' localhost:8080/trades`,
    )
    .action(async (symbols: string[], flags: ProduceFlags, command: Command) => {
      const { runProduceCommand } = await import('../actions/produce');
      await runProduceCommand(globalOptions(command), symbols, flags);
    });
}
