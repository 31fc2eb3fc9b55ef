import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLookback, parseTimestamp } from '../../../src/core/kafka/time-spec';

describe('parseLookback', () => {
  test('compact durations, also combined', () => {
    assert.equal(parseLookback('500ms'), 500);
    assert.equal(parseLookback('90s'), 90_000);
    assert.equal(parseLookback('15m'), 900_000);
    assert.equal(parseLookback('1h30m'), 5_400_000);
    assert.equal(parseLookback('2d'), 172_800_000);
    assert.equal(parseLookback('1.5h'), 5_400_000);
  });

  test('ISO-8601 durations as kafka-consumer-groups takes them', () => {
    assert.equal(parseLookback('PT1H30M'), 5_400_000);
    assert.equal(parseLookback('P1DT2H'), 93_600_000);
    assert.equal(parseLookback('PT0.5S'), 500);
    assert.equal(parseLookback('P2D'), 172_800_000);
  });

  test('anything else, or zero, is refused', () => {
    for (const bad of ['', '1', 'h', '1 h', '1y', 'P', 'PT', 'P1H', '0s', '-5m', 'a while'])
      assert.throws(() => parseLookback(bad), /is not a duration; use e\.g\. 30s, 15m, 1h30m, 2d or ISO-8601 PT1H30M/, bad);
  });
});

describe('parseTimestamp', () => {
  const now = Date.parse('2024-06-10T12:00:00Z');
  test('ISO-8601 with a zone, and without one as UTC', () => {
    assert.equal(parseTimestamp('2024-06-10T10:00:00Z'), Date.parse('2024-06-10T10:00:00Z'));
    assert.equal(parseTimestamp('2024-06-10T10:00:00+02:00'), Date.parse('2024-06-10T08:00:00Z'));
    assert.equal(parseTimestamp('2024-06-10T10:00:00'), Date.parse('2024-06-10T10:00:00Z'));
    assert.equal(parseTimestamp('2024-06-10 10:00'), Date.parse('2024-06-10T10:00:00Z'));
    assert.equal(parseTimestamp('2024-06-10'), Date.parse('2024-06-10T00:00:00Z'));
  });

  test('epoch milliseconds and look-backs', () => {
    assert.equal(parseTimestamp('1718020800000'), 1718020800000);
    assert.equal(parseTimestamp('-1h', now), now - 3_600_000);
    assert.equal(parseTimestamp('-PT30M', now), now - 1_800_000);
  });

  test('anything else is refused with the accepted forms', () => {
    for (const bad of ['', 'yesterday', '2024-13-45', '10:00', '12345', '2024-06-10T25:00:00Z'])
      assert.throws(() => parseTimestamp(bad, now), /is not a (time; use ISO-8601|duration)/, bad);
  });
});
