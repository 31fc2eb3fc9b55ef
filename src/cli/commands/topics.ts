import { Command, Option } from 'commander';
import { FinpipeError } from '../../core/errors';
import { collect, globalOptions, positiveInt } from './options';

/** `finpipe topics create|list|describe|delete` — like kafka-topics.sh / rpk topic. */
export function topicsCommand(): Command {
  const topics = new Command('topics').description('create, list, describe and delete Kafka topics');

  topics
    .command('create')
    .description('create topics idempotently (default: the raw trades topic)')
    .argument('[names...]', 'topic names (default: FINPIPE_RAW_TOPIC, "trades")')
    .option('-p, --partitions <n>', 'partitions per topic', positiveInt, 6)
    .option('-r, --replication-factor <n>', 'replicas per partition', positiveInt, 1)
    .option('-c, --config <key=value>', 'topic config, repeatable (e.g. retention.ms=86400000)', collect, [])
    .addHelpText(
      'after',
      '\nWith --schema-registry (or FINPIPE_SCHEMA_REGISTRY_URL), the subjects of the raw and late-trades topics\n' +
        "are registered first, after the registry's compatibility check (an incompatible schema: no topic is created).\n" +
        'Per-symbol topics get theirs from `finpipe process`.\n' +
        '\nExamples:\n  $ finpipe topics create\n  $ finpipe topics create BINANCE_BTCUSDT --partitions 1 --config retention.ms=604800000\n' +
        '  $ finpipe topics create trades trades.late --schema-registry http://127.0.0.1:8081/apis/ccompat/v7',
    )
    .action(async (names: string[], opts: { partitions: number; replicationFactor: number; config: string[] }, command: Command) => {
      const configs = parseConfigs(opts.config);
      const { runTopicsCreate } = await import('../actions/topics');
      await runTopicsCreate(globalOptions(command), {
        names,
        partitions: opts.partitions,
        replicationFactor: opts.replicationFactor,
        configs,
      });
    });

  topics
    .command('list')
    .description('list topics with partition counts')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'json']).default('table'))
    .option('-a, --all', 'include internal topics (__consumer_offsets, ...)', false)
    .addHelpText(
      'after',
      '\nExamples:\n  $ finpipe topics list\n  $ finpipe topics list --format json | jq \'.[] | select(.name == "trades")\'',
    )
    .action(async (opts: { format: 'table' | 'json'; all: boolean }, command: Command) => {
      const { runTopicsList } = await import('../actions/topics');
      await runTopicsList(globalOptions(command), opts);
    });

  topics
    .command('describe')
    .description('partitions (leader, replicas, in-sync replicas) and configs of a topic')
    .argument('<name>', 'topic name')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'json']).default('table'))
    .addHelpText('after', '\nExamples:\n  $ finpipe topics describe trades\n  $ finpipe topics describe BINANCE_BTCUSDT --format json')
    .action(async (name: string, opts: { format: 'table' | 'json' }, command: Command) => {
      const { runTopicsDescribe } = await import('../actions/topics');
      await runTopicsDescribe(globalOptions(command), name, opts);
    });

  topics
    .command('delete')
    .description('delete topics and all their records (requires --yes)')
    .argument('<names...>', 'topic names')
    .option('-y, --yes', 'really delete', false)
    .addHelpText('after', '\nExamples:\n  $ finpipe topics delete BINANCE_BTCUSDT --yes')
    .action(async (names: string[], opts: { yes: boolean }, command: Command) => {
      if (!opts.yes) {
        throw new FinpipeError('USAGE', `refusing to delete ${names.join(', ')} without --yes`, {
          hint: 'deleting a topic destroys its records; add --yes if you mean it',
        });
      }
      const { runTopicsDelete } = await import('../actions/topics');
      await runTopicsDelete(globalOptions(command), names);
    });

  return topics;
}

function parseConfigs(pairs: string[]): Record<string, string> {
  const configs: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new FinpipeError('USAGE', `--config "${pair}" is not key=value`, { hint: 'e.g. --config retention.ms=86400000' });
    configs[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return configs;
}
