import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_TOPIC_PREFIX_LENGTH, outputTopicFor, topicNaming, topicPrefixProblem } from '../../../src/core/process/output-topics';

const naming = topicNaming('', { raw: 'trades', late: 'trades.late', deadLetter: 'finpipe.dlq' }, 'finpipe-process-state');
const problem = (symbol: string, n = naming): string | null => {
  const found = outputTopicFor(symbol, n);
  return 'problem' in found ? found.problem : null;
};
const topic = (symbol: string, n = naming): string | null => {
  const found = outputTopicFor(symbol, n);
  return 'topic' in found ? found.topic : null;
};

test('ordinary symbols get their topic, with the prefix if there is one', () => {
  assert.equal(topic('BINANCE:BTCUSDT'), 'BINANCE_BTCUSDT');
  assert.equal(topic('x'.repeat(249)), 'x'.repeat(249));
  const prefixed = topicNaming('final-', { raw: 'trades', late: 'trades.late', deadLetter: 'finpipe.dlq' }, 'g-state');
  assert.equal(topic('BINANCE:BTCUSDT', prefixed), 'final-BINANCE_BTCUSDT');
  assert.equal(topic('trades', prefixed), 'final-trades', 'with a prefix, a symbol "trades" no longer lands on the raw topic');
});

test('a symbol whose topic name Kafka refuses has a reason, not an exception', () => {
  assert.match(problem('x'.repeat(250))!, /its topic cannot be created: topic name is 250 characters long; at most 249/);
  assert.match(problem('   ')!, /blank/);
  const prefixed = topicNaming('p-', { raw: 'r', late: 'l', deadLetter: 'd' }, 's');
  assert.match(problem('x'.repeat(248), prefixed)!, /250 characters/);
});

test('symbols mapping onto Kafka internal topics or finpipe own topics are refused', () => {
  assert.match(problem('__consumer_offsets')!, /"__consumer_offsets": names starting with "__" are Kafka's internal topics/);
  assert.match(problem('__transaction_state')!, /internal/);
  assert.match(problem('_:consumer')!, /"__consumer"/, 'after mapping (":" -> "_")');
  assert.match(problem('trades')!, /"trades", finpipe's own raw topic/);
  const dotted = topicNaming('', { raw: 'raw_x', late: 'late-x', deadLetter: 'dlq_x' }, 'grp-state');
  assert.match(problem('raw.x', dotted)!, /own raw topic/);
  assert.match(problem('late-x', dotted)!, /own late-trades topic/);
  assert.match(problem('dlq:x', dotted)!, /own dead-letter topic/);
  assert.match(problem('grp-state', dotted)!, /"grp-state", finpipe's own state topic/);
  assert.match(problem('other-group-state')!, /ending in "-state" are process groups' state topics/);
  assert.equal(problem('STATE'), null);
});

test('--topic-prefix: legal, not internal, short enough for the longest symbol', () => {
  assert.equal(topicPrefixProblem(''), null);
  assert.equal(topicPrefixProblem('final-'), null);
  assert.equal(topicPrefixProblem('a.b_c-'), null);
  assert.equal(topicPrefixProblem('x'.repeat(MAX_TOPIC_PREFIX_LENGTH)), null);
  assert.match(topicPrefixProblem('x'.repeat(MAX_TOPIC_PREFIX_LENGTH + 1))!, /at most 121/);
  assert.match(topicPrefixProblem('__x')!, /internal/);
  assert.match(topicPrefixProblem('a b')!, /only letters/);
});
