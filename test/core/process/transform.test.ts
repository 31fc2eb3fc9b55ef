import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { decodeRawRecord, tradeId, tradeLimitProblem, TRADE_ID_NAMESPACE, type RawRecordRef } from '../../../src/core/process/transform';
import { LIMITS } from '../../../src/core/limits';
import { codecs, type RawTrade } from '../../../src/core/serde';

const record = (data: RawTrade[], over: Partial<RawRecordRef> = {}, type = 'trade'): RawRecordRef => ({
  topic: 'trades',
  partition: 2,
  offset: '41',
  key: Buffer.from(data[0]?.s ?? 'AAPL'),
  timestamp: '1700000000123',
  value: codecs().raw.encode({ data, type }),
  ...over,
});
const t = (over: Partial<RawTrade> = {}): RawTrade => ({ s: 'AAPL', p: 190.5, t: 1_700_000_000_000, v: 3, c: null, ...over });

test('trade id: RFC 4122 v5 of topic/partition/offset/index, computed independently', () => {
  const ns = Buffer.from(TRADE_ID_NAMESPACE.replace(/-/g, ''), 'hex');
  const h = createHash('sha1')
    .update(Buffer.concat([ns, Buffer.from('trades/2/41/0')]))
    .digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  const expected = [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join('-');
  assert.equal(tradeId('trades', 2, '41', 0), expected);
  assert.match(expected, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(tradeId('trades', 2, '41', 1), expected);
  assert.notEqual(tradeId('trades', 2, '4', 10), tradeId('trades', 2, '41', 0));
});

test('a frame becomes trades: ids by position, ingest time from the record, conditions without nulls', () => {
  const d = decodeRawRecord(record([t({ c: ['1', null, '12'] }), t(), t({ c: [] })]));
  assert.ok(d.ok);
  assert.equal(d.trades.length, 3, 'identical trades stay separate trades');
  assert.deepEqual(d.trades[0], {
    id: tradeId('trades', 2, '41', 0),
    symbol: 'AAPL',
    price: 190.5,
    volume: 3,
    trade_timestamp: 1_700_000_000_000,
    ingest_timestamp: 1_700_000_000_123,
    trade_conditions: ['1', '12'],
  });
  assert.deepEqual(
    d.trades.map((x) => x.trade_conditions),
    [['1', '12'], [], []],
  );
  assert.equal(new Set(d.trades.map((x) => x.id)).size, 3);
});

test('unusable records are rejected with a reason', () => {
  const reasons = [
    decodeRawRecord(record([t()], { value: Buffer.from('not avro at all') })),
    decodeRawRecord(record([t()], { value: null })),
    decodeRawRecord(record([t()], {}, 'ping')),
    decodeRawRecord(record([t({ s: 'MSFT' })], { key: Buffer.from('AAPL') })),
    decodeRawRecord(record([t({ p: NaN })])),
    decodeRawRecord(record([t({ v: -1 })])),
    decodeRawRecord(record([t({ t: 0 })])),
  ].map((d) => (d.ok ? 'ok' : d.reason));
  assert.match(reasons[0], /not a valid .* Avro record/);
  assert.match(reasons[1], /no value/);
  assert.match(reasons[2], /type is "ping"/);
  assert.match(reasons[3], /differs from the record key "AAPL"/);
  assert.match(reasons[4], /price NaN/);
  assert.match(reasons[5], /volume -1/);
  assert.match(reasons[6], /data\[0\]\.t/);
});

test('the symbol filter drops other symbols without judging their records', () => {
  const keep = (s: string) => s === 'AAPL';
  const other = decodeRawRecord(record([t({ s: 'MSFT', p: NaN })]), keep);
  assert.deepEqual(other, { ok: true, trades: [], rejected: [] });
  const mine = decodeRawRecord(record([t()]), keep);
  assert.ok(mine.ok && mine.trades.length === 1);
});

test('a record without a key (producers other than finpipe) is accepted', () => {
  const d = decodeRawRecord(record([t()], { key: null }));
  assert.ok(d.ok && d.trades.length === 1);
});

test('trade limits: symbol length, the times the stores hold, and --max-future from the wall clock', () => {
  const now = Date.UTC(2024, 0, 1);
  const ok = (over: Partial<RawTrade>) => tradeLimitProblem(t(over), now, 60_000);
  assert.equal(ok({ t: now }), null);
  assert.equal(ok({ t: now + 60_000 }), null, 'exactly max-future ahead is still fine');
  assert.equal(ok({ t: 1 }), null);
  assert.equal(ok({ s: 'x'.repeat(LIMITS.symbolMaxLength) }), null);
  assert.match(ok({ s: 'x'.repeat(LIMITS.symbolMaxLength + 1) })!, /^s: symbol "x+…" is 129 characters long; at most 128/);
  assert.match(
    ok({ t: now + 60_001 })!,
    /^t: 2024-01-01T00:01:00\.001Z is 1\.0 min ahead of the wall clock .*at most 1\.0 min .*--max-future/,
  );
  const century = Date.UTC(2124, 0, 1);
  assert.match(ok({ t: century })!, /^t: 2124-01-01T00:00:00\.000Z is \d+\.\d days ahead/);
  assert.match(
    ok({ t: Date.UTC(10_000, 0, 1) })!,
    /outside the times the stores can hold \(1970-01-01T00:00:00\.000Z to 9999-12-31T23:59:59\.999Z\)/,
  );
  assert.match(tradeLimitProblem(t({ t: -5 }), now, 60_000)!, /outside/);
  assert.equal(tradeLimitProblem(t({ t: century }), now, century), null, 'a larger --max-future lets it through');
});

test('a check refuses single trades: the others of the record go on, the reasons name each trade', () => {
  const now = Date.UTC(2024, 0, 1);
  const record3 = record([t({ t: now - 1_000 }), t({ t: Date.UTC(2124, 0, 1) }), t({ t: now, p: 1 })]);
  const d = decodeRawRecord(record3, undefined, (x) => tradeLimitProblem(x, now, 60_000));
  assert.ok(d.ok);
  assert.deepEqual(
    d.trades.map((x) => x.id),
    [tradeId('trades', 2, '41', 0), tradeId('trades', 2, '41', 2)],
    'ids keep their position in the record',
  );
  assert.equal(d.rejected.length, 1);
  assert.match(d.rejected[0], /^data\[1\]\.t: 2124-01-01/);
  const all = decodeRawRecord(record([t({ s: 'BAD' })]), undefined, () => 's: no topic');
  assert.deepEqual(all, { ok: true, trades: [], rejected: ['data[0].s: no topic'] });
  const filtered = decodeRawRecord(
    record([t({ s: 'BAD' })]),
    (s) => s !== 'BAD',
    () => 'never asked',
  );
  assert.deepEqual(filtered, { ok: true, trades: [], rejected: [] }, 'filtered-out symbols are not checked');
});
