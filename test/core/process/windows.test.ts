import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SymbolWindows, windowStart, type WindowConfig, type PricePoint, type SymbolSnapshot } from '../../../src/core/process/windows';
import type { Candle } from '../../../src/core/serde';

const T0 = 1_699_999_980_000; // a multiple of 1 s, 10 s and 1 m
const cfg = (over: Partial<WindowConfig> = {}): WindowConfig => ({ sizes: [10_000], latenessMs: 15_000, emit: 'update', ...over });
const tr = (time: number, price: number, volume = 1): PricePoint => ({ time, price, volume });

test('windows are aligned to the epoch', () => {
  assert.equal(windowStart(T0 + 9_999, 10_000), T0);
  assert.equal(windowStart(T0 + 10_000, 10_000), T0 + 10_000);
  assert.equal(windowStart(T0 + 59_999, 60_000), T0);
  assert.equal(windowStart(1_700_000_012_345, 1_000), 1_700_000_012_000);
});

test('a candle: OHLC by event time with stream-order ties, volume, vwap, count, mean price, version = count', () => {
  const w = new SymbolWindows('S', cfg());
  w.add(tr(T0 + 5_000, 10, 2));
  w.add(tr(T0 + 1_000, 11, 1)); // earlier event time -> new open
  w.add(tr(T0 + 1_000, 12, 1)); // tie on open time: the earlier trade stays open
  w.add(tr(T0 + 9_000, 9, 3)); // latest -> close
  w.add(tr(T0 + 9_000, 8, 0)); // tie on close time: the later trade closes
  const [c] = w.drain();
  assert.deepEqual(c, {
    symbol: 'S',
    window_ms: 10_000,
    window_start: T0,
    window_end: T0 + 10_000,
    open: 11,
    high: 12,
    low: 8,
    close: 8,
    volume: 7,
    vwap: (10 * 2 + 11 + 12 + 9 * 3 + 0) / 7,
    trade_count: 5,
    avg_price: (10 + 11 + 12 + 9 + 8) / 5,
    is_final: false,
    version: 5,
  } satisfies Candle);
});

test('vwap is null when the window has no volume', () => {
  const w = new SymbolWindows('S', cfg());
  w.add(tr(T0, 10, 0));
  assert.equal(w.drain()[0].vwap, null);
});

test('late means window_end <= watermark (newest event time - lateness), checked before the trade', () => {
  const w = new SymbolWindows('S', cfg());
  assert.equal(w.add(tr(T0 + 25_000, 1)), null); // watermark now T0 + 10 s
  assert.equal(w.watermark(), T0 + 10_000);
  // window [T0, T0+10s) ends exactly at the watermark: closed
  assert.deepEqual(w.add(tr(T0 + 9_999, 1)), { watermark: T0 + 10_000, missed: [10_000] });
  // window [T0+10s, T0+20s) ends after the watermark: still open, out of order is fine
  assert.equal(w.add(tr(T0 + 10_000, 1)), null);
  const candles = w.drain();
  assert.deepEqual(
    candles.map((c) => [c.window_start, c.trade_count, c.is_final]),
    [
      [T0 + 10_000, 1, false],
      [T0 + 20_000, 1, false],
    ],
  );
});

test('the first trade of a symbol is never late, whatever its time', () => {
  const w = new SymbolWindows('S', cfg());
  assert.equal(w.add(tr(1_000, 1)), null);
});

test('a trade late for a small window still counts in a larger one that is open', () => {
  const w = new SymbolWindows('S', cfg({ sizes: [1_000, 60_000], latenessMs: 2_000 }));
  w.add(tr(T0 + 10_000, 1));
  const late = w.add(tr(T0 + 7_500, 2)); // 1 s window [7s,8s) ended before watermark 8 s
  assert.deepEqual(late, { watermark: T0 + 8_000, missed: [1_000] });
  const minute = w.drain().find((c) => c.window_ms === 60_000)!;
  assert.equal(minute.trade_count, 2);
});

