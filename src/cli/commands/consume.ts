import { Command, InvalidArgumentError, Option } from 'commander';
import { parseOffsetSpec } from '../../core/consume/offset-spec';
import type { ConsumeFlags } from '../actions/consume';
import { globalOptions, positiveInt } from './options';

/** --offset: checked while parsing, so a bad spec is a usage error before anything connects. */
function offsetSpec(value: string): string {
  try {
    parseOffsetSpec(value);
  } catch (error) {
    throw new InvalidArgumentError(`${(error as Error).message}.`);
  }
  return value;
}

/** --partition 0 --partition 2, or --partition 0,2. */
function partitions(value: string, previous: number[] = []): number[] {
  const parsed = value.split(',').map((p) => {
    if (!/^\d+$/.test(p.trim())) throw new InvalidArgumentError(`"${p}" is not a partition number.`);
    return Number(p.trim());
  });
  return [...previous, ...parsed];
}

const HELP_AFTER = `
Decodes whatever finpipe writes: the raw topic's Finnhub messages, per-symbol Trade and
Candle records (told apart by the finpipe.type header), late trades, dead letters
(reason, stage and source from their headers, the original bytes as text or base64), and
process's <group>-state changelogs (JSON).
A record it cannot decode is printed as "undecodable" with the reason and its bytes in
base64; reading goes on. A value in the Schema Registry wire format (byte 0, a 4-byte
schema id, Avro) is decoded with its writer's schema when --schema-registry (or
FINPIPE_SCHEMA_REGISTRY_URL) is set, and reported as framed with its schema id otherwise.

Reads with read_committed isolation, like process and sink: records of aborted
transactions and transaction markers are never shown, and without --follow it stops at
the last stable offsets seen at start. It joins no group that commits: a private group
that commits nothing is used and deleted at the end (finpipe groups list shows none).

--offset: start (default) | end | <n> (that offset) | -<n> (the last n offsets of each
partition) | @<time> (first record at or after it: @2024-06-10T12:00:00Z, @1718020800000,
@-15m).

Examples:
  $ finpipe consume BINANCE_BTCUSDT --num 10
  $ finpipe consume trades --offset -5 --partition 0 --key
  $ finpipe consume finpipe.dlq --headers --format json | jq .value.reason
  $ finpipe consume BINANCE_BTCUSDT --offset @-10m --follow`;

export function consumeCommand(): Command {
  return new Command('consume')
    .description('print the records of a topic, decoded (like rpk topic consume / kcat -C)')
    .argument('<topic>', 'topic to read')
    .option('-o, --offset <spec>', 'where to start: start|end|<n>|-<n>|@<time>', offsetSpec, 'start')
    .option('-p, --partition <n>', 'read only these partitions (repeatable, or comma-separated)', partitions)
    .option('-n, --num <n>', 'stop after this many records', positiveInt)
    .option('-f, --follow', 'keep reading new records until Ctrl-C (default: stop at the end offsets seen at start)', false)
    .option('--key', 'show record keys', false)
    .option('--headers', 'show every record header', false)
    .addOption(
      new Option('--format <format>', 'output format (default: table on a terminal, json otherwise)').choices(['json', 'table', 'raw']),
    )
    .addHelpText('after', HELP_AFTER)
    .action(async (topic: string, opts: ConsumeFlags, command: Command) => {
      const { runConsume } = await import('../actions/consume');
      await runConsume(globalOptions(command), topic, opts);
    });
}
