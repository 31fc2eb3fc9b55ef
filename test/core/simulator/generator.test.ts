import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SIMULATED_SYMBOLS, createTradeGenerator, type FinnhubTrade } from '../../../src/core/simulator';

const SYMBOLS = ['BINANCE:BTCUSDT', 'BINANCE:ETHUSDT', 'AAPL', 'OANDA:EUR_USD', 'IC MARKETS:1', 'BINANCE:SHIBUSDT'];
const START = 1_700_000_000_000;

const strip = (t: FinnhubTrade, start: number) => ({ s: t.s, p: t.p, v: t.v, c: t.c, dt: t.t - start });

test('generator: the same seed gives the same trades', () => {
  const a = createTradeGenerator(SYMBOLS, 42, START).nextBatch(10_000);
  const b = createTradeGenerator(SYMBOLS, 42, START).nextBatch(10_000);
  assert.deepEqual(a, b);
});

test('generator: a different seed gives different trades', () => {
  const a = createTradeGenerator(SYMBOLS, 42, START).nextBatch(1000);
  const b = createTradeGenerator(SYMBOLS, 43, START).nextBatch(1000);
  assert.notDeepEqual(a, b);
  // Not just a shifted copy: prices of one symbol differ too.
  const btc = (xs: FinnhubTrade[]) => xs.filter((t) => t.s === 'BINANCE:BTCUSDT').map((t) => t.p);
  assert.notDeepEqual(btc(a).slice(0, 20), btc(b).slice(0, 20));
});

test('generator: startTimeMs only shifts the timestamps', () => {
  const a = createTradeGenerator(SYMBOLS, 7, START)
    .nextBatch(5000)
    .map((t) => strip(t, START));
  const b = createTradeGenerator(SYMBOLS, 7, START + 123_456)
    .nextBatch(5000)
    .map((t) => strip(t, START + 123_456));
  assert.deepEqual(a, b);
});

test('generator: a symbol keeps its own sequence whatever else is generated', () => {
  const only = (xs: FinnhubTrade[], s: string) => xs.filter((t) => t.s === s).map(({ p, v, c }) => ({ p, v, c }));
  const a = only(createTradeGenerator(['AAPL', 'MSFT'], 9, START).nextBatch(4000), 'AAPL');
  const b = only(createTradeGenerator(['BINANCE:BTCUSDT', 'AAPL', 'OANDA:EUR_USD'], 9, START).nextBatch(6000), 'AAPL');
  const n = Math.min(a.length, b.length);
  assert.ok(n > 500, `too few AAPL trades to compare: ${n}`);
  assert.deepEqual(a.slice(0, n), b.slice(0, n));
});

test('generator: does not use Math.random', () => {
  const original = Math.random;
  Math.random = () => {
    throw new Error('Math.random called');
  };
  try {
    createTradeGenerator(DEFAULT_SIMULATED_SYMBOLS, 1, START).nextBatch(1000);
  } finally {
    Math.random = original;
  }
});

test('generator: rejects an empty symbol list', () => {
  assert.throws(() => createTradeGenerator([], 1), RangeError);
});

