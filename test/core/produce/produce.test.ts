import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import type { Message, ProducerBatch } from 'kafkajs';
import { BatchingProducer, TradePipeline, WarnLimiter, resolveFinnhubEndpoint, SIMULATOR_TOKEN } from '../../../src/core/produce';
import { checkSymbolCount, closestMatches, editDistance, normaliseSymbols, RateLimiter } from '../../../src/core/sources/symbol-check';
import { codecs } from '../../../src/core/serde';
import { DLQ_HEADERS } from '../../../src/core/kafka/dead-letter';
import { FinpipeError } from '../../../src/core/errors';
import { LIMITS } from '../../../src/core/limits';

function captureLogger() {
  const lines: { level: string; msg: string; [k: string]: unknown }[] = [];
  const logger = pino(
    { level: 'debug', formatters: { level: (label) => ({ level: label }) } },
    { write: (l: string) => lines.push(JSON.parse(l) as (typeof lines)[number]) },
  );
  return { logger, lines };
}

/** A fake kafkajs sender: records batches; each send resolves when the test says so. */
function fakeSender() {
  const batches: { topic: string; messages: Message[] }[][] = [];
  const pending: { resolve(): void; reject(e: unknown): void }[] = [];
  return {
    batches,
    pending,
    sender: {
      sendBatch(batch: ProducerBatch) {
        batches.push(batch.topicMessages!.map((t) => ({ topic: t.topic, messages: t.messages })));
        assert.equal(batch.acks, -1, 'acks=all');
        return new Promise<never[]>((resolve, reject) => pending.push({ resolve: () => resolve([]), reject }));
      },
    },
  };
}

const LIMITS_NOW = { maxFutureMs: LIMITS.maxFutureMs, reservedTopics: ['raw', 'dlq'] };
const msg = (n: number, size = 10): Message => ({ key: `k${n}`, value: Buffer.alloc(size) });
const tick = () => new Promise((r) => setImmediate(r));

test('BatchingProducer sends when the message count is reached, one batch in flight at a time', async () => {
  const { logger } = captureLogger();
  const f = fakeSender();
  const out = new BatchingProducer(f.sender, logger, { maxBatchMessages: 3, lingerMs: 60_000 });
  out.add('t', msg(1));
  out.add('t', msg(2));
  assert.equal(f.batches.length, 0, 'below the count and before the linger: nothing sent');
  out.add('t', msg(3));
  assert.equal(f.batches.length, 1);
  assert.equal(f.batches[0][0].messages.length, 3);
  for (let i = 4; i <= 10; i++) out.add('t', msg(i));
  assert.equal(f.batches.length, 1, 'the next batch waits for the acknowledgement');
  f.pending[0].resolve();
  await tick();
  assert.equal(f.batches.length, 2, 'acknowledged: the pending messages go at once');
  assert.deepEqual(
    f.batches[1][0].messages.map((m) => m.key),
    ['k4', 'k5', 'k6'],
    'capped at maxBatchMessages, in order',
  );
  const flushed = out.flush();
  for (let i = 1; i < 4; i++) {
    f.pending[i].resolve();
    await tick();
  }
  await flushed;
  assert.equal(out.acked.get('t')!.messages, 10);
  assert.equal(out.bufferedBytes, 0);
});

test('BatchingProducer sends after the linger time when traffic is light', async () => {
  const { logger } = captureLogger();
  const f = fakeSender();
  const out = new BatchingProducer(f.sender, logger, { maxBatchMessages: 1000, lingerMs: 30 });
  out.add('a', msg(1), 5);
  out.add('b', msg(2), 7);
  assert.equal(f.batches.length, 0);
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(f.batches.length, 1);
  assert.deepEqual(
    f.batches[0].map((t) => t.topic),
    ['a', 'b'],
    'one request carries every topic',
  );
  f.pending[0].resolve();
  await out.flush();
  assert.equal(out.acked.get('a')!.weight, 5);
  assert.equal(out.acked.get('b')!.weight, 7);
});

test('BatchingProducer keeps a batch under maxBatchBytes', async () => {
  const { logger } = captureLogger();
  const f = fakeSender();
  const out = new BatchingProducer(f.sender, logger, { maxBatchMessages: 1000, maxBatchBytes: 1000, lingerMs: 60_000 });
  for (let i = 0; i < 5; i++) out.add('t', msg(i, 300)); // ~364 bytes each with overhead
  assert.equal(f.batches.length, 1);
  assert.equal(f.batches[0][0].messages.length, 2);
  const done = out.flush();
  for (let i = 0; i < 3; i++) {
    f.pending[i].resolve();
    await tick();
  }
  await done;
  assert.deepEqual(
    f.batches.map((b) => b[0].messages.length),
    [2, 2, 1],
  );
});

