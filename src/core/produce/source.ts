import { FinpipeError } from '../errors';
import type { Logger } from '../log';
import { FileSource } from '../sources/file';
import { FinnhubWebSocketSource } from '../sources/finnhub-ws';
import { HttpSource } from '../sources/http';
import { checkSymbolCount, normaliseSymbols, validateSymbols } from '../sources/symbol-check';
import type { TradeSource } from '../sources/types';
import type { ResolvedSourceSpec } from './options';

/**
 * The trade source a spec describes. A websocket's symbols are checked before anything
 * connects (count, and with `validateWith` that Finnhub lists them): a typo should fail
 * in a second, not after a Kafka connection and a silent subscription.
 */
export async function createSource(spec: ResolvedSourceSpec, logger: Logger, signal: AbortSignal): Promise<TradeSource> {
  switch (spec.kind) {
    case 'websocket': {
      const symbols = normaliseSymbols(spec.symbols);
      if (symbols.length === 0)
        throw new FinpipeError('USAGE', 'no symbols to subscribe to', { hint: 'e.g. finpipe produce BINANCE:BTCUSDT AAPL' });
      checkSymbolCount(symbols, spec.symbolLimit);
      if (spec.validateWith) await validateSymbols(symbols, { restUrl: spec.validateWith, token: spec.token, logger, signal });
      return new FinnhubWebSocketSource({
        url: spec.url,
        token: spec.token,
        symbols,
        logger,
        watchdogMs: spec.watchdogMs,
        backoff: spec.reconnectBackoff,
      });
    }
    case 'file':
      return new FileSource(spec.path);
    case 'http':
      return new HttpSource({ port: spec.port, host: spec.host, logger, onListening: spec.onListening });
  }
}
