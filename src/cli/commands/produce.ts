import { Command } from 'commander';
import { FinpipeError } from '../../core/errors';

export function produceCommand(): Command {
  return new Command('produce')
    .description('Finnhub websocket trades -> Avro -> the raw Kafka topic')
    .argument('<symbols...>', 'Finnhub symbols, e.g. BINANCE:BTCUSDT AAPL')
    .addHelpText('after', '\nExamples:\n  $ finpipe produce BINANCE:BTCUSDT BINANCE:ETHUSDT\n  $ FINNHUB_WS_URL=ws://127.0.0.1:8765 finpipe produce AAPL')
    .action(() => {
      throw new FinpipeError('NOT_IMPLEMENTED', 'finpipe produce is not implemented yet', { hint: 'it lands with the produce issue' });
    });
}