test('generator: 100k trades have Finnhub-like properties', () => {
  const N = 100_000;
  const trades = createTradeGenerator(DEFAULT_SIMULATED_SYMBOLS, 2024, START).nextBatch(N);
  const known = new Set(DEFAULT_SIMULATED_SYMBOLS);
  const seen = new Set<string>();
  let zeroVolume = 0;
  let late = 0;
  let noConditions = 0;
  let maxT = -Infinity;
  for (let i = 0; i < N; i++) {
    const t = trades[i];
    assert.ok(known.has(t.s), `unknown symbol ${t.s}`);
    seen.add(t.s);
    assert.ok(Number.isFinite(t.p) && t.p > 0, `price must be > 0: ${JSON.stringify(t)}`);
    assert.ok(Number.isFinite(t.v) && t.v >= 0, `volume must be >= 0: ${JSON.stringify(t)}`);
    assert.ok(Number.isInteger(t.t) && t.t > START - 6000, `t must be integer ms near start: ${JSON.stringify(t)}`);
    if (t.v === 0) zeroVolume++;
    if (t.c === undefined) noConditions++;
    else {
      assert.ok(Array.isArray(t.c) && t.c.length > 0 && t.c.every((x) => typeof x === 'string'), `bad c: ${JSON.stringify(t)}`);
    }
    if (i > 0) {
      const prev = trades[i - 1].t;
      if (t.t < prev) {
        late++;
        assert.ok(prev - t.t >= 1 && prev - t.t <= 3000, `late by ${prev - t.t} ms`);
      }
    }
    // Time stays near the front: a late trade lags the newest one by at most a few seconds.
    assert.ok(t.t > maxT - 6000, `t ${t.t} lags the clock ${maxT} too much`);
    if (t.t > maxT) maxT = t.t;
    // JSON-safe numbers, no float noise: at most 8 decimals.
    assert.ok(!/\.\d{9,}/.test(String(t.p)) && !/\.\d{9,}/.test(String(t.v)), `unrounded number in ${JSON.stringify(t)}`);
  }
  assert.equal(seen.size, DEFAULT_SIMULATED_SYMBOLS.length, 'every symbol trades');
  const pct = (x: number) => (100 * x) / N;
  assert.ok(pct(zeroVolume) > 2 && pct(zeroVolume) < 4, `zero-volume share ${pct(zeroVolume)}%`);
  assert.ok(pct(late) > 1.5 && pct(late) < 2.5, `out-of-order share ${pct(late)}%`);
  assert.ok(pct(noConditions) > 45 && pct(noConditions) < 55, `share without c ${pct(noConditions)}%`);
  // Bursts: consecutive trades on the same symbol / in the same millisecond are common.
  let sameSymbol = 0;
  let sameMs = 0;
  for (let i = 1; i < N; i++) {
    if (trades[i].s === trades[i - 1].s) sameSymbol++;
    if (trades[i].t === trades[i - 1].t) sameMs++;
  }
  assert.ok(pct(sameSymbol) > 20, `same-symbol runs ${pct(sameSymbol)}%`);
  assert.ok(pct(sameMs) > 30, `same-ms runs ${pct(sameMs)}%`);
});

test('generator: prices start plausibly and stay in a plausible band', () => {
  const trades = createTradeGenerator(['BINANCE:BTCUSDT', 'AAPL', 'OANDA:EUR_USD', 'BINANCE:SHIBUSDT'], 5, START).nextBatch(200_000);
  const band: Record<string, [number, number]> = {
    'BINANCE:BTCUSDT': [40_000, 90_000],
    AAPL: [120, 280],
    'OANDA:EUR_USD': [0.9, 1.3],
    'BINANCE:SHIBUSDT': [0.000009, 0.00004],
  };
  for (const t of trades) {
    const [lo, hi] = band[t.s];
    assert.ok(t.p >= lo && t.p <= hi, `${t.s} price ${t.p} outside ${lo}..${hi}`);
  }
  const first = (s: string) => trades.find((t) => t.s === s)!;
  assert.ok(Math.abs(first('BINANCE:BTCUSDT').p / 60000 - 1) < 0.01);
  assert.ok(Math.abs(first('AAPL').p / 190 - 1) < 0.01);
  assert.ok(Math.abs(first('OANDA:EUR_USD').p / 1.08 - 1) < 0.01);
});

test('generator: DEFAULT_SIMULATED_SYMBOLS has more than 60 distinct symbols of each kind', () => {
  assert.ok(DEFAULT_SIMULATED_SYMBOLS.length >= 60);
  assert.equal(new Set(DEFAULT_SIMULATED_SYMBOLS).size, DEFAULT_SIMULATED_SYMBOLS.length);
  for (const s of ['BINANCE:BTCUSDT', 'BINANCE:ETHUSDT', 'AAPL', 'MSFT', 'OANDA:EUR_USD', 'IC MARKETS:1']) {
    assert.ok(DEFAULT_SIMULATED_SYMBOLS.includes(s), s);
  }
});

test('generator: symbols outside the catalog still get a sane model', () => {
  const trades = createTradeGenerator(['KRAKEN:XBTUSD', 'ZZZZ', 'FXPRO:EURUSD'], 3, START).nextBatch(3000);
  assert.equal(new Set(trades.map((t) => t.s)).size, 3);
  for (const t of trades) assert.ok(t.p > 0 && t.v >= 0);
});
