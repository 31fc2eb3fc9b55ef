/**
 * `finpipe produce` (the real executable, the real broker) against input no stage can carry:
 * websocket frames larger than a Kafka record (a 10 MB invalid one, a 100,000-trade one) and
 * trades breaking the limits of src/core/limits.ts. Each bad trade goes to the dead-letter
 * topic on its own with its reason, the good trades of the same frame reach the raw topic,
 * and produce never stops.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { WebSocketServer } from 'ws';
import { codecs, type RawTrade } from '../../src/core/serde';
import { DLQ_HEADERS } from '../../src/core/kafka/dead-letter';
import { LIMITS } from '../../src/core/limits';
import { BROKERS, deleteTopicsQuietly, readTopic, uniqueName, type ReadRecord } from '../helpers/kafka';
import { runCli } from '../helpers/cli';

const decode = (r: ReadRecord) => codecs().raw.decode(r.value!);
const tradesOf = (records: ReadRecord[]): RawTrade[] =>
  records.sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset)).flatMap((r) => decode(r).data);

function topicsFor(t: TestContext) {
  const id = uniqueName('x').slice(2);
  // Dots in the dead-letter topic's name: a symbol colliding with it through "_" must be refused too.
  const topics = { raw: `produce-lim-raw-${id}`, deadLetter: `produce.lim.dlq-${id}`, late: `produce-lim-late-${id}` };
  t.after(() => deleteTopicsQuietly([topics.raw, topics.deadLetter]));
  const env = {
    FINPIPE_RAW_TOPIC: topics.raw,
    FINPIPE_DLQ_TOPIC: topics.deadLetter,
    FINPIPE_LATE_TOPIC: topics.late,
    FINPIPE_KAFKA_BROKERS: BROKERS.join(','),
  };
  return { topics, env };
}

async function framesFile(t: TestContext, frames: unknown[]): Promise<string> {
  const file = path.join(os.tmpdir(), `${uniqueName('produce-limits')}.ndjson`);
  await writeFile(file, frames.map((f) => JSON.stringify(f)).join('\n') + '\n');
  t.after(() => rm(file, { force: true }));
  return file;
}

test('websocket frames over a Kafka record: 100,000 trades are split under the limit in order, a 10 MB invalid frame is dead-lettered cut', async (t) => {
  const { topics, env } = topicsFor(t);
  const now = Date.now();
  const burst = Array.from({ length: 100_000 }, (_, i) => ({ s: 'BIG:WS', p: 1 + i / 1e6, t: now - 100_000 + i, v: i }));
  const invalid = Buffer.alloc(10_000_000, '{');
  const after = { type: 'trade', data: [{ s: 'BIG:WS', p: 2, t: now, v: 100_000 }] };
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  t.after(() => server.close());
  server.on('connection', (ws) => {
    ws.send(invalid.toString('latin1'));
    ws.send(JSON.stringify({ type: 'trade', data: burst }));
    ws.send(JSON.stringify(after));
  });
  await new Promise((resolve) => server.once('listening', resolve));
  const port = (server.address() as { port: number }).port;
  // --max-trades: produce stops by itself once every good trade is in, and must exit 0.
  const result = await runCli(['produce', 'BIG:WS', '--url', `ws://127.0.0.1:${port}`, '--max-trades', '100001'], env, 60_000);
  assert.equal(result.code, 0, result.stderr.slice(-2000));

  const records = await readTopic(topics.raw, (rs) => rs.reduce((n, r) => n + decode(r).data.length, 0) >= 100_001, 30_000);
  assert.ok(records.length >= 3, `split into ${records.length} records`);
  for (const r of records) {
    assert.ok(r.value!.length <= LIMITS.recordMaxBytes);
    assert.equal(r.key!.toString(), 'BIG:WS');
  }
  assert.deepEqual(
    tradesOf(records).map((x) => x.v),
    Array.from({ length: 100_001 }, (_, i) => i),
    'every trade once, in the order received',
  );
  const [letter] = await readTopic(topics.deadLetter, (rs) => rs.length >= 1);
  assert.equal(letter.value!.length, LIMITS.recordMaxBytes);
  assert.equal(letter.headers[DLQ_HEADERS.truncated], 'true');
  assert.equal(letter.headers[DLQ_HEADERS.originalBytes], '10000000');
  assert.equal(letter.headers[DLQ_HEADERS.originalSha256], createHash('sha256').update(invalid).digest('hex'));
});

test('each limit: the bad trade is dead-lettered on its own with its reason, the good trades of the same frame reach the raw topic', async (t) => {
  const { topics, env } = topicsFor(t);
  const now = Date.now();
  const ok = (s: string, dt: number, v: number) => ({ s, p: 10, t: now + dt, v });
  const bad: [trade: Record<string, unknown>, reason: RegExp][] = [
    [{ ...ok('x', 0, 0), s: 'S'.repeat(200) }, /\.s: symbol "S{40}\.\.\." is 200 characters long; at most 128/],
    [{ ...ok(topics.raw, 0, 0) }, /\.s: symbol .* reserved for finpipe's own topic/],
    [{ ...ok(topics.deadLetter.replace(/\./g, ':'), 0, 0) }, /reserved for finpipe's own topic "produce\.lim\.dlq-/],
    [{ ...ok(topics.late, 0, 0) }, /reserved for finpipe's own topic "produce-lim-late-/],
    [{ ...ok('__consumer_offsets', 0, 0) }, /reserved for Kafka's internal topics/],
    [{ ...ok('finpipe-process-state', 0, 0) }, /reserved for process's state changelogs/],
    [{ ...ok('AAPL', 0, 0), t: Date.UTC(10000, 0, 1) }, /\.t: 253402300800000 .* is after 9999-12-31T23:59:59\.999Z/],
    [{ ...ok('AAPL', 100 * 365 * 86_400_000, 0) }, /\.t: .* ms ahead of this machine's clock, more than the 60000 ms allowed/],
    [{ ...ok('AAPL', 120_000, 0) }, /\.t: .* ms ahead of this machine's clock/],
    [{ ...ok('AAPL', 0, 0), c: Array.from({ length: 17 }, () => '1') }, /\.c: 17 condition codes; at most 16/],
    [{ ...ok('AAPL', 0, 0), c: ['x'.repeat(33)] }, /\.c\[0\]: condition code is 33 characters long; at most 32/],
  ];
  const good = [ok('AAPL', -1000, 1), ok('MSFT', 0, 2), ok('AAPL', 30_000, 3)]; // 30 s ahead is within the default minute
  const frame = { type: 'trade', data: [good[0], ...bad.map(([trade]) => trade), good[1], good[2]] };
  const result = await runCli(['produce', '--from-file', await framesFile(t, [frame])], env);
  assert.equal(result.code, 0, result.stderr.slice(-2000));

  const sent = tradesOf(await readTopic(topics.raw, (rs) => rs.reduce((n, r) => n + decode(r).data.length, 0) >= 3));
  assert.deepEqual(sent.map((x) => x.v).sort(), [1, 2, 3], 'the good trades of the frame, and nothing else');
  const letters = await readTopic(topics.deadLetter, (rs) => rs.length >= bad.length);
  assert.equal(letters.length, bad.length, 'one dead letter per bad trade');
  for (const [i, [trade, reason]] of bad.entries()) {
    const letter = letters.find((l) => l.value!.toString() === JSON.stringify(trade));
    assert.ok(letter, `bad trade ${i} is in the dead-letter topic as received`);
    assert.match(letter.headers[DLQ_HEADERS.reason], new RegExp(`^data\\[${i + 1}\\]`));
    assert.match(letter.headers[DLQ_HEADERS.reason], reason);
    assert.match(letter.headers[DLQ_HEADERS.source], /produce-limits-.*\.ndjson:1$/);
  }
});

test('--max-future and FINPIPE_MAX_FUTURE set how far ahead a trade may be (the flag wins)', async (t) => {
  const { topics, env } = topicsFor(t);
  const now = Date.now();
  const file = await framesFile(t, [{ type: 'trade', data: [{ s: 'AAPL', p: 1, t: now + 120_000, v: 1 }] }]);
  // Two minutes ahead: allowed by FINPIPE_MAX_FUTURE=5m, refused by --max-future 30s.
  assert.equal((await runCli(['produce', '--from-file', file], { ...env, FINPIPE_MAX_FUTURE: '5m' })).code, 0);
  const refused = await runCli(['produce', '--from-file', file, '--max-future', '30s'], { ...env, FINPIPE_MAX_FUTURE: '5m' });
  assert.equal(refused.code, 0, refused.stderr.slice(-2000));
  assert.equal(tradesOf(await readTopic(topics.raw, (rs) => rs.length >= 1)).length, 1, 'once, from the first run');
  const [letter] = await readTopic(topics.deadLetter, (rs) => rs.length >= 1);
  assert.match(letter.headers[DLQ_HEADERS.reason], /more than the 30000 ms allowed/);
  const usage = await runCli(['produce', '--from-file', file, '--max-future', 'soon'], env);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /"soon" is not a duration/);
});
