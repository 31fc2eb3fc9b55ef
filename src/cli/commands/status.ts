import { Command, Option } from 'commander';
import { globalOptions } from './options';

export function statusCommand(): Command {
  return new Command('status')
    .description('services, topics, consumer-group lag and the latest trade and candle per symbol')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'json']).default('table'))
    .addHelpText(
      'after',
      '\nExits 1 when Kafka or MySQL is unreachable, so it doubles as a health check.\n\n' +
        "Examples:\n  $ finpipe status\n  $ finpipe status --format json | jq '.groups[] | {groupId, totalLag}'",
    )
    .action(async (opts: { format: 'table' | 'json' }, command: Command) => {
      const { runStatus } = await import('../actions/status');
      await runStatus(globalOptions(command), opts);
    });
}
