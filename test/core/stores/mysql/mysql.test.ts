import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FinpipeError } from '../../../../src/core/errors';
import { codecs, RECORD_TYPE_HEADER, type Candle, type Trade } from '../../../../src/core/serde';
import { identifierProblem, quoteIdentifier } from '../../../../src/core/stores/mysql/identifiers';
import {
  candleTuple,
  datetimeLiteral,
  insertTradesSql,
  latestCandles,
  tradeTuple,
  uniqueTrades,
  upsertCandlesSql,
} from '../../../../src/core/stores/mysql/sql';
import { classifyMysqlError } from '../../../../src/core/stores/mysql/errors';
import { decodeRecord, sourceString } from '../../../../src/core/stores/records';
import { validateSinkTopics } from '../../../../src/core/sink/topics';
import { loadConfig } from '../../../../src/core/config';

const trade: Trade = {
  id: '0b7c5f0e-8d1a-5c4e-9f7a-1234567890ab',
  symbol: "O'REILLY:X",
  price: 0.00001234,
  volume: 1e21,
  trade_timestamp: Date.UTC(2024, 1, 29, 23, 59, 59, 999),
  ingest_timestamp: Date.UTC(2024, 2, 1),
  trade_conditions: ['1', '"12"'],
};
const candle: Candle = {
  symbol: 'AAPL',
  window_ms: 60_000,
  window_start: Date.UTC(2024, 0, 1, 0, 1),
  window_end: Date.UTC(2024, 0, 1, 0, 2),
  open: 1,
  high: 2,
  low: 0.5,
  close: 1.5,
  volume: 10,
  vwap: null,
  trade_count: 3,
  avg_price: 1.25,
  is_final: true,
  version: 7,
};

test('identifiers: letters, digits, _ and $ up to 64 characters are quoted; anything else is refused', () => {
  assert.equal(quoteIdentifier('trades'), '`trades`');
  assert.equal(quoteIdentifier('fp_test_$1'), '`fp_test_$1`');
  for (const bad of ['x`; DROP TABLE trades', 'a b', 'a-b', 'a.b', "a'b", '', '123', 'é', 'x'.repeat(65)]) {
    assert.notEqual(identifierProblem(bad), null, bad);
    assert.throws(
      () => quoteIdentifier(bad, 'table name'),
      (e: unknown) => e instanceof FinpipeError && e.code === 'CONFIG_INVALID' && /refusing table name/.test(e.message),
    );
  }
  assert.match(identifierProblem('x`; DROP')!, /contains "`", ";", " "/);
  assert.equal(identifierProblem('x'.repeat(64)), null);
});

test('DATETIME(3) literals are UTC with milliseconds; years past 9999 are left for the database to refuse', () => {
  assert.equal(datetimeLiteral(Date.UTC(2024, 1, 29, 23, 59, 59, 999)), "'2024-02-29 23:59:59.999'");
  assert.equal(datetimeLiteral(0), "'1970-01-01 00:00:00.000'");
  assert.equal(datetimeLiteral(-1), "'1969-12-31 23:59:59.999'");
  assert.equal(datetimeLiteral(1e15), "'+033658-09-27T01:46:40.000Z'");
});

test('row tuples escape strings, keep doubles exact and render NULL and booleans', () => {
  assert.equal(
    tradeTuple(trade),
    `('0b7c5f0e-8d1a-5c4e-9f7a-1234567890ab','O\\'REILLY:X',0.00001234,1e+21,` +
      `'2024-02-29 23:59:59.999','2024-03-01 00:00:00.000','[\\"1\\",\\"\\\\\\"12\\\\\\"\\"]')`,
  );
  assert.equal(candleTuple(candle), "('AAPL',60000,'2024-01-01 00:01:00.000','2024-01-01 00:02:00.000',1,2,0.5,1.5,10,NULL,3,1.25,1,7)");
  assert.equal(Number('1e+21'), trade.volume);
});

