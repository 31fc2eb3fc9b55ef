import chalk from 'chalk';
import { createContext, type GlobalOptions } from '../context';
import { collectStatus, type PipelineStatus, type StoreService } from '../../core/status';
import { FinpipeError } from '../../core/errors';
import { formatTable } from './table';

export async function runStatus(global: GlobalOptions, opts: { format: 'table' | 'json' }): Promise<void> {
  const { config, logger } = createContext(global, 'status');
  const status = await collectStatus(config, logger);
  if (opts.format === 'json') {
    process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
  } else {
    const { kafka } = status.services;
    const db = storeService(status);
    const up = (ok: boolean) => (ok ? chalk.green('up  ') : chalk.red('DOWN'));
    const out: string[] = [chalk.bold('services')];
    out.push(
      `  kafka  ${up(kafka.reachable)}  ${kafka.brokers.join(',')}` +
        (kafka.reachable ? `  ${kafka.brokerCount} broker(s), cluster ${kafka.clusterId}` : `  ${kafka.error}`),
    );
    out.push(
      `  ${status.store}  ${up(db.reachable)}  ${db.host}:${db.port}/${db.database}${db.reachable ? `  ${db.version}` : `  ${db.error}`}`,
    );
    if (status.topics.length)
      out.push(
        '',
        chalk.bold('topics'),
        indent(
          formatTable([
            ['TOPIC', 'PARTITIONS', 'RECORDS'],
            ...status.topics.map((t) => [t.name, String(t.partitions), String(t.messages)]),
          ]),
        ),
      );
    if (status.groups.length) {
      out.push('', chalk.bold('consumer groups'));
      for (const g of status.groups) {
        out.push(`  ${g.groupId}  ${g.state}, ${g.members} member(s), total lag ${g.totalLag}`);
        if (g.partitions.length)
          out.push(
            indent(
              formatTable([
                ['TOPIC', 'PARTITION', 'COMMITTED', 'END', 'LAG'],
                ...g.partitions.map((p) => [
                  p.topic,
                  String(p.partition),
                  p.committed === null ? '-' : String(p.committed),
                  String(p.end),
                  String(p.lag),
                ]),
              ]),
              4,
            ),
          );
      }
    }
    if (status.symbols.length)
      out.push(
        '',
        chalk.bold(`symbols (${STORE_LABELS[status.store] ?? status.store})`),
        indent(
          formatTable([
            ['SYMBOL', 'TRADES', 'LAST TRADE (UTC)', 'LAST CANDLE END (UTC)'],
            ...status.symbols.map((s) => [s.symbol, String(s.trades), s.lastTrade ?? '-', s.lastCandle ?? '-']),
          ]),
        ),
      );
    process.stdout.write(`${out.join('\n')}\n`);
  }
  if (!status.ok) throw statusError(status);
}

/** What is wrong, and what to do about it: start a service that is down, fix credentials a service refused. */
const STORE_LABELS: Record<string, string> = { mysql: 'MySQL', cassandra: 'Cassandra' };

function storeService(status: PipelineStatus): StoreService {
  return status.services[status.store as 'mysql' | 'cassandra']!;
}

function statusError(status: PipelineStatus): FinpipeError {
  const { kafka } = status.services;
  if (status.store === 'cassandra') return cassandraStatusError(status);
  const mysql = storeService(status);
  const problems: string[] = [];
  const hints: string[] = [];
  if (!kafka.reachable) {
    problems.push('Kafka unreachable');
    hints.push(`start Kafka (from a checkout: \`npm run services:up\`) or check FINPIPE_KAFKA_BROKERS / --brokers`);
  }
  if (mysql.refused) {
    problems.push(mysql.error ?? 'MySQL refused the connection'); // "MySQL at host:port refused: Access denied ..."
    hints.push(mysql.hint ?? 'check the user, password and TLS settings in FINPIPE_MYSQL_URL');
  } else if (!mysql.reachable) {
    problems.push('MySQL unreachable');
    hints.push('start MySQL/MariaDB (from a checkout: `npm run services:up`) or check FINPIPE_MYSQL_URL');
  }
  const code = !kafka.reachable ? 'KAFKA_UNAVAILABLE' : mysql.refused ? 'MYSQL_ERROR' : 'MYSQL_UNAVAILABLE';
  return new FinpipeError(code, problems.join('; '), { hint: hints.join('; ') });
}

function cassandraStatusError(status: PipelineStatus): FinpipeError {
  const { kafka } = status.services;
  const db = storeService(status);
  const problems: string[] = [];
  const hints: string[] = [];
  if (!kafka.reachable) {
    problems.push('Kafka unreachable');
    hints.push(`start Kafka (from a checkout: \`npm run services:up\`) or check FINPIPE_KAFKA_BROKERS / --brokers`);
  }
  if (!db.reachable) {
    problems.push(db.refused ? (db.error ?? 'Cassandra refused the connection') : 'Cassandra unreachable');
    hints.push(
      db.hint ?? 'start Cassandra (from a checkout: `npm run services:up -- cassandra`) or check FINPIPE_CASSANDRA_CONTACT_POINTS',
    );
  }
  const code = !kafka.reachable ? 'KAFKA_UNAVAILABLE' : db.refused ? 'CASSANDRA_ERROR' : 'CASSANDRA_UNAVAILABLE';
  return new FinpipeError(code, problems.join('; '), { hint: hints.join('; ') });
}

function indent(text: string, n = 2): string {
  return text
    .split('\n')
    .map((l) => ' '.repeat(n) + l)
    .join('\n');
}
