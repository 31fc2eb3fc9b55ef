import assert from 'node:assert/strict';
import { test } from 'node:test';
import { installFastRecordEncoder, kafkajsRecordEncoder } from '../../../src/core/kafka/fast-encoding';
import { fastRecordEncoder, type RecordInput } from '../../../src/core/kafka/record-encoder';

/** A small deterministic PRNG so a failure can be reproduced from the printed seed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytesOrText(rand: () => number, maxLength: number): Buffer | string | null | undefined {
  const kind = rand();
  const length = Math.floor(rand() ** 3 * maxLength);
  if (kind < 0.1) return null;
  if (kind < 0.15) return undefined;
  const chars = Array.from({ length }, () =>
    rand() < 0.9 ? String.fromCharCode(32 + Math.floor(rand() * 95)) : 'é€😀'[Math.floor(rand() * 3)],
  );
  const text = chars.join('');
  return kind < 0.6 ? Buffer.from(text) : text;
}

function randomRecord(rand: () => number): RecordInput {
  const headers: RecordInput['headers'] = {};
  const headerCount = Math.floor(rand() * 4);
  for (let i = 0; i < headerCount; i++) {
    const value = randomBytesOrText(rand, 40) ?? 'x';
    headers[`finpipe.h${i}${rand() < 0.2 ? 'ü' : ''}`] = rand() < 0.2 ? [value, Buffer.from('second')] : value;
  }
  const deltas = [0, 1, 63, 64, 127, 128, 8191, 8192, 2 ** 20, 2 ** 29 - 1, -1, -64, -65, 2 ** 30 + 5, 2 ** 40, -(2 ** 35)];
  return {
    offsetDelta: rand() < 0.5 ? Math.floor(rand() * 5000) : deltas[Math.floor(rand() * 10)],
    timestampDelta: rand() < 0.5 ? 0 : deltas[Math.floor(rand() * deltas.length)],
    key: randomBytesOrText(rand, 60),
    value: randomBytesOrText(rand, rand() < 0.05 ? 20_000 : 300),
    headers: rand() < 0.1 ? undefined : headers,
  };
}

test('the fast record encoder writes the same bytes as kafkajs, on random records', () => {
  const original = kafkajsRecordEncoder();
  const fast = fastRecordEncoder(original);
  for (let seed = 1; seed <= 20_000; seed++) {
    const record = randomRecord(prng(seed));
    assert.deepEqual(fast(record).buffer, original(record).buffer, `seed ${seed}: ${JSON.stringify(record).slice(0, 300)}`);
  }
});

test('the fast record encoder hands what it does not handle to kafkajs', () => {
  const calls: RecordInput[] = [];
  const original = kafkajsRecordEncoder();
  const fast = fastRecordEncoder((r) => (calls.push(r), original(r)));
  const unusual: RecordInput[] = [
    { value: Buffer.from('v'), timestampDelta: 2 ** 31 },
    { value: Buffer.from('v'), timestampDelta: 1.5 },
    { value: 42 as unknown as string },
    { value: Buffer.from('v'), headers: { n: 7 as unknown as string } },
  ];
  for (const record of unusual) {
    try {
      fast(record);
    } catch {
      // kafkajs itself refuses some of these; what matters is that it was asked
    }
  }
  assert.equal(calls.length, unusual.length);
  fast({ key: 'k', value: Buffer.from('v'), headers: { 'finpipe.type': Buffer.from('trade') } });
  assert.equal(calls.length, unusual.length, 'a usual record is encoded by the fast path');
});

test('installFastRecordEncoder replaces the encoder kafkajs loads for produce requests', () => {
  assert.equal(installFastRecordEncoder(), true);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const loaded = require('kafkajs/src/protocol/recordBatch/record/v0') as unknown;
  assert.notEqual(loaded, kafkajsRecordEncoder());
  assert.equal(installFastRecordEncoder(), true, 'installing twice is harmless');
});
