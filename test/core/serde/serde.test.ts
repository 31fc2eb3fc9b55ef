import { test } from 'node:test';
import assert from 'node:assert/strict';
import avro from 'avsc';
import { codecs, type RawMessage, type Candle, type Trade } from '../../../src/core/serde';
import { FinpipeError } from '../../../src/core/errors';

// The raw-topic schema the Spark pipelines finpipe replaces decode with (from_avro with
// trades.avsc), copied independently of finpipe's file: the raw topic must stay readable by
// those jobs unchanged (see docs/data-model.md).
const SPARK_TRADES_AVSC = {
  type: 'record',
  name: 'message',
  namespace: 'FinnhubProducer',
  fields: [
    {
      name: 'data',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'data',
          fields: [
            { name: 'c', type: [{ type: 'array', items: ['null', 'string'], default: [] }, 'null'] },
            { name: 'p', type: 'double' },
            { name: 's', type: 'string' },
            { name: 't', type: 'long' },
            { name: 'v', type: 'double' },
          ],
        },
      },
    },
    { name: 'type', type: 'string' },
  ],
};

/** avsc decodes into record-class instances; compare plain data. */
const plain = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;

const frame: RawMessage = {
  type: 'trade',
  data: [
    { s: 'BINANCE:BTCUSDT', p: 7296.89, t: 1575526691134, v: 0.011467, c: ['1', '12'] },
    { s: 'BINANCE:BTCUSDT', p: 7297.01, t: 1575526691135, v: 0, c: null },
  ],
};

test("raw messages round-trip and are byte-identical to the Spark jobs' schema encoding", () => {
  const { raw } = codecs();
  const bytes = raw.encode(frame);
  assert.deepEqual(plain(raw.decode(bytes)), frame);
  const spark = avro.Type.forSchema(SPARK_TRADES_AVSC as avro.Schema);
  assert.ok(bytes.equals(spark.toBuffer(frame)), 'plain Avro binary, same bytes as that schema would write');
  assert.deepEqual(plain(spark.fromBuffer(bytes)), frame);
  assert.ok(spark.createResolver(raw.type), "finpipe's writer schema resolves against the Spark jobs' reader schema");
});

test('decode rejects garbage and truncated bytes with DECODE_FAILED', () => {
  const { raw } = codecs();
  const bytes = raw.encode(frame);
  for (const bad of [bytes.subarray(0, bytes.length - 3), Buffer.from('{"type":"trade"}'), Buffer.concat([bytes, Buffer.from([1, 2])])]) {
    assert.throws(
      () => raw.decode(bad),
      (e: unknown) => e instanceof FinpipeError && e.code === 'DECODE_FAILED',
    );
  }
});

test('trade and candle records round-trip', () => {
  const { trade, candle } = codecs();
  const t: Trade = {
    id: '3f1c0f4e-8f0e-5a8e-9d3b-0c2a1b4d5e6f',
    symbol: 'AAPL',
    price: 190.5,
    volume: 10,
    trade_timestamp: 1_700_000_000_123,
    ingest_timestamp: 1_700_000_000_200,
    trade_conditions: ['1'],
  };
  assert.deepEqual(plain(trade.decode(trade.encode(t))), t);
  const c: Candle = {
    symbol: 'AAPL',
    window_ms: 10_000,
    window_start: 1_700_000_000_000,
    window_end: 1_700_000_010_000,
    open: 1,
    high: 2,
    low: 0.5,
    close: 1.5,
    volume: 3,
    vwap: null,
    trade_count: 4,
    avg_price: 1.25,
    is_final: false,
    version: 2,
  };
  assert.deepEqual(plain(candle.decode(candle.encode(c))), c);
});
