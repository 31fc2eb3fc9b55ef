/**
 * Input larger than a Kafka record may be: valid trades are split into records under
 * LIMITS.recordMaxBytes (same key, order kept), invalid input is dead-lettered cut to that
 * size with headers giving its original size and sha256. Before, either one was sent whole,
 * the broker refused it (MESSAGE_TOO_LARGE) and `produce` stopped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import pino from 'pino';
import type { Message, ProducerBatch } from 'kafkajs';
import { BatchingProducer, TradePipeline } from '../../../src/core/produce';
import { encodeRawRecords } from '../../../src/core/produce/raw-records';
import { codecs, type RawTrade } from '../../../src/core/serde';
import { DLQ_HEADERS, deadLetterMessage } from '../../../src/core/kafka/dead-letter';
import { LIMITS } from '../../../src/core/limits';

const T = Date.now() - 3_600_000;
const encode = (data: RawTrade[]) => codecs().raw.encode({ data, type: 'trade' });
const trades = (n: number, s = 'BINANCE:BTCUSDT'): RawTrade[] =>
  Array.from({ length: n }, (_, i) => ({ s, p: 60_000 + i / 100, t: T + i, v: 0.001 * (i + 1), c: i % 2 ? ['1', '12'] : null }));

/** A sender that acknowledges every request at once and keeps what it was sent. */
function autoAckSender() {
  const sent: { topic: string; message: Message }[] = [];
  return {
    sent,
    sender: {
      sendBatch(batch: ProducerBatch) {
        for (const t of batch.topicMessages!) for (const message of t.messages) sent.push({ topic: t.topic, message });
        return Promise.resolve([]);
      },
    },
  };
}

function pipeline() {
  const f = autoAckSender();
  const out = new BatchingProducer(f.sender, pino({ level: 'silent' }), { lingerMs: 1 });
  const p = new TradePipeline(out, { raw: 'raw', deadLetter: 'dlq' }, pino({ level: 'silent' }), {
    maxFutureMs: LIMITS.maxFutureMs,
    reservedTopics: ['raw', 'dlq'],
  });
  return { f, out, p };
}

test('encodeRawRecords: one record when it fits; otherwise consecutive records under the limit holding every trade in order', () => {
  const few = trades(10);
  assert.equal(encodeRawRecords(few, LIMITS.recordMaxBytes, encode).length, 1);
  const many = trades(100_000);
  assert.ok(encode(many).length > LIMITS.recordMaxBytes, 'the test input is over the limit');
  const records = encodeRawRecords(many, LIMITS.recordMaxBytes, encode);
  assert.ok(records.length >= 2);
  for (const r of records) assert.ok(r.value.length <= LIMITS.recordMaxBytes, `${r.value.length} bytes`);
  const decoded = records.flatMap((r) => codecs().raw.decode(r.value).data);
  assert.deepEqual(
    decoded.map((x) => x.t),
    many.map((x) => x.t),
    'every trade, in the original order',
  );
  assert.deepEqual(
    records.map((r) => r.trades),
    records.map((r) => codecs().raw.decode(r.value).data.length),
  );
  // A tiny limit forces splits down to single trades: still every trade, in order.
  const tiny = encodeRawRecords(trades(50), 60, encode);
  assert.equal(tiny.length, 50);
});

test('TradePipeline: a 100,000-trade frame for one symbol becomes several raw records under the limit, same key, in order', async () => {
  const { f, out, p } = pipeline();
  const data = trades(100_000);
  const frame = Buffer.from(JSON.stringify({ type: 'trade', data }));
  await p.frame(frame, false, 'ws://sim');
  await out.flush();
  const raw = f.sent.filter((x) => x.topic === 'raw').map((x) => x.message);
  assert.ok(raw.length >= 4, `${raw.length} records`);
  for (const m of raw) {
    assert.equal(m.key, 'BINANCE:BTCUSDT');
    assert.ok((m.value as Buffer).length <= LIMITS.recordMaxBytes);
  }
  const decoded = raw.flatMap((m) => codecs().raw.decode(m.value as Buffer).data);
  assert.deepEqual(
    decoded.map((x) => x.t),
    data.map((x) => x.t),
  );
  assert.equal(p.counters.messages, raw.length);
  assert.equal(out.acked.get('raw')!.weight, 100_000, 'the stats count trades, not records');
});

test('TradePipeline: a 10 MB invalid frame is dead-lettered cut to the limit, with its size, sha256 and "truncated"', async () => {
  const { f, out, p } = pipeline();
  const frame = Buffer.alloc(10_000_000, 'x');
  await p.frame(frame, false, 'ws://sim');
  await out.flush();
  assert.equal(f.sent.length, 1);
  const { topic, message } = f.sent[0];
  assert.equal(topic, 'dlq');
  const headers = message.headers as Record<string, string>;
  assert.equal((message.value as Buffer).length, LIMITS.recordMaxBytes);
  assert.deepEqual(message.value, frame.subarray(0, LIMITS.recordMaxBytes), 'the beginning of the original bytes');
  assert.equal(headers[DLQ_HEADERS.truncated], 'true');
  assert.equal(headers[DLQ_HEADERS.originalBytes], '10000000');
  assert.equal(headers[DLQ_HEADERS.originalSha256], createHash('sha256').update(frame).digest('hex'));
  assert.match(headers[DLQ_HEADERS.reason], /^frame: invalid JSON/);
});

test('deadLetterMessage leaves a value under the limit whole, without the truncation headers', () => {
  const m = deadLetterMessage({ stage: 'sink', reason: 'r', source: 's', value: 'small' });
  assert.equal(m.value, 'small');
  assert.equal((m.headers as Record<string, string>)[DLQ_HEADERS.truncated], undefined);
  const cut = deadLetterMessage({ stage: 'sink', reason: 'r', source: 's', value: 'abcdef' }, 0, 4);
  assert.deepEqual(cut.value, Buffer.from('abcd'));
  assert.equal((cut.headers as Record<string, string>)[DLQ_HEADERS.originalBytes], '6');
});
