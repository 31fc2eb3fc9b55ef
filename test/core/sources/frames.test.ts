import { test } from 'node:test';
import assert from 'node:assert/strict';
import { groupBySymbol, parseFrame, validateTrades } from '../../../src/core/sources/frames';
import { buildMalformed, MALFORMED_KINDS } from '../../../src/core/simulator/malformed';

const T = 1_718_000_000_123;
const good = { s: 'BINANCE:BTCUSDT', p: 60000.5, t: T, v: 0.01, c: ['1', '12'] };

test('a trade frame yields its trades; an absent c becomes null', () => {
  const parsed = parseFrame(Buffer.from(JSON.stringify({ type: 'trade', data: [good, { s: 'AAPL', p: 190, t: T + 1, v: 0 }] })));
  assert.deepEqual(parsed, {
    kind: 'trade',
    trades: [
      { s: 'BINANCE:BTCUSDT', p: 60000.5, t: T, v: 0.01, c: ['1', '12'] },
      { s: 'AAPL', p: 190, t: T + 1, v: 0, c: null },
    ],
    problems: [],
    refused: [],
  });
});

test('ping and error frames are recognised, not rejected', () => {
  assert.deepEqual(parseFrame('{"type":"ping"}'), { kind: 'ping' });
  assert.deepEqual(parseFrame('{"type":"error","msg":"Subscribing to too many symbols"}'), {
    kind: 'error',
    message: 'Subscribing to too many symbols',
  });
});

test('good trades of a frame survive its bad ones; every bad field is named with its index', () => {
  const frame = { type: 'trade', data: [good, { ...good, p: -1, v: 'x' }, { ...good, s: 'ETH' }, { ...good, t: 1.5 }] };
  const parsed = parseFrame(JSON.stringify(frame));
  assert.equal(parsed.kind, 'trade');
  if (parsed.kind !== 'trade') return;
  assert.deepEqual(
    parsed.trades.map((t) => t.s),
    ['BINANCE:BTCUSDT', 'ETH'],
  );
  assert.deepEqual(parsed.problems, [
    'data[1].p: must be a finite number > 0, not -1',
    'data[1].v: must be a finite number >= 0, not "x" (a string)',
    'data[3].t: must be an integer time in ms since the epoch, not 1.5',
  ]);
});

test('specific reasons for each kind of bad input', () => {
  const reasons = (frame: unknown, binary = false) => {
    const parsed = parseFrame(typeof frame === 'string' ? frame : JSON.stringify(frame), binary);
    return parsed.kind === 'invalid' ? parsed.problems : parsed.kind === 'trade' ? parsed.problems : [];
  };
  assert.match(reasons('{"type":"trade",')[0], /^frame: invalid JSON \(/);
  assert.deepEqual(reasons('[1]'), ['frame: must be a JSON object, not an array']);
  assert.deepEqual(reasons({ type: 'quote', data: [] }), ['type: unknown message type "quote" (expected trade, ping or error)']);
  assert.deepEqual(reasons({ data: [] }), ['type: must be a string, not missing']);
  assert.deepEqual(reasons({ type: 'trade' }), ['data: must be an array of trades, not missing']);
  assert.deepEqual(reasons({ type: 'trade', data: [] }), ['data: must not be empty']);
  assert.deepEqual(reasons({ type: 'trade', data: [good] }, true), ['frame: binary frame; Finnhub sends JSON text frames']);
  assert.deepEqual(reasons({ type: 'trade', data: [null] }), ['data[0]: must be an object with s, p, t, v, not null']);
  assert.deepEqual(reasons({ type: 'trade', data: [{ ...good, s: 42 }] }), ['data[0].s: must be a non-empty string, not 42']);
  assert.deepEqual(reasons({ type: 'trade', data: [{ ...good, s: ' ' }] }), ['data[0].s: must be a non-empty string, not " " (a string)']);
  assert.deepEqual(reasons({ type: 'trade', data: [{ ...good, p: 0 }] }), ['data[0].p: must be a finite number > 0, not 0']);
  assert.deepEqual(reasons('{"type":"trade","data":[{"s":"A","p":1e999,"t":1718000000000,"v":1}]}'), [
    'data[0].p: must be a finite number > 0, not Infinity',
  ]);
  assert.deepEqual(reasons({ type: 'trade', data: [{ ...good, v: null }] }), ['data[0].v: must be a finite number >= 0, not null']);
  assert.deepEqual(reasons({ type: 'trade', data: [{ ...good, v: -0.5 }] }), ['data[0].v: must be a finite number >= 0, not -0.5']);
  assert.deepEqual(reasons({ type: 'trade', data: [{ ...good, t: '2024-06-10T00:00:00Z' }] }), [
    'data[0].t: must be an integer time in ms since the epoch, not "2024-06-10T00:00:00Z" (a string)',
  ]);
  assert.deepEqual(reasons({ type: 'trade', data: [{ ...good, t: 1718000000 }] }), [
    'data[0].t: 1718000000 is before 1973 in ms; Finnhub sends milliseconds, was it seconds?',
  ]);
  assert.deepEqual(reasons({ type: 'trade', data: [{ ...good, c: '1' }] }), [
    'data[0].c: must be absent, null or an array of strings, not "1" (a string)',
  ]);
  assert.deepEqual(reasons({ type: 'trade', data: [{ ...good, c: [1] }] }), [
    'data[0].c: must be absent, null or an array of strings, not an array',
  ]);
  assert.deepEqual(reasons({ type: 'trade', data: [{ p: 1, t: T, v: 1 }] }), ['data[0].s: must be a non-empty string, not missing']);
});

test('every malformed frame the simulator can send is rejected (and nothing else about it is accepted)', () => {
  const base = { s: 'BINANCE:ETHUSDT', p: 3000.25, t: T, v: 1.5, c: ['1'] };
  for (let k = 0; k < MALFORMED_KINDS.length; k++) {
    const frame = buildMalformed(base, (k + 0.5) / MALFORMED_KINDS.length);
    const parsed = parseFrame(Buffer.isBuffer(frame.data) ? frame.data : Buffer.from(frame.data), frame.binary);
    assert.equal(parsed.kind, 'invalid', `${frame.kind} should be rejected, got ${JSON.stringify(parsed)}`);
    if (parsed.kind === 'invalid')
      assert.ok(
        parsed.problems.length > 0 && parsed.problems.every((p) => /^(frame|type|data)/.test(p)),
        `${frame.kind}: ${parsed.problems.join(',')}`,
      );
  }
});

test('validateTrades prefixes reasons with the given path (HTTP bodies use [i])', () => {
  const { trades, problems } = validateTrades([good, { ...good, p: 'NaN' }], '');
  assert.equal(trades.length, 1);
  assert.deepEqual(problems, ['[1].p: must be a finite number > 0, not "NaN" (a string)']);
});

test("groupBySymbol keeps first-seen symbol order and each symbol's trade order", () => {
  const trades = [
    { s: 'B', p: 1, t: 3, v: 1, c: null },
    { s: 'A', p: 2, t: 1, v: 1, c: null },
    { s: 'B', p: 3, t: 2, v: 1, c: null },
  ];
  const groups = groupBySymbol(trades);
  assert.deepEqual([...groups.keys()], ['B', 'A']);
  assert.deepEqual(
    groups.get('B')!.map((t) => t.p),
    [1, 3],
  );
});