test('BatchingProducer applies backpressure past the memory bound and releases it at half', async () => {
  const { logger } = captureLogger();
  const f = fakeSender();
  const out = new BatchingProducer(f.sender, logger, { maxBatchMessages: 2, maxBufferedBytes: 1000, lingerMs: 60_000 });
  for (let i = 0; i < 8; i++) out.add('t', msg(i, 100)); // 164 bytes each: 1312 buffered
  const wait = out.waitForSpace();
  assert.ok(wait, 'over the bound: the caller must wait');
  let released = false;
  void wait.then(() => (released = true));
  f.pending[0].resolve(); // 984 left: under the bound, not yet under half
  await tick();
  assert.equal(released, false);
  f.pending[1].resolve(); // 656 left
  await tick();
  assert.equal(released, false);
  f.pending[2].resolve(); // 328 left: under half
  await tick();
  await tick();
  assert.equal(released, true);
  assert.equal(out.waitForSpace(), undefined);
  const done = out.flush();
  f.pending[3].resolve();
  await done;
});

test('BatchingProducer: a failed send fails flush, waiters and later adds with KAFKA_ERROR', async () => {
  const { logger } = captureLogger();
  const f = fakeSender();
  const out = new BatchingProducer(f.sender, logger, { maxBatchMessages: 1, maxBufferedBytes: 10, lingerMs: 60_000 });
  out.add('t', msg(1));
  const wait = out.waitForSpace()!;
  f.pending[0].reject(Object.assign(new Error('Topic authorization failed'), { name: 'KafkaJSProtocolError' }));
  await assert.rejects(wait, (e: FinpipeError) => e.code === 'KAFKA_ERROR' && /Topic authorization failed/.test(e.message));
  await assert.rejects(out.flush(), /cannot write to Kafka/);
  assert.throws(() => out.add('t', msg(2)), /cannot write to Kafka/);
});

test('TradePipeline: one Avro message per (frame, symbol), key = symbol; bad trades dead-lettered with the raw frame', async () => {
  const { logger, lines } = captureLogger();
  const f = fakeSender();
  const out = new BatchingProducer(f.sender, logger, { lingerMs: 60_000 });
  const pipeline = new TradePipeline(out, { raw: 'raw', deadLetter: 'dlq' }, logger, LIMITS_NOW);
  const t = 1_718_000_000_000;
  const frame = Buffer.from(
    JSON.stringify({
      type: 'trade',
      data: [
        { s: 'A', p: 1, t, v: 1 },
        { s: 'B', p: 2, t, v: 2, c: ['1'] },
        { s: 'A', p: 3, t: t + 1, v: 0 },
        { s: 'B', p: -2, t, v: 2 },
      ],
    }),
  );
  // The buffer never fills here: no backpressure wait to honour; flush() below awaits the sends.
  void pipeline.frame(frame, false, 'ws://sim');
  void pipeline.frame(Buffer.from('{"type":"ping"}'), false, 'ws://sim');
  void pipeline.frame(Buffer.from('{"type":"error","msg":"Subscribing to too many symbols"}'), false, 'ws://sim');
  void pipeline.frame(Buffer.from('garbage'), false, 'ws://sim');
  const flushed = out.flush();
  f.pending[0].resolve();
  await flushed;
  const sent = f.batches.flat();
  const raw = sent.find((x) => x.topic === 'raw')!.messages;
  assert.deepEqual(
    raw.map((m) => m.key),
    ['A', 'B'],
  );
  const plain = (x: unknown) => JSON.parse(JSON.stringify(x)) as unknown;
  assert.deepEqual(plain(codecs().raw.decode(raw[0].value as Buffer)), {
    type: 'trade',
    data: [
      { s: 'A', p: 1, t, v: 1, c: null },
      { s: 'A', p: 3, t: t + 1, v: 0, c: null },
    ],
  });
  assert.deepEqual(
    codecs()
      .raw.decode(raw[1].value as Buffer)
      .data.map((x) => x.c),
    [['1']],
  );
  const dlq = sent.find((x) => x.topic === 'dlq')!.messages;
  assert.equal(dlq.length, 2);
  assert.deepEqual(dlq[0].value, frame, 'the raw frame bytes, unchanged');
  const headers = dlq[0].headers as Record<string, string>;
  assert.equal(headers[DLQ_HEADERS.reason], 'data[3].p: must be a finite number > 0, not -2');
  assert.equal(headers[DLQ_HEADERS.stage], 'produce');
  assert.equal(headers[DLQ_HEADERS.source], 'ws://sim');
  assert.match((dlq[1].headers as Record<string, string>)[DLQ_HEADERS.reason], /^frame: invalid JSON/);
  assert.deepEqual(
    { ...pipeline.counters },
    { frames: 4, trades: 3, messages: 2, deadLetters: 2, invalidTrades: 1, pings: 1, errorFrames: 1 },
  );
  assert.ok(
    lines.some((l) => l.level === 'error' && /Finnhub error: "Subscribing to too many symbols"/.test(l.msg)),
    'error frames are logged clearly',
  );
  assert.ok(
    lines.some((l) => l.level === 'warn' && /data\[3\]\.p/.test(l.msg)),
    'dead letters are logged at warn',
  );
});

