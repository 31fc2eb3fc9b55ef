import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message } from 'kafkajs';
import { OutputBuffer } from '../../../src/core/process/output-buffer';
import { linearGroupingInUse } from '../../../src/core/kafka/linear-grouping';

const message = (n: number, bytes = 10): Message => ({ key: 'k', value: Buffer.alloc(bytes, n % 256) });

/** Every record of every request, in request order, per topic. */
function perTopic(out: OutputBuffer): Map<string, Message[]> {
  const all = new Map<string, Message[]>();
  for (const request of out.batches()) for (const { topic, messages } of request) all.set(topic, [...(all.get(topic) ?? []), ...messages]);
  return all;
}

test('records keep their order per topic across requests; a small transaction is one request', () => {
  const out = new OutputBuffer();
  const sent = { a: [] as Message[], b: [] as Message[] };
  for (let i = 0; i < 100; i++) {
    const topic = i % 3 === 0 ? 'b' : 'a';
    const m = message(i);
    sent[topic].push(m);
    out.push(topic, m);
  }
  assert.equal(out.batches().length, 1);
  assert.deepEqual(Object.fromEntries(perTopic(out)), sent);
  assert.deepEqual(new OutputBuffer().batches(), [], 'nothing pushed, no request');
});

test("one topic's records are cut at 512 kB per request, under the broker's 1 MB per partition batch", () => {
  const out = new OutputBuffer();
  const sent: Message[] = [];
  for (let i = 0; i < 3_000; i++) {
    const m = message(i, 1_000);
    sent.push(m);
    out.push('a', m);
  }
  const requests = out.batches();
  assert.ok(requests.length >= 6, `3 MB in requests of at most 512 kB (got ${requests.length})`);
  for (const request of requests) {
    const bytes = request[0].messages.reduce((n, m) => n + (m.value as Buffer).length, 0);
    assert.ok(bytes <= 512 * 1024, `${bytes} bytes in one request`);
  }
  assert.deepEqual(perTopic(out).get('a'), sent);
});

test('many topics share a request up to 4 MB in all', () => {
  const out = new OutputBuffer();
  for (let i = 0; i < 12_000; i++) out.push(`t${i % 20}`, message(i, 1_000)); // 20 topics x 600 kB
  const requests = out.batches();
  for (const request of requests) {
    const bytes = request.reduce((n, t) => n + t.messages.reduce((k, m) => k + (m.value as Buffer).length, 0), 0);
    assert.ok(bytes <= 4 * 1024 * 1024, `${bytes} bytes in one request`);
  }
  assert.ok(requests.length <= 4, `12 MB over 20 topics in a few requests (got ${requests.length})`);
  assert.equal(
    [...perTopic(out).values()].reduce((n, list) => n + list.length, 0),
    12_000,
  );
});

test("without the linear grouping (a library caller), at most 500 records per topic per request: kafkajs' own is quadratic", () => {
  assert.equal(linearGroupingInUse(), false, 'the tests load kafkajs without bin/finpipe');
  const out = new OutputBuffer();
  for (let i = 0; i < 1_200; i++) out.push('a', message(i));
  assert.deepEqual(
    out.batches().map((r) => r[0].messages.length),
    [500, 500, 200],
  );
});

test("headers count toward a request's size: late copies and dead letters carry more in headers than in their value", () => {
  const out = new OutputBuffer();
  const reason = 'x'.repeat(1_000);
  for (let i = 0; i < 3_000; i++)
    out.push('late', { key: 'k', value: Buffer.alloc(10), headers: { 'finpipe.late.reason': reason, other: Buffer.alloc(100) } });
  const requests = out.batches();
  for (const request of requests) {
    const bytes = request[0].messages.reduce((n, m) => n + (m.value as Buffer).length + reason.length + 100, 0);
    assert.ok(bytes <= 512 * 1024, `${bytes} bytes of values and headers in one request`);
  }
  assert.ok(requests.length >= 6, `3.3 MB of headers need several requests (got ${requests.length})`);
});
