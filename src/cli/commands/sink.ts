import { Command } from 'commander';
import { FinpipeError } from '../../core/errors';

export function sinkCommand(): Command {
  return new Command('sink')
    .description('per-symbol topics -> MySQL tables (created when missing)')
    .argument('<topics...>', 'per-symbol topics, e.g. BINANCE_BTCUSDT')
    .addHelpText('after', '\nExamples:\n  $ finpipe sink BINANCE_BTCUSDT\n  $ FINPIPE_MYSQL_URL=mysql://root@127.0.0.1:3306/finpipe finpipe sink BINANCE_BTCUSDT BINANCE_ETHUSDT')
    .action(() => {
      throw new FinpipeError('NOT_IMPLEMENTED', 'finpipe sink is not implemented yet', { hint: 'it lands with the sink issue' });
    });
}
