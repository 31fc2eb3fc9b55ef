import chalk from 'chalk';
import { createContext, type GlobalOptions } from '../context';
import { collectStatus } from '../../core/status';
import { FinpipeError } from '../../core/errors';
import { formatTable } from './table';

export async function runStatus(global: GlobalOptions, opts: { format: 'table' | 'json' }): Promise<void> {
  const { config, logger } = createContext(global, 'status');
  const status = await collectStatus(config, logger);
  if (opts.format === 'json') {
    process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
  } else {
    const { kafka, mysql } = status.services;
    const up = (ok: boolean) => (ok ? chalk.green('up  ') : chalk.red('DOWN'));
    const out: string[] = [chalk.bold('services')];
    out.push(
      `  kafka  ${up(kafka.reachable)}  ${kafka.brokers.join(',')}` +
        (kafka.reachable ? `  ${kafka.brokerCount} broker(s), cluster ${kafka.clusterId}` : `  ${kafka.error}`),
    );
    out.push(
      `  mysql  ${up(mysql.reachable)}  ${mysql.host}:${mysql.port}/${mysql.database}${mysql.reachable ? `  ${mysql.version}` : `  ${mysql.error}`}`,
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
        chalk.bold('symbols (MySQL)'),
        indent(
          formatTable([
            ['SYMBOL', 'TRADES', 'LAST TRADE (UTC)', 'LAST CANDLE END (UTC)'],
            ...status.symbols.map((s) => [s.symbol, String(s.trades), s.lastTrade ?? '-', s.lastCandle ?? '-']),
          ]),
        ),
      );
    process.stdout.write(`${out.join('\n')}\n`);
  }
  if (!status.ok) {
    const down = [!status.services.kafka.reachable && 'Kafka', !status.services.mysql.reachable && 'MySQL'].filter(Boolean).join(' and ');
    throw new FinpipeError(status.services.kafka.reachable ? 'MYSQL_UNAVAILABLE' : 'KAFKA_UNAVAILABLE', `${down} unreachable`, {
      hint: 'start the services with `npm run services:up` or check FINPIPE_KAFKA_BROKERS / FINPIPE_MYSQL_URL',
    });
  }
}

function indent(text: string, n = 2): string {
  return text
    .split('\n')
    .map((l) => ' '.repeat(n) + l)
    .join('\n');
}
