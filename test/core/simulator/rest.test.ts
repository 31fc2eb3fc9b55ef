import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { DEFAULT_SIMULATED_SYMBOLS, startSimulator, type RunningSimulator, type SimulatorOptions } from '../../../src/core/simulator';

const logger = pino({ level: 'silent' });

async function sim(t: TestContext, opts: Partial<SimulatorOptions> = {}): Promise<RunningSimulator> {
  const s = await startSimulator({ port: 0, symbols: DEFAULT_SIMULATED_SYMBOLS, rate: 10, seed: 1, logger, ...opts });
  t.after(() => s.close());
  return s;
}

interface SymbolRow {
  description: string;
  displaySymbol: string;
  symbol: string;
  type?: string;
}
interface SearchBody {
  count: number;
  result: SymbolRow[];
}

async function get<T = unknown>(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: T; headers: Headers }> {
  const res = await fetch(url, { headers });
  return { status: res.status, body: (await res.json()) as T, headers: res.headers };
}

test('rest: search matches symbol and description, case-insensitive, like Finnhub', async (t) => {
  const s = await sim(t);
  const { status, body, headers } = await get<SearchBody>(`${s.restUrl}/search?q=aapl&token=abc`);
  assert.equal(status, 200);
  assert.match(headers.get('content-type') ?? '', /application\/json/);
  assert.equal(body.count, body.result.length);
  assert.deepEqual(body.result[0], { description: 'APPLE INC', displaySymbol: 'AAPL', symbol: 'AAPL', type: 'Common Stock' });

  const byName = await get<SearchBody>(`${s.restUrl}/search?q=Apple&token=abc`);
  assert.ok(byName.body.result.some((r) => r.symbol === 'AAPL'));

  const crypto = await get<SearchBody>(`${s.restUrl}/search?q=btcusdt&token=abc`);
  assert.equal(crypto.body.result[0].symbol, 'BINANCE:BTCUSDT');
  for (const r of crypto.body.result) assert.deepEqual(Object.keys(r).sort(), ['description', 'displaySymbol', 'symbol', 'type']);

  assert.deepEqual((await get(`${s.restUrl}/search?q=nothing-like-this&token=abc`)).body, { count: 0, result: [] });
  assert.deepEqual((await get(`${s.restUrl}/search?token=abc`)).body, { count: 0, result: [] });
});

test('rest: exchange symbol lists', async (t) => {
  const s = await sim(t);
  const crypto = await get<SymbolRow[]>(`${s.restUrl}/crypto/symbol?exchange=BINANCE&token=abc`);
  assert.equal(crypto.status, 200);
  assert.ok(Array.isArray(crypto.body) && crypto.body.length > 10);
  assert.deepEqual(
    crypto.body.find((r) => r.symbol === 'BINANCE:BTCUSDT'),
    { description: 'Binance BTCUSDT', displaySymbol: 'BTC/USDT', symbol: 'BINANCE:BTCUSDT' },
  );
  assert.ok(crypto.body.every((r) => r.symbol.startsWith('BINANCE:')));

  const lower = await get<SymbolRow[]>(`${s.restUrl}/crypto/symbol?exchange=binance&token=abc`);
  assert.deepEqual(lower.body, crypto.body);

  const forex = await get<SymbolRow[]>(`${s.restUrl}/forex/symbol?exchange=OANDA&token=abc`);
  assert.ok(forex.body.some((r) => r.symbol === 'OANDA:EUR_USD' && r.displaySymbol === 'EUR/USD'));
  const ic = await get<SymbolRow[]>(`${s.restUrl}/forex/symbol?exchange=${encodeURIComponent('IC MARKETS')}&token=abc`);
  assert.ok(ic.body.some((r) => r.symbol === 'IC MARKETS:1'));

  const stocks = await get<SymbolRow[]>(`${s.restUrl}/stock/symbol?exchange=US&token=abc`);
  const aapl = stocks.body.find((r) => r.symbol === 'AAPL');
  assert.equal(aapl?.description, 'APPLE INC');
  assert.equal(aapl?.displaySymbol, 'AAPL');
  assert.ok(stocks.body.every((r) => !r.symbol.includes(':')));

  assert.deepEqual((await get(`${s.restUrl}/crypto/symbol?exchange=NOWHERE&token=abc`)).body, []);
  assert.equal((await get(`${s.restUrl}/crypto/symbol?token=abc`)).status, 422);
  assert.equal((await get(`${s.restUrl}/nope?token=abc`)).status, 404);

  // Only the simulated symbols are listed.
  const one = await sim(t, { symbols: ['BINANCE:BTCUSDT'] });
  assert.deepEqual(
    (await get<SymbolRow[]>(`${one.restUrl}/crypto/symbol?exchange=BINANCE&token=abc`)).body.map((r) => r.symbol),
    ['BINANCE:BTCUSDT'],
  );
});

