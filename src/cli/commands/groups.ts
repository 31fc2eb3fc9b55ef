import { Command, InvalidArgumentError, Option } from 'commander';
import { FinpipeError } from '../../core/errors';
import { parseLookback, parseTimestamp } from '../../core/kafka/time-spec';
import type { ResetTarget } from '../../core/groups/reset';
import { collect, globalOptions } from './options';

type Format = 'table' | 'json';

const formatOption = () =>
  new Option('--format <format>', 'output format (default: table on a terminal, json otherwise)').choices(['table', 'json']);

function datetime(value: string): number {
  try {
    return parseTimestamp(value);
  } catch (error) {
    throw new InvalidArgumentError(`${(error as Error).message}.`);
  }
}

function duration(value: string): number {
  try {
    return parseLookback(value);
  } catch (error) {
    throw new InvalidArgumentError(`${(error as Error).message}.`);
  }
}

interface ResetFlags {
  topic: string[];
  allTopics: boolean;
  toEarliest: boolean;
  toLatest: boolean;
  toDatetime?: number;
  byDuration?: number;
  dryRun: boolean;
  format?: Format;
}

/** Exactly one of --to-earliest, --to-latest, --to-datetime, --by-duration. */
function resetTarget(flags: ResetFlags, now = Date.now()): ResetTarget {
  const given: ResetTarget[] = [];
  if (flags.toEarliest) given.push({ kind: 'earliest' });
  if (flags.toLatest) given.push({ kind: 'latest' });
  if (flags.toDatetime !== undefined) given.push({ kind: 'timestamp', timestamp: flags.toDatetime });
  if (flags.byDuration !== undefined) given.push({ kind: 'timestamp', timestamp: now - flags.byDuration });
  if (given.length !== 1)
    throw new FinpipeError('USAGE', `give exactly one of --to-earliest, --to-latest, --to-datetime, --by-duration (got ${given.length})`, {
      hint: 'e.g. finpipe groups reset-offsets finpipe-sink --topic BINANCE_BTCUSDT --to-earliest --dry-run',
    });
  if (flags.topic.length === 0 && !flags.allTopics)
    throw new FinpipeError('USAGE', 'name the topics to reset with --topic (repeatable) or --all-topics', {
      hint: '--all-topics takes every topic the group has committed offsets for',
    });
  return given[0];
}

/** `finpipe groups list|describe|reset-offsets|delete` — like rpk group / kafka-consumer-groups.sh. */
export function groupsCommand(): Command {
  const groups = new Command('groups').description('list, describe, reset and delete consumer groups');

  groups
    .command('list')
    .description("consumer groups with state and members; finpipe's own groups are marked")
    .addOption(formatOption())
    .addHelpText('after', "\nExamples:\n  $ finpipe groups list\n  $ finpipe groups list --format json | jq '.[] | select(.finpipe)'")
    .action(async (opts: { format?: Format }, command: Command) => {
      const { runGroupsList } = await import('../actions/groups');
      await runGroupsList(globalOptions(command), opts);
    });

  groups
    .command('describe')
    .description('members, and per partition the committed offset, end offset and lag')
    .argument('<group>', 'group id')
    .addOption(formatOption())
    .addHelpText(
      'after',
      '\nEnd offsets are last stable offsets (read_committed), as finpipe reads.\n\nExamples:\n  $ finpipe groups describe finpipe-sink',
    )
    .action(async (group: string, opts: { format?: Format }, command: Command) => {
      const { runGroupsDescribe } = await import('../actions/groups');
      await runGroupsDescribe(globalOptions(command), group, opts);
    });

  groups
    .command('reset-offsets')
    .description("move a group's committed offsets (refused while the group has active members)")
    .argument('<group>', 'group id')
    .option('-t, --topic <name>', 'topic to reset (repeatable)', collect, [])
    .option('--all-topics', 'every topic the group has committed offsets for', false)
    .option('--to-earliest', 'to the oldest retained record', false)
    .option('--to-latest', 'to the end (skip everything written so far)', false)
    .option('--to-datetime <time>', 'to the first record at or after this time (ISO-8601, epoch ms, or -15m)', datetime)
    .option('--by-duration <duration>', 'to the first record at or after now minus this (1h, 30m, 2d, PT1H)', duration)
    .option('--dry-run', 'print the plan, change nothing', false)
    .addOption(formatOption())
    .addHelpText(
      'after',
      "\nStop the group's consumers first: a running member would overwrite the reset at its next commit.\n" +
        "A process group's window state is saved per committed offset (<group>-state): to reprocess, prefer a new --group.\n\n" +
        'Examples:\n  $ finpipe groups reset-offsets finpipe-sink --topic BINANCE_BTCUSDT --to-earliest --dry-run\n' +
        '  $ finpipe groups reset-offsets finpipe-sink --all-topics --by-duration 1h',
    )
    .action(async (group: string, flags: ResetFlags, command: Command) => {
      const target = resetTarget(flags);
      const { runGroupsReset } = await import('../actions/groups');
      await runGroupsReset(globalOptions(command), group, { topics: flags.topic, target, dryRun: flags.dryRun, format: flags.format });
    });

  groups
    .command('delete')
    .description('delete groups and their committed offsets (refused while a group has active members)')
    .argument('<groups...>', 'group ids')
    .addOption(formatOption())
    .addHelpText('after', '\nExamples:\n  $ finpipe groups delete my-old-group')
    .action(async (ids: string[], opts: { format?: Format }, command: Command) => {
      const { runGroupsDelete } = await import('../actions/groups');
      await runGroupsDelete(globalOptions(command), ids, opts);
    });

  return groups;
}
