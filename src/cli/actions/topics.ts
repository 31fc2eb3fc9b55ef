import chalk from 'chalk';
import { createContext, type GlobalOptions } from '../context';
import { withAdmin } from '../../core/kafka/admin';
import { createTopics, deleteTopics, describeTopic, listTopics } from '../../core/kafka/topics';
import { RegistryClient } from '../../core/serde/registry';
import { registerTopicSubjects, type RegisteredSubject } from '../../core/serde/registry/topic-subjects';
import { assertTopicName } from '../../core/symbols';
import { formatTable as table } from './table';

/** Output of the topics commands: data on stdout (table or JSON), logs on stderr. */
function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

export async function runTopicsCreate(
  global: GlobalOptions,
  opts: { names: string[]; partitions: number; replicationFactor: number; configs: Record<string, string> },
): Promise<void> {
  const { config, logger } = createContext(global, 'topics');
  const names = opts.names.length > 0 ? opts.names : [config.topics.raw];
  names.forEach(assertTopicName); // before connecting: a bad name is a usage error
  // With a registry, the subjects first: an incompatible schema stops here, before any topic exists.
  const registered = config.schemaRegistry
    ? await registerTopicSubjects(new RegistryClient(config.schemaRegistry), config.topics, names)
    : null;
  const results = await withAdmin(config.kafka, logger, (admin) =>
    createTopics(
      admin,
      names.map((name) => ({ name, partitions: opts.partitions, replicationFactor: opts.replicationFactor, configs: opts.configs })),
    ),
  );
  for (const r of results) {
    print(
      r.status === 'created'
        ? `${chalk.green('created')} ${r.name} (${r.partitions} partitions)`
        : `${chalk.dim('exists ')} ${r.name} (${r.partitions} partitions)`,
    );
    if (registered) print(schemaLine(r.name, registered, config.topics.deadLetter));
  }
}

/** What `topics create --schema-registry` did about a topic's schema. */
function schemaLine(topic: string, registered: RegisteredSubject[], deadLetter: string): string {
  const mine = registered.filter((s) => s.topic === topic);
  if (mine.length > 0) return mine.map((s) => `  ${chalk.green('schema')} ${s.subject} (id ${s.id})`).join('\n');
  const why =
    topic === deadLetter
      ? 'dead letters keep the bytes they were refused with'
      : 'not the raw or late-trades topic; a per-symbol topic gets its subjects from finpipe process';
  return `  ${chalk.dim('schema')} none registered (${why})`;
}

export async function runTopicsList(global: GlobalOptions, opts: { format: 'table' | 'json'; all: boolean }): Promise<void> {
  const { config, logger } = createContext(global, 'topics');
  const topics = await withAdmin(config.kafka, logger, (admin) => listTopics(admin, { includeInternal: opts.all }));
  if (opts.format === 'json') return print(JSON.stringify(topics, null, 2));
  if (topics.length === 0) return print('no topics');
  print(table([['TOPIC', 'PARTITIONS', 'REPLICATION'], ...topics.map((t) => [t.name, String(t.partitions), String(t.replicationFactor)])]));
}

export async function runTopicsDescribe(global: GlobalOptions, name: string, opts: { format: 'table' | 'json' }): Promise<void> {
  const { config, logger } = createContext(global, 'topics');
  assertTopicName(name);
  const d = await withAdmin(config.kafka, logger, (admin) => describeTopic(admin, name));
  if (opts.format === 'json') return print(JSON.stringify(d, null, 2));
  print(`${chalk.bold('topic')} ${d.name}  ${d.partitions.length} partitions\n`);
  print(
    table([
      ['PARTITION', 'LEADER', 'REPLICAS', 'ISR'],
      ...d.partitions.map((p) => [String(p.partition), String(p.leader), p.replicas.join(','), p.isr.join(',')]),
    ]),
  );
  const overrides = d.configs.filter((c) => !c.isDefault);
  print(`\n${chalk.bold('configs')} (${overrides.length} set on the topic, ${d.configs.length - overrides.length} broker defaults)`);
  print(table([['NAME', 'VALUE', 'SOURCE'], ...d.configs.map((c) => [c.name, c.value ?? '', c.isDefault ? 'default' : 'topic'])]));
}

export async function runTopicsDelete(global: GlobalOptions, names: string[]): Promise<void> {
  const { config, logger } = createContext(global, 'topics');
  names.forEach(assertTopicName);
  await withAdmin(config.kafka, logger, (admin) => deleteTopics(admin, names));
  for (const name of names) print(`${chalk.red('deleted')} ${name}`);
}