test('rest: token by query or X-Finnhub-Token header, else 401', async (t) => {
  const s = await sim(t, { tokens: ['good'] });
  const none = await get(`${s.restUrl}/search?q=AAPL`);
  assert.equal(none.status, 401);
  assert.deepEqual(none.body, { error: 'Invalid API key' });
  assert.equal((await get(`${s.restUrl}/search?q=AAPL&token=bad`)).status, 401);
  assert.equal((await get(`${s.restUrl}/search?q=AAPL&token=good`)).status, 200);
  assert.equal((await get(`${s.restUrl}/search?q=AAPL`, { 'X-Finnhub-Token': 'good' })).status, 200);
  assert.equal((await get(`${s.restUrl}/search?q=AAPL`, { 'X-Finnhub-Token': 'bad' })).status, 401);

  const any = await sim(t);
  assert.equal((await get(`${any.restUrl}/search?q=AAPL&token=`)).status, 401);
  assert.equal((await get(`${any.restUrl}/search?q=AAPL&token=whatever`)).status, 200);
});

test('rest: 429 past the per-minute limit, counted per token', async (t) => {
  const s = await sim(t, { restLimitPerMinute: 3 });
  for (let i = 0; i < 3; i++) {
    const r = await get(`${s.restUrl}/search?q=AAPL&token=a`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-ratelimit-remaining'), String(2 - i));
  }
  const over = await get(`${s.restUrl}/search?q=AAPL&token=a`);
  assert.equal(over.status, 429);
  assert.deepEqual(over.body, { error: 'API limit reached. Please try again later. Remaining Limit: 0' });
  assert.equal((await get(`${s.restUrl}/crypto/symbol?exchange=BINANCE`, { 'X-Finnhub-Token': 'a' })).status, 429);
  assert.equal((await get(`${s.restUrl}/search?q=AAPL&token=b`)).status, 200, 'another token has its own budget');
});

test('rest: the free-tier default is 60 calls a minute', async (t) => {
  const s = await sim(t);
  const statuses: number[] = [];
  for (let i = 0; i < 61; i++) statuses.push((await get(`${s.restUrl}/search?q=MSFT&token=t`)).status);
  assert.deepEqual(statuses.slice(0, 60), new Array(60).fill(200));
  assert.equal(statuses[60], 429);
});

test('rest: hiddenFromSearch emulates /search missing plain US tickers', async (t) => {
  const s = await sim(t, { faults: { hiddenFromSearch: ['AAPL'] } });
  const found = await get<SearchBody>(`${s.restUrl}/search?q=AAPL&token=x`);
  assert.ok(!found.body.result.some((r) => r.symbol === 'AAPL'));
  const listed = await get<SymbolRow[]>(`${s.restUrl}/stock/symbol?exchange=US&token=x`);
  assert.ok(listed.body.some((r) => r.symbol === 'AAPL'));
});
