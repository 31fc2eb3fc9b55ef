import { Command } from 'commander';
import { FinpipeError } from '../../core/errors';

export function processCommand(): Command {
  return new Command('process')
    .description('raw trades -> per-symbol topics with trades and event-time candles, exactly once')
    .argument('[symbols...]', 'symbols to keep (default: all)')
    .addHelpText('after', '\nExamples:\n  $ finpipe process\n  $ finpipe process BINANCE:BTCUSDT --windows 1s,10s,1m')
    .action(() => {
      throw new FinpipeError('NOT_IMPLEMENTED', 'finpipe process is not implemented yet', { hint: 'it lands with the process issue' });
    });
}
