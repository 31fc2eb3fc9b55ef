import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LIMITS } from '../../../../src/core/limits';
import { codecs, type Trade } from '../../../../src/core/serde';
import { decodeTrade } from '../../../../src/core/stores/records';
import { tradeLine } from '../../../../src/core/stores/mysql/sql';
import { appendTradeLine, fastPathEnabled, LineBuffer } from '../../../../src/core/stores/mysql/trade-lines';
import { WriteBatch } from '../../../../src/core/stores/mysql/batch';

/** The exact path: avsc decode + validation, then tradeLine; null when the record is poison. */
function exactLine(bytes: Buffer): string | null {
  try {
    return tradeLine(decodeTrade(bytes));
  } catch {
    return null;
  }
}

/** The fast path's line, or null when it leaves the record to the exact path. */
function fastLine(bytes: Buffer): string | null {
  const out = new LineBuffer();
  out.appendText('before\n');
  const ok = appendTradeLine(out, bytes);
  const text = out.bytes.subarray(0, out.length).toString('utf8');
  assert.ok(text.startsWith('before\n'), 'earlier lines are kept');
  if (!ok) {
    assert.equal(text, 'before\n', 'a record it leaves alone adds nothing');
    return null;
  }
  return text.slice('before\n'.length);
}

/** A deterministic pseudo-random sequence (xorshift), so a failure can be reproduced. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

const base: Trade = {
  id: '0b7c5f0e-8d1a-5c4e-9f7a-1234567890ab',
  symbol: 'BINANCE:BTCUSDT',
  price: 43_210.5,
  volume: 0.0012,
  trade_timestamp: Date.UTC(2024, 1, 29, 23, 59, 59, 999),
  ingest_timestamp: Date.UTC(2024, 2, 1),
  trade_conditions: ['1', '12'],
};

test('the trade-line transcoder matches trade.avsc', () => {
  assert.equal(
    fastPathEnabled(),
    true,
    'trade.avsc changed shape: update trade-lines.ts (until then every trade takes the slower exact path)',
  );
});

test('common trades: the fast path renders exactly the line of the exact path', () => {
  const next = random(42);
  const pick = <T>(xs: T[]) => xs[Math.floor(next() * xs.length)];
  const doubles = () =>
    pick([0, -0, 1, 0.1, 1e21, 1e-7, 5e-324, Number.MAX_VALUE, -12.75, next() * 1e5, next() * 1e-3, Math.round(next() * 1e6) / 100]);
  // Times and symbols within LIMITS (outside them is poison: see the LIMITS test below).
  const times = () =>
    pick([0, 1, 86_399_999, LIMITS.tradeTimeMaxMs, Math.floor(next() * 2e12), Math.floor(next() * LIMITS.tradeTimeMaxMs)]);
  const texts = () => pick(['a', 'AAPL', 'OANDA:EUR_USD', " ~!#$%&'()*+,-./:;<=>?@[]^_`{|}", 'x'.repeat(LIMITS.symbolMaxLength)]);
  for (let i = 0; i < 3_000; i++) {
    const trade: Trade = {
      id: pick([base.id, texts(), 'x'.repeat(300)]),
      symbol: texts(),
      price: doubles(),
      volume: doubles(),
      trade_timestamp: times(),
      ingest_timestamp: times(),
      trade_conditions: Array.from({ length: Math.floor(next() * 4) }, () => pick(['', '1', '12', 'T', texts()])),
    };
    const bytes = codecs().trade.encode(trade);
    assert.equal(fastLine(bytes), exactLine(bytes), JSON.stringify(trade));
    assert.notEqual(fastLine(bytes), null, `the fast path handles ${JSON.stringify(trade)}`);
  }
});

test('anything unusual is left to the exact path, which escapes it or names the poison', () => {
  const cases: Trade[] = [
    { ...base, symbol: 'tab\there' },
    { ...base, symbol: 'back\\slash' },
    { ...base, symbol: '\\N' },
    { ...base, symbol: 'nul\u0000' },
    { ...base, symbol: 'Zürich' },
    { ...base, id: 'new\nline' },
    { ...base, trade_conditions: ['"quoted"'] },
    { ...base, trade_conditions: ['é'] },
    { ...base, trade_conditions: ['a\\b'] },
    { ...base, trade_timestamp: 1e15 },
    { ...base, ingest_timestamp: -1e15 },
    { ...base, trade_timestamp: 8.64e15 + 1 },
    { ...base, id: '' },
    { ...base, symbol: '' },
    { ...base, price: NaN },
    { ...base, volume: Infinity },
  ];
  for (const trade of cases) {
    const bytes = codecs().trade.encode(trade);
    assert.equal(fastLine(bytes), null, JSON.stringify(trade));
  }
  // And the exact path still renders the renderable ones (escaped) and refuses the poison.
  assert.equal(exactLine(codecs().trade.encode({ ...base, symbol: 'tab\there' }))?.split('\t')[1], 'tab\\there');
  assert.equal(exactLine(codecs().trade.encode({ ...base, price: NaN })), null);
});

test('LIMITS: over-long symbols and times outside 1970..9999 are poison on both paths, with a reason naming the limit', () => {
  const edge = codecs().trade.encode({ ...base, symbol: 'x'.repeat(LIMITS.symbolMaxLength), trade_timestamp: LIMITS.tradeTimeMaxMs });
  assert.notEqual(fastLine(edge), null, 'the limits themselves are accepted');
  assert.equal(fastLine(edge), exactLine(edge));
  const cases: [Trade, RegExp][] = [
    [{ ...base, symbol: 'x'.repeat(LIMITS.symbolMaxLength + 1) }, /symbol is 129 characters long; at most 128/],
    [{ ...base, symbol: 'S'.repeat(200) }, /symbol is 200 characters/],
    [{ ...base, symbol: 'é'.repeat(LIMITS.symbolMaxLength + 1) }, /symbol is 129 characters/],
    [{ ...base, trade_timestamp: LIMITS.tradeTimeMaxMs + 1 }, /trade_timestamp .* outside 1970-01-01T00:00:00.000Z \.\. 9999-12-31/],
    [{ ...base, trade_timestamp: Date.UTC(10000, 0, 1) }, /trade_timestamp/],
    [{ ...base, trade_timestamp: -1 }, /trade_timestamp -1 is outside/],
    [{ ...base, ingest_timestamp: -86_400_000 }, /ingest_timestamp/],
  ];
  for (const [trade, reason] of cases) {
    const bytes = codecs().trade.encode(trade);
    assert.equal(fastLine(bytes), null, JSON.stringify(trade).slice(0, 80));
    assert.throws(() => decodeTrade(bytes), reason);
  }
  // Emoji count as one character each, as MySQL counts them: 128 of them fit the column.
  assert.equal(decodeTrade(codecs().trade.encode({ ...base, symbol: '🚀'.repeat(LIMITS.symbolMaxLength) })).symbol.length, 256);
});

test('truncated, padded and malformed bytes never render a line', () => {
  const good = codecs().trade.encode(base);
  for (let n = 0; n < good.length; n++) assert.equal(fastLine(good.subarray(0, n)), null, `truncated to ${n} bytes`);
  assert.equal(fastLine(Buffer.concat([good, Buffer.from([0])])), null, 'a trailing byte');
  assert.equal(fastLine(Buffer.from([0x01])), null, 'a negative string length');
  assert.equal(fastLine(Buffer.alloc(0)), null, 'empty');
  // Random bytes and random corruptions of a good record: whatever the fast path renders, the exact path renders the same.
  const next = random(7);
  for (let i = 0; i < 5_000; i++) {
    const bytes = Buffer.from(good);
    for (let k = 0; k < 1 + Math.floor(next() * 3); k++) bytes[Math.floor(next() * bytes.length)] = Math.floor(next() * 256);
    const fast = fastLine(bytes);
    if (fast !== null) assert.equal(fast, exactLine(bytes), bytes.toString('hex'));
  }
});

test('varint edge cases: too large, padded, huge counts and bogus block sizes are left to the exact path', () => {
  const zigzag = (n: bigint): Buffer => {
    let z = n >= 0n ? n * 2n : -n * 2n - 1n;
    const bytes: number[] = [];
    do {
      bytes.push(Number(z & 0x7fn) | (z > 0x7fn ? 0x80 : 0));
      z >>= 7n;
    } while (z > 0n);
    return Buffer.from(bytes);
  };
  const str = (s: string) => Buffer.concat([zigzag(BigInt(s.length)), Buffer.from(s, 'latin1')]);
  const dbl = (x: number) => {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(x);
    return b;
  };
  const record = (fields: { time?: Buffer; conditions?: Buffer } = {}) =>
    Buffer.concat([
      str('id-1'),
      str('AAPL'),
      dbl(1.5),
      dbl(2),
      fields.time ?? zigzag(1_700_000_000_000n),
      zigzag(1_700_000_000_001n),
      fields.conditions ?? Buffer.from([0]),
    ]);
  assert.notEqual(fastLine(record()), null, 'the hand-built record itself is fine');
  assert.equal(fastLine(record()), exactLine(record()));
  for (const [what, bytes] of [
    ['a time of 2^53 + 1', record({ time: zigzag(2n ** 53n + 1n) })],
    ['a time of -(2^62)', record({ time: zigzag(-(2n ** 62n)) })],
    ['a 9-byte padded varint', record({ time: Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]) })],
    ['a huge block count', record({ conditions: Buffer.concat([zigzag(2n ** 40n), str('1'), Buffer.from([0])]) })],
    ['a negative count with a truncated size', record({ conditions: Buffer.from([0x03]) })],
    [
      'a negative count whose items run past the end',
      record({ conditions: Buffer.concat([zigzag(-3n), zigzag(4n), str('1'), Buffer.from([0])]) }),
    ],
  ] as const) {
    assert.equal(fastLine(bytes), null, what);
  }
  // A condition "\N" (LOAD DATA's NULL) contains a backslash: the exact path escapes it.
  const slashN = codecs().trade.encode({ ...base, trade_conditions: ['\\N'] });
  assert.equal(fastLine(slashN), null);
  assert.match(exactLine(slashN)!, /\t\["\\\\\\\\N"\]\n$/);
});

test('arrays written in blocks with byte sizes (negative counts) read the same', () => {
  // trade_conditions as one block of -2 items with its byte size, as other Avro writers may encode it.
  const withoutConditions = codecs()
    .trade.encode({ ...base, trade_conditions: [] })
    .subarray(0, -1);
  const items = Buffer.from([0x02, 0x31, 0x04, 0x31, 0x32]); // "1", "12"
  const bytes = Buffer.concat([withoutConditions, Buffer.from([0x03, items.length * 2]), items, Buffer.from([0x00])]);
  assert.deepEqual(decodeTrade(bytes).trade_conditions, ['1', '12']);
  assert.equal(fastLine(bytes), exactLine(bytes));
  assert.notEqual(fastLine(bytes), null);
});

test('a write batch keeps trades as lines and as sources to decode again for the INSERT path', () => {
  const batch = new WriteBatch<string>(true);
  const odd = { ...base, id: 'odd', symbol: 'tab\there' };
  batch.addTradeAvro(codecs().trade.encode(base), 'a');
  batch.addTradeAvro(codecs().trade.encode(odd), 'b');
  batch.addTrade({ ...base, id: 'c' }, 'c');
  assert.throws(() => batch.addTradeAvro(codecs().trade.encode({ ...base, price: NaN }), 'poison'), /price is NaN/);
  assert.equal(batch.tradeCount, 3);
  assert.equal(
    batch.lines!.bytes.subarray(0, batch.lines!.length).toString('utf8'),
    tradeLine(base) + tradeLine(odd) + tradeLine({ ...base, id: 'c' }),
  );
  const plain = ({ decoded, failed }: ReturnType<typeof batch.trades>) => ({
    decoded: decoded.map(({ trade, ref }) => ({ trade: { ...trade }, ref })),
    failed,
  });
  assert.deepEqual(plain(batch.trades()), {
    decoded: [
      { trade: base, ref: 'a' },
      { trade: odd, ref: 'b' },
      { trade: { ...base, id: 'c' }, ref: 'c' },
    ],
    failed: [],
  });
  const pieces = batch.lines!.pieces(10);
  assert.ok(pieces.every((p) => p.length <= 10));
  assert.equal(Buffer.concat(pieces).toString('utf8'), batch.lines!.bytes.subarray(0, batch.lines!.length).toString('utf8'));

  const objects = new WriteBatch<string>(false);
  objects.addTradeAvro(codecs().trade.encode(base), 'a');
  assert.equal(objects.lines, null);
  assert.deepEqual(plain(objects.trades()).decoded, [{ trade: base, ref: 'a' }]);
});
