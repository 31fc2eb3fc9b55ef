/**
 * The REST subset finpipe uses for symbol validation, answering like finnhub.io/api/v1:
 *   GET /search?q=apple               {"count":N,"result":[{"description","displaySymbol","symbol","type"}]}
 *   GET /stock/symbol?exchange=US     [{"currency","description","displaySymbol","mic","symbol","type"}]
 *   GET /crypto/symbol?exchange=BINANCE, /forex/symbol?exchange=OANDA
 *                                     [{"description","displaySymbol","symbol"}]
 *   GET /crypto/exchange, /forex/exchange   ["BINANCE", ...]
 * Auth: `token` query parameter or X-Finnhub-Token header, else 401 {"error":"Invalid API key"}.
 * Limit: N calls per token per fixed minute window, else 429 (free tier: 60).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { SymbolInfo } from './catalog';

export const REST_PREFIX = '/api/v1';
export const INVALID_API_KEY = { error: 'Invalid API key' };
export const LIMIT_REACHED = { error: 'API limit reached. Please try again later. Remaining Limit: 0' };

export interface RestConfig {
  catalog: readonly SymbolInfo[];
  hiddenFromSearch: ReadonlySet<string>;
  limitPerMinute: number;
  tokenOk: (token: string | undefined) => boolean;
  log: Logger;
}

interface Window {
  start: number;
  count: number;
}

export function createRestHandler(cfg: RestConfig): (req: IncomingMessage, res: ServerResponse, url: URL) => void {
  const windows = new Map<string, Window>();

  /** Returns the calls left in this window after counting this one, or -1 when over the limit. */
  const take = (token: string, now: number): { left: number; reset: number } => {
    let w = windows.get(token);
    if (!w || now - w.start >= 60_000) {
      if (windows.size > 10_000) for (const [k, v] of windows) if (now - v.start >= 60_000) windows.delete(k);
      w = { start: now, count: 0 };
      windows.set(token, w);
    }
    w.count++;
    return { left: cfg.limitPerMinute - w.count, reset: Math.ceil((w.start + 60_000) / 1000) };
  };

  return (req, res, url) => {
    const header = req.headers['x-finnhub-token'];
    const token = url.searchParams.get('token') ?? (Array.isArray(header) ? header[0] : header);
    if (!cfg.tokenOk(token)) {
      send(res, 401, INVALID_API_KEY);
      return;
    }
    const { left, reset } = take(token!, Date.now());
    res.setHeader('X-Ratelimit-Limit', String(cfg.limitPerMinute));
    res.setHeader('X-Ratelimit-Remaining', String(Math.max(0, left)));
    res.setHeader('X-Ratelimit-Reset', String(reset));
    if (left < 0) {
      send(res, 429, LIMIT_REACHED);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, { error: 'Method not allowed' });
      return;
    }
    const route = url.pathname.slice(REST_PREFIX.length).replace(/\/+$/, '');
    const exchange = url.searchParams.get('exchange');
    switch (route) {
      case '/search':
        send(res, 200, search(cfg, url.searchParams.get('q') ?? ''));
        return;
      case '/stock/symbol':
        if (!exchange) return send(res, 422, { error: 'Missing exchange parameter' });
        send(
          res,
          200,
          byExchange(cfg, 'stock', exchange).map((s) => ({
            currency: 'USD',
            description: s.description,
            displaySymbol: s.displaySymbol,
            mic: 'XNAS',
            symbol: s.symbol,
            type: s.type,
          })),
        );
        return;
      case '/crypto/symbol':
      case '/forex/symbol':
        if (!exchange) return send(res, 422, { error: 'Missing exchange parameter' });
        send(
          res,
          200,
          byExchange(cfg, route === '/crypto/symbol' ? 'crypto' : 'forex', exchange).map((s) => ({
            description: s.description,
            displaySymbol: s.displaySymbol,
            symbol: s.symbol,
          })),
        );
        return;
      case '/crypto/exchange':
      case '/forex/exchange': {
        const cls = route === '/crypto/exchange' ? 'crypto' : 'forex';
        send(res, 200, [...new Set(cfg.catalog.filter((s) => s.assetClass === cls).map((s) => s.exchange))]);
        return;
      }
      default:
        send(res, 404, { error: 'Not found' });
    }
  };
}

function byExchange(cfg: RestConfig, cls: SymbolInfo['assetClass'], exchange: string): SymbolInfo[] {
  const ex = exchange.toUpperCase();
  return cfg.catalog.filter((s) => s.assetClass === cls && s.exchange === ex);
}

function search(cfg: RestConfig, q: string): { count: number; result: object[] } {
  const needle = q.trim().toUpperCase();
  if (!needle) return { count: 0, result: [] };
  const rank = (s: SymbolInfo): number =>
    s.symbol.toUpperCase() === needle || s.displaySymbol.toUpperCase() === needle ? 0 : s.symbol.toUpperCase().startsWith(needle) ? 1 : 2;
  const hits = cfg.catalog
    .filter(
      (s) =>
        !cfg.hiddenFromSearch.has(s.symbol) &&
        (s.symbol.toUpperCase().includes(needle) ||
          s.displaySymbol.toUpperCase().includes(needle) ||
          s.description.toUpperCase().includes(needle)),
    )
    .map((s, i) => ({ s, i, r: rank(s) }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map(({ s }) => ({ description: s.description, displaySymbol: s.displaySymbol, symbol: s.symbol, type: s.type }));
  return { count: hits.length, result: hits };
}

export function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}