test('WarnLimiter logs a burst per interval, then how many it suppressed', () => {
  const { logger, lines } = captureLogger();
  let now = 0;
  const limiter = new WarnLimiter(logger, 2, 1000, () => now);
  for (let i = 0; i < 5; i++) limiter.warn({}, `w${i}`);
  now = 1500;
  limiter.warn({}, 'later');
  assert.deepEqual(
    lines.map((l) => l.msg),
    ['w0', 'w1', '3 similar warnings suppressed in the last 1 s', 'later'],
  );
});

test('resolveFinnhubEndpoint: token rules and the REST URL of a simulator', () => {
  const real = { wsUrl: 'wss://ws.finnhub.io', restUrl: 'https://finnhub.io/api/v1' };
  assert.throws(
    () => resolveFinnhubEndpoint(real),
    (e: FinpipeError) => e.code === 'CONFIG_INVALID' && /FINNHUB_TOKEN is required/.test(e.message) && /finpipe simulate/.test(e.hint!),
  );
  assert.deepEqual(resolveFinnhubEndpoint({ ...real, token: 'abcd1234' }), {
    url: 'wss://ws.finnhub.io',
    restUrl: 'https://finnhub.io/api/v1',
    token: 'abcd1234',
  });
  assert.deepEqual(resolveFinnhubEndpoint({ ...real, wsUrl: 'ws://127.0.0.1:8765' }), {
    url: 'ws://127.0.0.1:8765',
    restUrl: 'http://127.0.0.1:8765/api/v1',
    token: SIMULATOR_TOKEN,
  });
  assert.deepEqual(resolveFinnhubEndpoint({ ...real, wsUrl: 'ws://localhost:9000?token=fromurl1' }), {
    url: 'ws://localhost:9000',
    restUrl: 'http://localhost:9000/api/v1',
    token: 'fromurl1',
  });
  assert.throws(
    () => resolveFinnhubEndpoint({ ...real, wsUrl: 'ws://10.1.2.3:8765' }),
    /FINNHUB_TOKEN is required to connect to ws:\/\/10\.1\.2\.3:8765/,
  );
});

test('symbol count limit and normalisation', () => {
  const symbols = Array.from({ length: 51 }, (_, i) => `S${i}`);
  assert.throws(
    () => checkSymbolCount(symbols, 50),
    (e: FinpipeError) => e.code === 'SYMBOL_LIMIT' && e.message === '51 symbols is more than the 50 one Finnhub connection allows',
  );
  checkSymbolCount(symbols, 51);
  assert.deepEqual(normaliseSymbols([' AAPL', 'AAPL', 'IC MARKETS:1']), ['AAPL', 'IC MARKETS:1']);
  assert.throws(
    () => normaliseSymbols(['']),
    (e: FinpipeError) => e.code === 'SYMBOL_INVALID',
  );
});

test('closestMatches suggests near misses and ignores far or tiny candidates', () => {
  const list = ['A', 'AAPL', 'AMZN', 'BINANCE:BTCUSDT', 'BINANCE:ETHUSDT', 'MSFT'];
  assert.deepEqual(closestMatches('AAPLE', list), ['AAPL']);
  assert.deepEqual(closestMatches('BINANCE:BTCUSD', list), ['BINANCE:BTCUSDT', 'BINANCE:ETHUSDT'], 'nearest first');
  assert.equal(closestMatches('binance:ethusdt', list)[0], 'BINANCE:ETHUSDT', 'case differences come first');
  assert.deepEqual(closestMatches('ZZZZZZZZ', list), []);
  assert.equal(editDistance('KITTEN', 'SITTING'), 3);
  assert.equal(editDistance('ABC', 'ABCDEFGH', 2), 2, 'capped');
});

test('RateLimiter allows N calls per window and says how long to wait', () => {
  let now = 0;
  const limiter = new RateLimiter(2, 1000, () => now);
  assert.equal(limiter.take(), 0);
  now = 100;
  assert.equal(limiter.take(), 0);
  now = 200;
  assert.equal(limiter.take(), 800);
  now = 1000;
  assert.equal(limiter.take(), 0);
});
