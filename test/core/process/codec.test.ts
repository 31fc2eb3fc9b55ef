import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeTradeFast, tradeValue } from '../../../src/core/process/codec';
import { PLAIN_VALUES } from '../../../src/core/serde/registry';
import { frameHeader } from '../../../src/core/serde/framing';
import { codecs, type Trade } from '../../../src/core/serde';

/** What process writes for a trade without a Schema Registry: the fast encoder, avsc for the rest. */
const encodeTradeValue = (trade: Trade): Buffer => tradeValue(PLAIN_VALUES.writer, 'unused', null, trade);

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

const LONGS = [
  0,
  1,
  -1,
  63,
  64,
  -64,
  -65,
  2 ** 30 - 1,
  2 ** 30,
  -(2 ** 30),
  -(2 ** 30) - 1,
  2 ** 31,
  2 ** 40 + 3,
  -(2 ** 45),
  2 ** 53 - 2,
  -(2 ** 53 - 2),
];
const DOUBLES = [0, -0, 1.5, -2.25, 1e-300, 1.7976931348623157e308, Number.MIN_VALUE, NaN, Infinity, -Infinity, 61234.56];

function text(rand: () => number, max: number, alphabet = 'abcXYZ0123456789:-_. '): string {
  return Array.from({ length: Math.floor(rand() * max) }, () => alphabet[Math.floor(rand() * alphabet.length)]).join('');
}

function randomTrade(rand: () => number): Trade {
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  return {
    id: rand() < 0.9 ? `${text(rand, 8, '0123456789abcdef')}-aaaa-5bbb-8ccc-${text(rand, 12, '0123456789abcdef')}` : text(rand, 200),
    symbol: text(rand, 70),
    price: rand() < 0.7 ? rand() * 100_000 : pick(DOUBLES),
    volume: rand() < 0.7 ? rand() * 10 : pick(DOUBLES),
    trade_timestamp: rand() < 0.7 ? 1_700_000_000_000 + Math.floor(rand() * 1e10) : pick(LONGS),
    ingest_timestamp: rand() < 0.7 ? 1_700_000_000_000 + Math.floor(rand() * 1e10) : pick(LONGS),
    trade_conditions: Array.from({ length: rand() < 0.5 ? 0 : Math.floor(rand() * 200) }, () => text(rand, 5)),
  };
}

test('the fast Trade encoder writes the bytes avsc writes, on random trades', () => {
  const avsc = codecs().trade;
  for (let seed = 1; seed <= 20_000; seed++) {
    const trade = randomTrade(lcg(seed));
    const fast = encodeTradeFast(trade);
    assert.ok(fast, `seed ${seed}: the common shape takes the fast path`);
    assert.deepEqual(fast, avsc.encode(trade), `seed ${seed}`);
  }
});

test('with a frame header, the fast Trade encoder writes the header then the bytes avsc writes', () => {
  const avsc = codecs().trade;
  const header = frameHeader(4242);
  for (let seed = 1; seed <= 2_000; seed++) {
    const trade = randomTrade(lcg(seed));
    const fast = encodeTradeFast(trade, header);
    assert.ok(fast, `seed ${seed}: the common shape takes the fast path`);
    assert.deepEqual(fast, Buffer.concat([header, avsc.encode(trade)]), `seed ${seed}`);
  }
});

test('anything but the common shape is encoded by avsc', () => {
  const base: Trade = {
    id: 'id',
    symbol: 'BINANCE:BTCUSDT',
    price: 1,
    volume: 2,
    trade_timestamp: 3,
    ingest_timestamp: 4,
    trade_conditions: ['1'],
  };
  const unusual: Trade[] = [
    { ...base, symbol: 'ÄKTIE:Ü' },
    { ...base, id: 'a\u{1F600}' },
    { ...base, trade_conditions: ['é'] },
  ];
  for (const trade of unusual) {
    assert.equal(encodeTradeFast(trade), null, JSON.stringify(trade));
    assert.deepEqual(encodeTradeValue(trade), codecs().trade.encode(trade));
  }
  for (const trade of [
    { ...base, trade_timestamp: 2 ** 53 - 1 },
    { ...base, ingest_timestamp: 1.5 },
  ]) {
    assert.equal(encodeTradeFast(trade), null, JSON.stringify(trade));
    assert.throws(() => codecs().trade.encode(trade));
    assert.throws(() => encodeTradeValue(trade), 'refused as avsc refuses it');
  }
  assert.throws(() => encodeTradeValue({ ...base, symbol: 7 as unknown as string }), 'avsc still refuses what is not a Trade');
});

test('encoded values stay intact while later ones are encoded (shared slab)', () => {
  const trades = Array.from({ length: 5_000 }, (_, i) => randomTrade(lcg(100_000 + i)));
  const values = trades.map(encodeTradeValue);
  trades.forEach((t, i) => assert.deepEqual(values[i], codecs().trade.encode(t)));
});
