import { test } from 'node:test';
import assert from 'node:assert/strict';
import { symbolToTopic, symbolTopics, topicNameProblem, assertTopicName } from '../../src/core/symbols';
import { FinpipeError } from '../../src/core/errors';

test('symbolToTopic maps Finnhub symbols to legal topic names', () => {
  assert.equal(symbolToTopic('BINANCE:BTCUSDT'), 'BINANCE_BTCUSDT');
  assert.equal(symbolToTopic('IC MARKETS:1'), 'IC_MARKETS_1');
  assert.equal(symbolToTopic('OANDA:EUR_USD'), 'OANDA_EUR_USD');
  assert.equal(symbolToTopic('AAPL'), 'AAPL');
  assert.equal(symbolToTopic('BRK.B'), 'BRK_B', '"." collides with "_" in Kafka metric names, so it is replaced too');
  assert.equal(symbolToTopic('FX-IDC:EUR/USD'), 'FX-IDC_EUR_USD');
  assert.equal(symbolToTopic('  AAPL '), 'AAPL');
});

test('every mapped name passes Kafka topic rules', () => {
  for (const s of ['a', 'É:1', 'x/y\\z', 'tab\there', '🙂', 'a'.repeat(249)]) {
    assert.equal(topicNameProblem(symbolToTopic(s)), null, s);
  }
});

test('symbolToTopic rejects empty and over-long symbols with SYMBOL_INVALID', () => {
  assert.throws(
    () => symbolToTopic('  '),
    (e: unknown) => e instanceof FinpipeError && e.code === 'SYMBOL_INVALID',
  );
  assert.throws(
    () => symbolToTopic('x'.repeat(250)),
    (e: unknown) => e instanceof FinpipeError && e.code === 'SYMBOL_INVALID' && /249/.test(e.message),
  );
});

test('symbolTopics reports every colliding pair', () => {
  assert.deepEqual(
    [...symbolTopics(['BINANCE:BTCUSDT', 'AAPL', 'AAPL'])],
    [
      ['BINANCE:BTCUSDT', 'BINANCE_BTCUSDT'],
      ['AAPL', 'AAPL'],
    ],
  );
  assert.throws(
    () => symbolTopics(['A:B', 'A B', 'C.D', 'C_D', 'OK']),
    (e: unknown) =>
      e instanceof FinpipeError &&
      e.code === 'SYMBOL_COLLISION' &&
      e.message.includes('"A:B" and "A B" -> A_B') &&
      e.message.includes('"C.D" and "C_D" -> C_D'),
  );
});

test('topicNameProblem follows Kafka rules', () => {
  assert.equal(topicNameProblem('trades'), null);
  assert.equal(topicNameProblem('a.b_c-D9'), null);
  assert.equal(topicNameProblem('x'.repeat(249)), null);
  assert.match(topicNameProblem('x'.repeat(250))!, /at most 249/);
  assert.match(topicNameProblem('.')!, /reserved/);
  assert.match(topicNameProblem('..')!, /reserved/);
  assert.match(topicNameProblem('')!, /empty/);
  assert.match(topicNameProblem('bad name')!, /" "/);
  assert.match(topicNameProblem('a:b/c')!, /":", "\/"/);
  assert.throws(
    () => assertTopicName('bad name'),
    (e: unknown) => e instanceof FinpipeError && e.code === 'TOPIC_NAME_INVALID' && e.exitCode === 2,
  );
});