test('trades are inserted idempotently without INSERT IGNORE (which would hide data errors)', () => {
  const sql = insertTradesSql('trades', [trade, { ...trade, id: 'x' }]);
  assert.match(
    sql,
    /^INSERT INTO `trades` \(id,symbol,price,volume,trade_timestamp,ingest_timestamp,trade_conditions\) VALUES \(.*\),\(.*\) ON DUPLICATE KEY UPDATE id = id$/,
  );
  assert.doesNotMatch(sql, /IGNORE/);
  assert.throws(() => insertTradesSql('trades`;', [trade]), /refusing table name/);
});

test('candle upserts only overwrite with a version >= the stored one, and assign version last', () => {
  const sql = upsertCandlesSql('candles', [candle]);
  const updates = sql.split(' ON DUPLICATE KEY UPDATE ')[1].split(/, (?=\w+ = )/);
  assert.equal(updates.length, 11, 'every non-key column');
  for (const u of updates) assert.match(u, /^(\w+) = IF\(VALUES\(version\) >= version, VALUES\(\1\), \1\)$/);
  assert.match(updates[updates.length - 1], /^version = /);
  assert.ok(!updates.some((u) => /^(symbol|window_ms|window_start) =/.test(u)), 'key columns are not updated');
});

test('within a batch only the newest version of a candle is kept (the later one on a tie), and duplicate trades once', () => {
  const v = (version: number, close: number, window_start = candle.window_start) => ({
    candle: { ...candle, version, close, window_start },
    ref: `${version}/${close}`,
  });
  const kept = latestCandles([v(1, 1), v(3, 3), v(2, 2), v(3, 4), v(1, 9, 0)]);
  assert.deepEqual(
    kept.map((k) => k.ref),
    ['3/4', '1/9'],
  );
  const items = [
    { trade, ref: 1 },
    { trade: { ...trade, id: 'b' }, ref: 2 },
    { trade, ref: 3 },
  ];
  assert.deepEqual(
    uniqueTrades(items).map((i) => i.ref),
    [1, 2],
  );
});

test('decodeRecord: trades and candles by header; clear reasons for everything else', () => {
  const h = (type?: string) => (type === undefined ? {} : { [RECORD_TYPE_HEADER]: Buffer.from(type) });
  const t1 = decodeRecord({ key: null, value: codecs().trade.encode(trade), headers: h('trade') });
  assert.deepEqual(t1.kind === 'trade' && { ...t1.trade }, trade);
  const c1 = decodeRecord({ key: null, value: codecs().candle.encode(candle), headers: { [RECORD_TYPE_HEADER]: 'candle' } });
  assert.deepEqual(c1.kind === 'candle' && { ...c1.candle }, candle);
  const reason = (m: Parameters<typeof decodeRecord>[0]) => {
    try {
      decodeRecord(m);
    } catch (e) {
      assert.ok(e instanceof FinpipeError && e.code === 'DECODE_FAILED');
      return e.message;
    }
    assert.fail('expected a decode failure');
  };
  assert.match(reason({ key: null, value: codecs().trade.encode(trade), headers: h() }), /missing header finpipe\.type/);
  assert.match(reason({ key: null, value: codecs().trade.encode(trade), headers: h('quote') }), /is "quote"; expected "trade" or "candle"/);
  assert.match(reason({ key: null, value: null, headers: h('trade') }), /empty record value/);
  assert.match(reason({ key: null, value: Buffer.from([1, 2, 3]), headers: h('candle') }), /not a valid finpipe\.Candle/);
  assert.match(reason({ key: null, value: codecs().candle.encode(candle), headers: h('trade') }), /not a valid finpipe\.Trade/);
  assert.match(
    reason({ key: null, value: codecs().trade.encode({ ...trade, price: NaN }), headers: h('trade') }),
    /price is NaN; MySQL cannot store NaN or Infinity/,
  );
  assert.match(
    reason({ key: null, value: codecs().candle.encode({ ...candle, vwap: -Infinity }), headers: h('candle') }),
    /vwap is -Infinity/,
  );
  assert.match(
    reason({ key: null, value: codecs().trade.encode({ ...trade, trade_timestamp: 9e15 }), headers: h('trade') }),
    /trade_timestamp 9000000000000000 is outside 1970-01-01T00:00:00.000Z \.\. 9999-12-31T23:59:59.999Z/,
  );
  // The candle's limits (LIMITS, and the INT UNSIGNED columns).
  const candleReason = (c: Partial<typeof candle>) =>
    reason({ key: null, value: codecs().candle.encode({ ...candle, ...c }), headers: h('candle') });
  assert.match(candleReason({ window_ms: -10 }), /window_ms -10 is not an integer in 1 \.\. 4294967295/);
  assert.match(candleReason({ window_ms: 0 }), /window_ms 0/);
  assert.match(candleReason({ trade_count: -1 }), /trade_count -1/);
  assert.match(candleReason({ symbol: 'C'.repeat(129) }), /candle symbol is 129 characters long/);
  assert.match(candleReason({ window_start: Date.UTC(10000, 0, 1) }), /window_start .* outside/);
  assert.equal(sourceString({ topic: 'AAPL', partition: 2, offset: '17' }), 'AAPL/2/17');
});

