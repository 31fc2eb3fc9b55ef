/**
 * Symbol checks done before connecting.
 *
 * checkSymbolCount: Finnhub allows about 50 symbols per connection (free tier); past it the
 * server only answers "Subscribing to too many symbols" without saying which symbol, and
 * keeps the connection half-useful. So finpipe refuses before connecting.
 *
 * validateSymbols (`produce --validate`): asks Finnhub's REST API whether each symbol
 * exists, at most 60 calls a minute (the free tier's limit; HTTP 429 past it):
 *   EXCHANGE:SYMBOL -> GET /crypto/symbol?exchange=EXCHANGE, then /forex/symbol (one call
 *                      per exchange, cached);
 *   plain ticker    -> GET /stock/symbol?exchange=US (once), then /search?q= for tickers
 *                      it does not list. /search alone is not enough: users report it no
 *                      longer finds some plain US tickers.
 * Unknown symbols are refused all at once, each with its closest matches.
 */
import { FinpipeError } from '../errors';
import type { Logger } from '../log';
import { retry, sleep } from '../retry';

/** HTTP 429 answers retried before validation gives up. */
const TOO_MANY_REQUESTS_RETRIES = 3;

export function checkSymbolCount(symbols: string[], limit: number): void {
  if (symbols.length > limit) {
    throw new FinpipeError('SYMBOL_LIMIT', `${symbols.length} symbols is more than the ${limit} one Finnhub connection allows`, {
      hint: `subscribe to at most ${limit} (run several produce processes with different API keys for more), or raise --symbol-limit if your plan allows it`,
      context: { symbols: symbols.length, limit },
    });
  }
}

/** Trims, drops duplicates and refuses empty symbols. */
export function normaliseSymbols(symbols: string[]): string[] {
  const out: string[] = [];
  for (const raw of symbols) {
    const symbol = raw.trim();
    if (symbol === '')
      throw new FinpipeError('SYMBOL_INVALID', 'empty symbol', { hint: 'give Finnhub symbols such as BINANCE:BTCUSDT or AAPL' });
    if (!out.includes(symbol)) out.push(symbol);
  }
  return out;
}

/** At most `limit` calls in any `windowMs` window. */
export class RateLimiter {
  private readonly calls: number[] = [];
  constructor(
    private readonly limit = 60,
    private readonly windowMs = 60_000,
    private readonly now = () => Date.now(),
  ) {}

  /** Milliseconds to wait before the next call is allowed (0 = now); records the call when 0. */
  take(): number {
    const now = this.now();
    while (this.calls.length > 0 && now - this.calls[0] >= this.windowMs) this.calls.shift();
    if (this.calls.length < this.limit) {
      this.calls.push(now);
      return 0;
    }
    return this.calls[0] + this.windowMs - now;
  }
}

export interface ValidateOptions {
  restUrl: string;
  token: string;
  logger: Logger;
  limiter?: RateLimiter;
  signal?: AbortSignal;
}

interface Listed {
  symbol: string;
  displaySymbol?: string;
}

export async function validateSymbols(symbols: string[], opts: ValidateOptions): Promise<void> {
  const log = opts.logger.child({ module: 'symbols' });
  const limiter = opts.limiter ?? new RateLimiter();
  const cache = new Map<string, Listed[]>();

  // Only HTTP 429 is retried, after the wait its reset header asks for; an unreachable API
  // is reported at once (the user is waiting to start producing).
  const get = (path: string): Promise<unknown> =>
    retry(() => restGet(path, opts, limiter, log), {
      attempts: 1 + TOO_MANY_REQUESTS_RETRIES,
      retriable: isTooManyRequests,
      delayMs: (error) => (error as FinpipeError).context.waitMs as number,
      onRetry: (_error, _attempt, waitMs) =>
        log.error(
          { status: 429, waitMs },
          `Finnhub REST answered HTTP 429 Too Many Requests (limit: 60 calls/min per key); retrying in ${Math.ceil(waitMs / 1000)} s`,
        ),
      signal: opts.signal,
    });

  const list = async (path: string): Promise<Listed[]> => {
    let listed = cache.get(path);
    if (!listed) {
      const body = await get(path);
      listed = Array.isArray(body) ? (body as Listed[]).filter((x) => x && typeof x.symbol === 'string') : [];
      cache.set(path, listed);
    }
    return listed;
  };

  const unknown: { symbol: string; closest: string[] }[] = [];
  for (const symbol of symbols) {
    const colon = symbol.indexOf(':');
    let candidates: Listed[];
    if (colon > 0) {
      const exchange = encodeURIComponent(symbol.slice(0, colon));
      candidates = await list(`/crypto/symbol?exchange=${exchange}`);
      if (!candidates.some((c) => c.symbol === symbol)) candidates = [...candidates, ...(await list(`/forex/symbol?exchange=${exchange}`))];
    } else {
      candidates = await list('/stock/symbol?exchange=US');
      if (!candidates.some((c) => c.symbol === symbol)) {
        const found = (await get(`/search?q=${encodeURIComponent(symbol)}`)) as { result?: Listed[] };
        candidates = [...candidates, ...(Array.isArray(found?.result) ? found.result : [])];
      }
    }
    if (candidates.some((c) => c.symbol === symbol)) continue;
    unknown.push({
      symbol,
      closest: closestMatches(
        symbol,
        candidates.map((c) => c.symbol),
      ),
    });
  }
  if (unknown.length > 0) {
    const lines = unknown.map((u) => `${u.symbol} (${u.closest.length > 0 ? `closest: ${u.closest.join(', ')}` : 'no similar symbol'})`);
    throw new FinpipeError(
      'SYMBOL_UNKNOWN',
      `Finnhub does not list ${unknown.length === 1 ? 'this symbol' : 'these symbols'}: ${lines.join('; ')}`,
      {
        hint: 'fix the spelling (exchange prefix included, e.g. BINANCE:BTCUSDT), or drop --validate to subscribe anyway',
        context: { unknown: unknown.map((u) => u.symbol) },
      },
    );
  }
  log.info({ symbols: symbols.length }, 'every symbol is known to Finnhub');
}

