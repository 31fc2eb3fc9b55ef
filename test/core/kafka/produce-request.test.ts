import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { crc32c } from '../../../src/core/kafka/crc32c';
import { installFastRecordEncoder, kafkajsProduceRequest } from '../../../src/core/kafka/fast-encoding';
import { encodeProduceRequest, type ProduceRequestArgs } from '../../../src/core/kafka/produce-request';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

function randomArgs(rand: () => number): ProduceRequestArgs {
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
  const topicData = Array.from({ length: 1 + Math.floor(rand() * 4) }, (_, t) => ({
    topic: `topic-${t}${rand() < 0.2 ? '-ü' : ''}`,
    partitions: Array.from({ length: 1 + Math.floor(rand() * 3) }, (_, p) => ({
      partition: p * 3 + Math.floor(rand() * 3),
      firstSequence: rand() < 0.5 ? undefined : Math.floor(rand() * 2 ** 31),
      messages: Array.from({ length: Math.floor(rand() ** 2 * 600) }, () => ({
        key: rand() < 0.1 ? null : rand() < 0.5 ? 'BINANCE:BTCUSDT' : bytes(Math.floor(rand() * 30)),
        value: rand() < 0.05 ? null : bytes(Math.floor(rand() * 200)),
        headers: rand() < 0.3 ? undefined : { 'finpipe.type': rand() < 0.5 ? Buffer.from('trade') : 'candle' },
      })),
    })),
  }));
  return {
    acks: rand() < 0.8 ? -1 : 1,
    timeout: 30_000,
    transactionalId: rand() < 0.8 ? `group-raw-${Math.floor(rand() * 6)}` : undefined,
    producerId: rand() < 0.5 ? Math.floor(rand() * 2 ** 40) : String(Math.floor(rand() * 2 ** 52)),
    producerEpoch: Math.floor(rand() * 30_000),
    topicData,
  };
}

/** kafkajs and the fast path stamp records with Date.now(): one fixed clock for both. */
async function atFixedClock<T>(fn: () => Promise<T>): Promise<T> {
  const now = Date.now;
  Date.now = () => 1_764_000_000_123;
  try {
    return await fn();
  } finally {
    Date.now = now;
  }
}

// First: installing refuses once kafkajs has built a Produce request (as the other tests do).
test('installed, kafkajs builds its Produce requests with the fast encoder', async () => {
  assert.equal(installFastRecordEncoder(), true);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { protocol } = require('kafkajs/src/protocol/requests/produce') as {
    protocol: (v: { version: number }) => (a: ProduceRequestArgs) => { request: { encode(): Promise<{ buffer: Buffer }> } };
  };
  const args = randomArgs(lcg(99));
  const { builder, Long } = kafkajsProduceRequest();
  const [installed, theirs, fast] = await atFixedClock(async () => [
    (await protocol({ version: 3 })(args).request.encode()).buffer,
    (await builder(args).encode()).buffer,
    encodeProduceRequest(args, Long),
  ]);
  assert.deepEqual(installed, theirs);
  assert.deepEqual(installed, fast);
});

test('the fast Produce request encoder writes the bytes kafkajs writes, on random requests', async () => {
  const { builder, Long } = kafkajsProduceRequest();
  for (let seed = 1; seed <= 400; seed++) {
    const args = randomArgs(lcg(seed));
    const [fast, theirs] = await atFixedClock(async () => [encodeProduceRequest(args, Long), (await builder(args).encode()).buffer]);
    assert.ok(fast, `seed ${seed}: taken by the fast path`);
    assert.deepEqual(fast, theirs, `seed ${seed}`);
  }
});

test('compression and per-message timestamps are left to kafkajs', () => {
  const { Long } = kafkajsProduceRequest();
  const base = randomArgs(lcg(1));
  assert.equal(encodeProduceRequest({ ...base, compression: 1 }, Long), null);
  const timed = {
    ...base,
    topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [{ value: Buffer.from('v'), timestamp: '1' }] }] }],
  };
  assert.equal(encodeProduceRequest(timed, Long), null);
});

test('crc32c equals kafkajs CRC-32C on random buffers of every small length', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const theirs = require('kafkajs/src/protocol/recordBatch/crc32C') as (b: Buffer) => number;
  for (let n = 0; n < 600; n++) {
    const b = randomBytes(n);
    assert.equal(crc32c(b), theirs(b), `length ${n}`);
  }
  const b = randomBytes(1000);
  assert.equal(crc32c(b, 13, 700), theirs(b.subarray(13, 700)));
});
