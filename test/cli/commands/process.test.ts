import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import { parseWindows } from '../../../src/cli/commands/process';

test('--windows: durations, sorted, distinct, positive', () => {
  assert.deepEqual(parseWindows('10s'), [10_000]);
  assert.deepEqual(parseWindows('1m, 1s,10s'), [1_000, 10_000, 60_000]);
  assert.deepEqual(parseWindows('500ms,1h'), [500, 3_600_000]);
  assert.throws(() => parseWindows('10s,10000ms'), /twice/);
  assert.throws(() => parseWindows('0s'), /> 0/);
  assert.throws(() => parseWindows('10'), InvalidArgumentError);
  assert.throws(() => parseWindows(','), /no window/);
});
