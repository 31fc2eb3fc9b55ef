import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseOffsetSpec, startOffset } from '../../../src/core/consume/offset-spec';

const NOW = Date.parse('2024-06-10T12:00:00Z');

describe('parseOffsetSpec', () => {
  test('start, end and their synonyms', () => {
    for (const s of ['start', 'beginning', 'earliest']) assert.deepEqual(parseOffsetSpec(s), { kind: 'start' });
    for (const s of ['end', 'latest']) assert.deepEqual(parseOffsetSpec(s), { kind: 'end' });
  });

  test('an exact offset and a count back from the end', () => {
    assert.deepEqual(parseOffsetSpec('42'), { kind: 'exact', offset: 42 });
    assert.deepEqual(parseOffsetSpec('0'), { kind: 'exact', offset: 0 });
    assert.deepEqual(parseOffsetSpec('-5'), { kind: 'fromEnd', count: 5 });
  });

  test('@time as ISO-8601, epoch ms or a look-back', () => {
    assert.deepEqual(parseOffsetSpec('@2024-06-10T11:00:00Z', NOW), { kind: 'time', timestamp: NOW - 3_600_000 });
    assert.deepEqual(parseOffsetSpec('@1718020800000', NOW), { kind: 'time', timestamp: 1718020800000 });
    assert.deepEqual(parseOffsetSpec('@-15m', NOW), { kind: 'time', timestamp: NOW - 900_000 });
  });

  test('anything else is refused with the accepted forms', () => {
    for (const bad of ['', 'middle', '1.5', '--3', '@', '@yesterday', '+3', '99999999999999999999'])
      assert.throws(() => parseOffsetSpec(bad), /is not (an offset|a time|a duration)/, bad);
  });
});

describe('startOffset', () => {
  const range = { low: 10, high: 20 };
  test('start and end are the retained range', () => {
    assert.equal(startOffset({ kind: 'start' }, range), 10);
    assert.equal(startOffset({ kind: 'end' }, range), 20);
  });
  test('an exact offset is clamped to what the partition holds', () => {
    assert.equal(startOffset({ kind: 'exact', offset: 15 }, range), 15);
    assert.equal(startOffset({ kind: 'exact', offset: 3 }, range), 10);
    assert.equal(startOffset({ kind: 'exact', offset: 99 }, range), 20);
  });
  test('-n counts back from the end, not past the start', () => {
    assert.equal(startOffset({ kind: 'fromEnd', count: 4 }, range), 16);
    assert.equal(startOffset({ kind: 'fromEnd', count: 400 }, range), 10);
  });
  test("a time takes the broker's answer, or the end when there is none", () => {
    assert.equal(startOffset({ kind: 'time', timestamp: 0 }, range, 12), 12);
    assert.equal(startOffset({ kind: 'time', timestamp: 0 }, range, undefined), 20);
  });
});
