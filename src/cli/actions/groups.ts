import chalk from 'chalk';
import { createContext, type GlobalOptions } from '../context';
import { withAdmin } from '../../core/kafka/admin';
import { deleteGroups, describeGroup, listGroups } from '../../core/groups';
import { applyReset, committedTopics, planReset, targetLabel, type ResetTarget } from '../../core/groups/reset';
import { assertTopicName } from '../../core/symbols';
import { formatTable } from './table';

type Format = 'table' | 'json';

/** Data on stdout: a table on a terminal, JSON otherwise or with --format json. */
function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

function formatOf(opts: { format?: Format }): Format {
  return opts.format ?? (process.stdout.isTTY ? 'table' : 'json');
}

const dash = (n: number | null) => (n === null ? '-' : String(n));

export async function runGroupsList(global: GlobalOptions, opts: { format?: Format }): Promise<void> {
  const { config, logger } = createContext(global, 'groups');
  const groups = await withAdmin(config.kafka, logger, listGroups);
  if (formatOf(opts) === 'json') return print(JSON.stringify(groups, null, 2));
  if (groups.length === 0) return print('no consumer groups');
  print(
    formatTable([['GROUP', 'STATE', 'MEMBERS', 'FINPIPE'], ...groups.map((g) => [g.groupId, g.state, String(g.members), g.finpipe ?? ''])]),
  );
}

export async function runGroupsDescribe(global: GlobalOptions, groupId: string, opts: { format?: Format }): Promise<void> {
  const { config, logger } = createContext(global, 'groups');
  const d = await withAdmin(config.kafka, logger, (admin) => describeGroup(admin, groupId));
  if (formatOf(opts) === 'json') return print(JSON.stringify(d, null, 2));
  const role = d.finpipe ? `  (finpipe ${d.finpipe})` : '';
  print(`${chalk.bold('group')} ${d.groupId}  ${d.state}, ${d.members} member(s), total lag ${d.totalLag}${role}\n`);
  if (d.memberList.length > 0) {
    print(
      formatTable([
        ['MEMBER', 'CLIENT-ID', 'HOST', 'ASSIGNED'],
        ...d.memberList.map((m) => [
          m.memberId,
          m.clientId,
          m.host,
          m.assignment.map((a) => `${a.topic}[${a.partitions.join(',')}]`).join(' '),
        ]),
      ]),
    );
    print('');
  }
  if (d.partitions.length === 0) return print('no committed offsets');
  print(
    formatTable([
      ['TOPIC', 'PARTITION', 'COMMITTED', 'END', 'LAG', 'CLIENT-ID'],
      ...d.partitions.map((p) => [p.topic, String(p.partition), dash(p.committed), String(p.end), String(p.lag), p.clientId ?? '-']),
    ]),
  );
}

export async function runGroupsReset(
  global: GlobalOptions,
  groupId: string,
  opts: { topics: string[]; target: ResetTarget; dryRun: boolean; format?: Format },
): Promise<void> {
  opts.topics.forEach(assertTopicName);
  const { config, logger } = createContext(global, 'groups');
  const rows = await withAdmin(config.kafka, logger, async (admin) => {
    const topics = opts.topics.length > 0 ? opts.topics : await committedTopics(admin, groupId);
    const plan = await planReset(admin, groupId, topics, opts.target);
    if (!opts.dryRun) await applyReset(admin, groupId, plan);
    return plan;
  });
  if (formatOf(opts) === 'json') return print(JSON.stringify({ groupId, dryRun: opts.dryRun, partitions: rows }, null, 2));
  const verb = opts.dryRun ? chalk.yellow('dry run: would reset') : chalk.green('reset');
  print(`${verb} ${groupId} to ${targetLabel(opts.target)}\n`);
  print(
    formatTable([
      ['TOPIC', 'PARTITION', 'CURRENT', 'NEW'],
      ...rows.map((r) => [r.topic, String(r.partition), dash(r.current), String(r.target)]),
    ]),
  );
}

export async function runGroupsDelete(global: GlobalOptions, groupIds: string[], opts: { format?: Format }): Promise<void> {
  const { config, logger } = createContext(global, 'groups');
  await withAdmin(config.kafka, logger, (admin) => deleteGroups(admin, groupIds));
  if (formatOf(opts) === 'json') return print(JSON.stringify({ deleted: groupIds }, null, 2));
  for (const id of groupIds) print(`${chalk.red('deleted')} ${id}`);
}