test('MySQL errors: connection problems are retried, refused values isolated, everything else stops the sink', () => {
  assert.equal(classifyMysqlError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), 'unavailable');
  assert.equal(classifyMysqlError(Object.assign(new Error('x'), { code: 'PROTOCOL_CONNECTION_LOST', fatal: true })), 'unavailable');
  assert.equal(classifyMysqlError({ code: 'ER_SERVER_SHUTDOWN', errno: 1053, sqlState: '08S01' }), 'unavailable');
  assert.equal(classifyMysqlError({ code: 'ER_LOCK_DEADLOCK', errno: 1213, sqlState: '40001' }), 'unavailable');
  assert.equal(classifyMysqlError({ code: 'ER_WARN_DATA_OUT_OF_RANGE', errno: 1264, sqlState: '22003' }), 'data');
  assert.equal(classifyMysqlError({ code: 'ER_TRUNCATED_WRONG_VALUE', errno: 1292, sqlState: '22007' }), 'data');
  assert.equal(classifyMysqlError({ code: 'ER_BAD_NULL_ERROR', errno: 1048, sqlState: '23000' }), 'data');
  assert.equal(classifyMysqlError({ code: 'ER_TRUNCATED_WRONG_VALUE_FOR_FIELD', errno: 1366, sqlState: 'HY000' }), 'data');
  assert.equal(classifyMysqlError({ code: 'ER_PARSE_ERROR', errno: 1064, sqlState: '42000' }), 'fatal');
  assert.equal(classifyMysqlError({ code: 'ER_NO_SUCH_TABLE', errno: 1146, sqlState: '42S02' }), 'fatal');
  assert.equal(classifyMysqlError({ code: 'ER_ACCESS_DENIED_ERROR', errno: 1045, sqlState: '28000' }), 'fatal');
  assert.equal(classifyMysqlError(new TypeError('bug')), 'fatal');
});

test("sink topics: illegal names and finpipe's own topics are refused as usage errors", () => {
  const config = loadConfig({ env: {}, envFile: '/dev/null' });
  assert.deepEqual(validateSinkTopics(config, ['AAPL', 'BINANCE_BTCUSDT', 'AAPL']), ['AAPL', 'BINANCE_BTCUSDT']);
  assert.throws(
    () => validateSinkTopics(config, ['x`; DROP TABLE trades']),
    (e: unknown) => e instanceof FinpipeError && e.code === 'TOPIC_NAME_INVALID',
  );
  assert.throws(
    () => validateSinkTopics(config, ['trades']),
    (e: unknown) => e instanceof FinpipeError && e.code === 'USAGE' && /raw trades topic/.test(e.message),
  );
  assert.throws(() => validateSinkTopics(config, ['finpipe.dlq']), /dead-letter topic/);
});
