import { describeError } from '../errors';
import { LIMITS } from '../limits';
import type { Logger } from '../log';
import { redactText } from '../redact';
import type { StoreReader } from '../stores/types';
import { DASHBOARD_LIMITS } from './options';

/** An answer of the JSON API: its status and body. */
export interface ApiAnswer {
  status: number;
  body: unknown;
}

class BadRequest extends Error {}

/** What the API needs: a reader that may be (re)opened, and the latest health report. */
export interface ApiContext {
  reader(): Promise<StoreReader>;
  /** Drops the reader after a failure, so the next request reconnects. */
  readerFailed(): void;
  health(): unknown;
  logger: Logger;
}

/** `name` as an integer in [min, max], or `fallback` when absent. */
function integerParam(params: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const text = params.get(name);
  if (text === null || text === '') return fallback;
  const n = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(n)) throw new BadRequest(`${name}=${text} is not an integer`);
  if (n < min || n > max) throw new BadRequest(`${name}=${n} is outside ${min}..${max}`);
  return n;
}

async function knownSymbol(reader: StoreReader, params: URLSearchParams): Promise<string> {
  const symbol = params.get('symbol');
  if (!symbol) throw new BadRequest('symbol is missing');
  if (!(await reader.symbols()).includes(symbol))
    throw new BadRequest(`unknown symbol ${JSON.stringify(symbol)}: no trades or candles stored`);
  return symbol;
}

async function knownWindow(reader: StoreReader, symbol: string, params: URLSearchParams): Promise<number> {
  if (!params.get('window')) throw new BadRequest('window is missing (a window size in ms, see /api/windows)');
  const windowMs = integerParam(params, 'window', 0, 1, LIMITS.tradeTimeMaxMs);
  const sizes = await reader.windowSizes(symbol);
  if (!sizes.includes(windowMs))
    throw new BadRequest(`unknown window ${windowMs} for ${symbol}; stored sizes: ${sizes.join(', ') || 'none'}`);
  return windowMs;
}

type Route = (reader: StoreReader, params: URLSearchParams) => Promise<unknown>;

const ROUTES: Record<string, Route> = {
  '/api/symbols': async (reader) => ({ symbols: await reader.symbols() }),
  '/api/windows': async (reader, params) => ({ windows: await reader.windowSizes(await knownSymbol(reader, params)) }),
  '/api/candles': async (reader, params) => {
    const symbol = await knownSymbol(reader, params);
    const windowMs = await knownWindow(reader, symbol, params);
    const fromMs = integerParam(params, 'from', 0, 0, LIMITS.tradeTimeMaxMs);
    const toMs = integerParam(params, 'to', LIMITS.tradeTimeMaxMs, 0, LIMITS.tradeTimeMaxMs);
    if (fromMs > toMs) throw new BadRequest(`from=${fromMs} is after to=${toMs}`);
    const limit = Math.min(integerParam(params, 'limit', 1_000, 1, Number.MAX_SAFE_INTEGER), DASHBOARD_LIMITS.maxCandles);
    return { symbol, window: windowMs, candles: await reader.candles(symbol, windowMs, { fromMs, toMs, limit }) };
  },
  '/api/trades': async (reader, params) => {
    const symbol = await knownSymbol(reader, params);
    const limit = Math.min(integerParam(params, 'limit', 50, 1, Number.MAX_SAFE_INTEGER), DASHBOARD_LIMITS.maxTrades);
    return { symbol, trades: await reader.latestTrades(symbol, limit) };
  },
};

/**
 * The read-only JSON API. 400 with the reason for a bad parameter, 404 for an unknown path,
 * 503 with the reason while the store cannot be read (the page retries).
 */
export async function answerApi(pathname: string, params: URLSearchParams, context: ApiContext): Promise<ApiAnswer> {
  if (pathname === '/api/status') return { status: 200, body: context.health() };
  const route = ROUTES[pathname];
  if (!route) return { status: 404, body: { error: `no such API: ${pathname}` } };
  try {
    const reader = await context.reader();
    return { status: 200, body: await route(reader, params) };
  } catch (error) {
    if (error instanceof BadRequest) return { status: 400, body: { error: error.message } };
    context.readerFailed();
    const reason = redactText(describeError(error));
    context.logger.warn({ err: reason, path: pathname }, 'the store cannot be read');
    return { status: 503, body: { error: `the store cannot be read: ${reason}` } };
  }
}
