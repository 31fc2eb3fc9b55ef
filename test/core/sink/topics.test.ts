import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../../src/core/config';
import { FinpipeError } from '../../../src/core/errors';
import { notASymbolTopic, selectTopics, validateSinkTopics, wholeNamePattern } from '../../../src/core/sink/topics';
import { symbolToTopic } from '../../../src/core/symbols';

const config = loadConfig({ env: {}, envFile: '/dev/null' });

/** What --pattern picks among `existing`. */
function matches(pattern: string, existing: string[]): string[] {
  return selectTopics(new Set(existing), { config, named: [], pattern: new RegExp(pattern) }).found;
}

test('--pattern matches whole names, whichever alternative comes first', () => {
  assert.deepEqual(matches('A|AAPL', ['A', 'AAPL', 'AAPLX', 'XA']), ['A', 'AAPL']);
  assert.deepEqual(matches('AAPL|A', ['A', 'AAPL', 'AAPLX', 'XA']), ['A', 'AAPL']);
  assert.deepEqual(matches('BINANCE_.*', ['BINANCE_BTCUSDT', 'XBINANCE_BTCUSDT', 'BINANCE']), ['BINANCE_BTCUSDT']);
  assert.deepEqual(matches('(A)|(B)\\2', ['A', 'BB', 'B']), ['A', 'BB'], 'backreferences keep their numbers');
  const stateful = wholeNamePattern(/AAPL/gy);
  assert.ok(stateful.test('AAPL') && stateful.test('AAPL'), 'g and y are dropped: test() is not stateful');
});

test('--pattern reads per-symbol topics that begin with "__" (symbolToTopic makes them from emoji and punctuation)', () => {
  const moon = symbolToTopic('🚀:MOON');
  assert.ok(moon.startsWith('__'), moon);
  assert.deepEqual(matches('.*', [moon, '__MOON', 'AAPL']), [moon, '__MOON', 'AAPL'].sort());
  assert.deepEqual(matches('.*MOON', [moon]), [moon]);
});

test("--pattern never matches Kafka's internal topics, finpipe's own topics or changelogs", () => {
  const internal = ['__consumer_offsets', '__transaction_state', '__share_group_state', '__cluster_metadata', '__remote_log_metadata'];
  const finpipe = [config.topics.raw, config.topics.deadLetter, config.topics.late, 'finpipe-process-state'];
  assert.deepEqual(matches('.*', [...internal, ...finpipe, 'AAPL']), ['AAPL']);
  // Names process may give a symbol's topic stay readable.
  assert.deepEqual(matches('.*', ['X-changelog', 'Y-repartition', 'state', 'X-stateful']), [
    'X-changelog',
    'X-stateful',
    'Y-repartition',
    'state',
  ]);
  assert.deepEqual(matches('.*-state', ['finpipe-process-state', 'g-state']), []);
  assert.deepEqual(matches('__.*', internal), []);
});

test('named internal, finpipe and changelog topics are usage errors that say why', () => {
  const cases: [string, RegExp][] = [
    ['__consumer_offsets', /Kafka's internal topic/],
    ['__transaction_state', /Kafka's internal topic/],
    [config.topics.raw, /raw trades topic/],
    [config.topics.deadLetter, /dead-letter topic/],
    [config.topics.late, /late-trades topic/],
    ['finpipe-process-state', /state changelog/],
  ];
  for (const [topic, why] of cases) {
    assert.throws(
      () => validateSinkTopics(config, ['AAPL', topic]),
      (e: unknown) => e instanceof FinpipeError && e.code === 'USAGE' && why.test(e.message) && e.message.startsWith(topic) && !!e.hint,
      topic,
    );
  }
  assert.deepEqual(validateSinkTopics(config, ['AAPL', '___MOON', 'AAPL']), ['AAPL', '___MOON']);
  assert.equal(notASymbolTopic(config, '___MOON'), null);
});
