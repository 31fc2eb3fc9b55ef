/**
 * The limits checked at the door (src/core/limits.ts through sources/trade-limits.ts): each
 * one refuses the trade with a reason naming the field, the number and what to do; a
 * refused trade does not take the good trades of its frame with it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LIMITS } from '../../../src/core/limits';
import { parseFrame, validateTrades } from '../../../src/core/sources/frames';
import { symbolProblem, timeProblem, tradeLimitProblem, type TradeLimits } from '../../../src/core/sources/trade-limits';
import { parseTradesBody } from '../../../src/core/sources/http';
import { createTradeGenerator, DEFAULT_SIMULATED_SYMBOLS } from '../../../src/core/simulator';

const NOW = Date.UTC(2026, 10, 26, 12, 0, 0);
const LIMITS_HERE: TradeLimits = { maxFutureMs: 60_000, reservedTopics: ['trades', 'finpipe.dlq', 'trades.late'] };
const good = { s: 'BINANCE:BTCUSDT', p: 60000.5, t: NOW - 1000, v: 0.01, c: ['1', '12'] };
const problem = (trade: Partial<typeof good> & Record<string, unknown>) =>
  tradeLimitProblem({ ...good, ...trade }, 'data[0]', LIMITS_HERE, NOW);

test('symbols: too long, or written to a topic finpipe or Kafka reserves (also through "." / "_" collisions)', () => {
  assert.equal(problem({}), null);
  assert.equal(problem({ s: 'A'.repeat(LIMITS.symbolMaxLength) }), null, 'exactly at the limit is fine');
  assert.match(
    problem({ s: 'A'.repeat(LIMITS.symbolMaxLength + 1) })!,
    /^data\[0\]\.s: symbol "A{40}\.\.\." is 129 characters long; at most 128/,
  );
  assert.match(
    problem({ s: 'trades' })!,
    /^data\[0\]\.s: symbol "trades" would be written to the topic "trades", reserved for finpipe's own topic "trades"; rename/,
  );
  assert.match(problem({ s: 'finpipe.dlq' })!, /topic "finpipe_dlq", reserved for finpipe's own topic "finpipe\.dlq"/);
  assert.match(problem({ s: 'trades:late' })!, /reserved for finpipe's own topic "trades\.late"/);
  assert.match(problem({ s: '__consumer_offsets' })!, /reserved for Kafka's internal topics/);
  assert.match(problem({ s: 'finpipe-process-state' })!, /reserved for process's state changelogs/);
  assert.equal(symbolProblem('IC MARKETS:1', LIMITS_HERE.reservedTopics), null);
  assert.equal(symbolProblem('OANDA:EUR_USD', LIMITS_HERE.reservedTopics), null);
});

test('trade time: within [tradeTimeMinMs, tradeTimeMaxMs] and at most --max-future ahead of the clock', () => {
  const year10000 = Date.UTC(10000, 0, 1);
  assert.match(
    problem({ t: year10000 })!,
    /^data\[0\]\.t: 253402300800000 \(\+010000-01-01T00:00:00\.000Z\) is after 9999-12-31T23:59:59\.999Z/,
  );
  assert.match(
    problem({ t: NOW + 100 * 365 * 86_400_000 })!,
    /is \d+ ms ahead of this machine's clock, more than the 60000 ms allowed; .*--max-future/,
  );
  assert.match(problem({ t: NOW + 60_001 })!, /is 60001 ms ahead/);
  assert.equal(problem({ t: NOW + 60_000 }), null, 'exactly max-future ahead is fine');
  assert.equal(timeProblem(NOW + 120_000, 300_000, NOW), null, 'a larger --max-future allows it');
  assert.match(timeProblem(-1, 60_000, NOW)!, /is before 1970-01-01T00:00:00\.000Z/);
});

test('conditions: at most conditionsMaxCount codes of at most conditionMaxLength characters', () => {
  assert.equal(problem({ c: Array.from({ length: LIMITS.conditionsMaxCount }, () => '1') }), null);
  assert.match(
    problem({ c: Array.from({ length: LIMITS.conditionsMaxCount + 1 }, () => '1') })!,
    /^data\[0\]\.c: 17 condition codes; at most 16/,
  );
  assert.match(
    problem({ c: ['1', 'x'.repeat(LIMITS.conditionMaxLength + 1)] })!,
    /^data\[0\]\.c\[1\]: condition code is 33 characters long; at most 32/,
  );
});

test('a frame: the trades breaking a limit are refused one by one, the good ones of the same frame are kept', () => {
  const frame = {
    type: 'trade',
    data: [good, { ...good, s: 'trades' }, { ...good, t: Date.UTC(10000, 0, 1) }, { ...good, p: -1 }, { ...good, s: 'AAPL' }],
  };
  const parsed = parseFrame(JSON.stringify(frame), false, LIMITS_HERE);
  assert.equal(parsed.kind, 'trade');
  if (parsed.kind !== 'trade') return;
  assert.deepEqual(
    parsed.trades.map((x) => x.s),
    ['BINANCE:BTCUSDT', 'AAPL'],
  );
  assert.deepEqual(parsed.problems, ['data[3].p: must be a finite number > 0, not -1'], 'malformed trades are reported as before');
  assert.deepEqual(
    parsed.refused.map((r) => r.item),
    [frame.data[1], frame.data[2]],
    'the refused trades as received',
  );
  assert.match(parsed.refused[0].reason, /^data\[1\]\.s: /);
  assert.match(parsed.refused[1].reason, /^data\[2\]\.t: /);
  // Only refused trades: still a trade frame (nothing malformed in it), nothing to write.
  const onlyRefused = parseFrame(JSON.stringify({ type: 'trade', data: [{ ...good, s: '__x' }] }), false, LIMITS_HERE);
  assert.equal(onlyRefused.kind, 'trade');
});

test('an HTTP body is all or nothing: a trade breaking a limit refuses the request with its reason', () => {
  const body = Buffer.from(JSON.stringify([good, { ...good, t: Date.UTC(10000, 0, 1) }]));
  const { trades, reasons } = parseTradesBody(body, LIMITS_HERE, NOW);
  assert.equal(trades.length, 1);
  assert.equal(reasons.length, 1);
  assert.match(reasons[0], /^\[1\]\.t: .* is after 9999-12-31/);
  assert.deepEqual(parseTradesBody(Buffer.from('[]'), LIMITS_HERE, NOW).reasons, ['body: must not be an empty array']);
});

test('the limits refuse nothing the simulator generates (its symbols, conditions and times)', () => {
  const now = Date.now();
  const generated = createTradeGenerator(DEFAULT_SIMULATED_SYMBOLS, 1, now - 3_600_000).nextBatch(50_000);
  const { trades, problems, refused } = validateTrades(
    generated,
    'data',
    { ...LIMITS_HERE, reservedTopics: ['trades', 'finpipe.dlq'] },
    now,
  );
  assert.deepEqual(problems, []);
  assert.deepEqual(refused, []);
  assert.equal(trades.length, 50_000);
});
