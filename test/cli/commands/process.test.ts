import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import { parseTopicPrefix, parseWindows } from '../../../src/cli/commands/process';

test('--windows: durations, sorted, distinct, positive', () => {
  assert.deepEqual(parseWindows('10s'), [10_000]);
  assert.deepEqual(parseWindows('1m, 1s,10s'), [1_000, 10_000, 60_000]);
  assert.deepEqual(parseWindows('500ms,1h'), [500, 3_600_000]);
  assert.throws(() => parseWindows('10s,10000ms'), /twice/);
  assert.throws(() => parseWindows('0s'), /> 0/);
  assert.throws(() => parseWindows('10'), InvalidArgumentError);
  assert.throws(() => parseWindows(','), /no window/);
});

test('--windows: a size the stores cannot hold (window_ms is INT UNSIGNED) is a usage error', () => {
  assert.deepEqual(parseWindows('24h'), [86_400_000]);
  assert.deepEqual(parseWindows('1193h'), [4_294_800_000], 'just under 2^32 - 1 ms');
  assert.throws(
    () => parseWindows('1200h'),
    (e: unknown) => e instanceof InvalidArgumentError && /1200h is larger than 4294967295 ms/.test(e.message),
  );
  assert.throws(() => parseWindows('1s,1200h'), InvalidArgumentError);
});

test('--topic-prefix: legal topic-name characters, not internal', () => {
  assert.equal(parseTopicPrefix('final-'), 'final-');
  assert.equal(parseTopicPrefix(''), '');
  assert.throws(
    () => parseTopicPrefix('__x'),
    (e: unknown) => e instanceof InvalidArgumentError && /"__x" cannot start topic names/.test(e.message),
  );
  assert.throws(() => parseTopicPrefix('a/b'), InvalidArgumentError);
});