test('update mode: changed windows each drain, a final (version = count + 1) when the watermark passes the end', () => {
  const w = new SymbolWindows('S', cfg({ latenessMs: 5_000 }));
  w.add(tr(T0 + 1_000, 10));
  assert.deepEqual(
    w.drain().map((c) => [c.version, c.is_final]),
    [[1, false]],
  );
  assert.deepEqual(w.drain(), [], 'nothing changed, nothing emitted');
  w.add(tr(T0 + 2_000, 11));
  w.add(tr(T0 + 14_999, 12)); // watermark T0 + 9_999: not yet closed
  assert.deepEqual(
    w.drain().map((c) => [c.window_start, c.version, c.is_final]),
    [
      [T0, 2, false],
      [T0 + 10_000, 1, false],
    ],
  );
  w.add(tr(T0 + 15_000, 13)); // watermark T0 + 10 s = end of the first window
  const out = w.drain();
  assert.deepEqual(
    out.map((c) => [c.window_start, c.version, c.is_final, c.trade_count]),
    [
      [T0, 3, true, 2],
      [T0 + 10_000, 2, false, 2],
    ],
  );
  assert.equal(w.openWindows(), 1);
});

test('final mode: only closed windows, once', () => {
  const w = new SymbolWindows('S', cfg({ emit: 'final', latenessMs: 0 }));
  w.add(tr(T0 + 1_000, 10));
  w.add(tr(T0 + 2_000, 12));
  assert.deepEqual(w.drain(), []);
  w.add(tr(T0 + 10_000, 11));
  const out = w.drain();
  assert.equal(out.length, 1);
  assert.deepEqual([out[0].window_start, out[0].is_final, out[0].version, out[0].open, out[0].close], [T0, true, 3, 10, 12]);
  w.add(tr(T0 + 10_500, 11));
  assert.deepEqual(w.drain(), []);
});

/** A small deterministic PRNG so the property tests are reproducible. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
}

function randomTrades(n: number, seed: number): PricePoint[] {
  const rnd = prng(seed);
  const out: PricePoint[] = [];
  let t = T0;
  for (let i = 0; i < n; i++) {
    t += Math.floor(rnd() * 800);
    // a fifth of the trades arrive up to 40 s out of order: some within lateness, some not
    const time = rnd() < 0.2 ? t - Math.floor(rnd() * 40_000) : t;
    out.push(tr(time, Math.round(100 + rnd() * 10) / 4, Math.floor(rnd() * 5)));
  }
  return out;
}

function finals(candles: Candle[]): Map<string, Candle> {
  const m = new Map<string, Candle>();
  for (const c of candles) if (c.is_final) m.set(`${c.window_ms}:${c.window_start}`, c);
  return m;
}

test('final candles do not depend on how the stream is cut into transactions', () => {
  const config = cfg({ sizes: [1_000, 10_000, 60_000] });
  const trades = randomTrades(3_000, 7);
  const one = new SymbolWindows('S', config);
  trades.forEach((t) => one.add(t));
  const whole = one.drain();
  const rnd = prng(99);
  const cut = new SymbolWindows('S', config);
  const pieces: Candle[] = [];
  for (const t of trades) {
    cut.add(t);
    if (rnd() < 0.3) pieces.push(...cut.drain());
  }
  pieces.push(...cut.drain());
  assert.ok(finals(whole).size > 50);
  assert.deepEqual(finals(pieces), finals(whole));
  // and every window's last version is its highest
  const last = new Map<string, Candle>();
  for (const c of pieces) {
    const key = `${c.window_ms}:${c.window_start}`;
    const prev = last.get(key);
    if (prev) assert.ok(c.version > prev.version, `versions grow for ${key}`);
    last.set(key, c);
  }
});

test('snapshot -> JSON -> restore continues exactly like an uninterrupted run (the crash case)', () => {
  const config = cfg({ sizes: [1_000, 10_000] });
  const trades = randomTrades(2_000, 3);
  const straight = new SymbolWindows('S', config);
  const straightOut: Candle[] = [];
  trades.forEach((t) => {
    straight.add(t);
    straightOut.push(...straight.drain());
  });
  let current = new SymbolWindows('S', config);
  const restartedOut: Candle[] = [];
  trades.forEach((t, i) => {
    if (i % 137 === 0) current = new SymbolWindows('S', config, JSON.parse(JSON.stringify(current.snapshot())) as SymbolSnapshot);
    current.add(t);
    restartedOut.push(...current.drain());
  });
  assert.deepEqual(restartedOut, straightOut);
  assert.deepEqual(current.snapshot(), straight.snapshot());
});

test('a restored snapshot drops window sizes that are no longer configured', () => {
  const w = new SymbolWindows('S', cfg({ sizes: [1_000, 10_000] }));
  w.add(tr(T0, 1));
  const restored = new SymbolWindows('S', cfg({ sizes: [10_000] }), w.snapshot());
  assert.deepEqual(
    restored.snapshot().windows.map((x) => x.size),
    [10_000],
  );
});