/** One REST call, within the rate limit. */
async function restGet(path: string, opts: ValidateOptions, limiter: RateLimiter, log: Logger): Promise<unknown> {
  for (let wait = limiter.take(); wait > 0; wait = limiter.take()) {
    log.info({ waitMs: wait }, `at the REST limit of 60 calls/min; waiting ${Math.ceil(wait / 1000)} s`);
    await sleep(wait, opts.signal);
    if (opts.signal?.aborted) throw new FinpipeError('USAGE', 'symbol validation interrupted');
  }
  let res: Response;
  try {
    // Token in a header, not the URL: URLs end up in error messages.
    res = await fetch(`${opts.restUrl}${path}`, { headers: { 'X-Finnhub-Token': opts.token }, signal: opts.signal });
  } catch (error) {
    throw new FinpipeError('SOURCE_UNAVAILABLE', `cannot reach the Finnhub REST API at ${opts.restUrl}: ${(error as Error).message}`, {
      cause: error,
      hint: 'check FINNHUB_REST_URL and the network, or drop --validate',
    });
  }
  if (res.status === 401 || res.status === 403) {
    throw new FinpipeError('SOURCE_ERROR', `Finnhub REST refused the token: HTTP ${res.status}`, { hint: 'check FINNHUB_TOKEN' });
  }
  if (!res.ok) {
    const rateLimited = res.status === 429 ? { retriable: true, context: { status: 429, waitMs: resetWaitMs(res) } } : {};
    throw new FinpipeError(
      'SOURCE_ERROR',
      `Finnhub REST ${path.split('?')[0]} answered HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`,
      {
        hint: 'retry later, or drop --validate',
        ...rateLimited,
      },
    );
  }
  return res.json();
}

function isTooManyRequests(error: unknown): boolean {
  return error instanceof FinpipeError && error.context.status === 429;
}

/** How long until a per-minute limit resets, from Finnhub's x-ratelimit-reset (epoch seconds); a minute without it. */
function resetWaitMs(res: Response): number {
  const reset = Number(res.headers.get('x-ratelimit-reset'));
  return Number.isFinite(reset) && reset > 0 ? Math.max(1000, reset * 1000 - Date.now()) : 60_000;
}

/** Up to `n` candidates closest to `symbol` (case-insensitive edit distance), nearest first. */
export function closestMatches(symbol: string, candidates: string[], n = 3): string[] {
  const target = symbol.toUpperCase();
  const maxDistance = Math.max(2, Math.floor(target.length / 3));
  return [...new Set(candidates)]
    .map((c) => {
      const upper = c.toUpperCase();
      // A candidate containing the whole symbol (or the reverse) is a near miss whatever its length.
      // ("A" is a US ticker, so the shorter one must be at least half as long as the other.)
      const contains =
        Math.min(upper.length, target.length) * 2 >= Math.max(upper.length, target.length) &&
        (upper.includes(target) || target.includes(upper));
      return { c, d: contains ? Math.min(1, editDistance(target, upper)) : editDistance(target, upper, maxDistance + 1) };
    })
    .filter((x) => x.d <= maxDistance)
    .sort((a, b) => a.d - b.d || a.c.localeCompare(b.c))
    .slice(0, n)
    .map((x) => x.c);
}

/** Levenshtein distance, giving up (returning `cap`) once it exceeds cap. */
export function editDistance(a: string, b: string, cap = Infinity): number {
  if (Math.abs(a.length - b.length) >= cap) return cap;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      rowMin = Math.min(rowMin, cur[j]);
    }
    if (rowMin >= cap) return cap;
    prev = cur;
  }
  return Math.min(prev[b.length], cap);
}
