import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Admin } from 'kafkajs';
import { runCli, startCli } from '../helpers/cli';
import { admin, createTopic, producer, testKafka, uniqueName, waitFor } from '../helpers/kafka';
import { codecs, RECORD_TYPE_HEADER, type Candle, type RawMessage, type Trade } from '../../src/core/serde';
import { deadLetterMessage } from '../../src/core/kafka/dead-letter';
import { CONSUME_GROUP_PREFIX } from '../../src/core/consume/reader';

/**
 * `finpipe consume` against the real broker: each kind of record finpipe writes, encoded
 * with finpipe's own codecs and header conventions, read back decoded; offsets; and no
 * consumer group left behind.
 */

interface Line {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  key?: string | null;
  headers?: Record<string, string>;
  type: string;
  value: Record<string, unknown> & { reason?: string; base64?: string; schemaId?: number };
}

const parseLines = (stdout: string): Line[] =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);

const RAW: RawMessage = { type: 'trade', data: [{ s: 'BINANCE:BTCUSDT', p: 62001.5, t: 1718000000123, v: 0.25, c: ['1', null] }] };
const TRADE: Trade = {
  id: '4b0c3a0e-1f2d-5c3b-9a8e-7d6c5b4a3f21',
  symbol: 'BINANCE:BTCUSDT',
  price: 62001.5,
  volume: 0.25,
  trade_timestamp: 1718000000123,
  ingest_timestamp: 1718000000200,
  trade_conditions: ['1'],
};
const CANDLE: Candle = {
  symbol: 'BINANCE:BTCUSDT',
  window_ms: 10_000,
  window_start: 1718000000000,
  window_end: 1718000010000,
  open: 62000,
  high: 62010,
  low: 61990,
  close: 62001.5,
  volume: 1.5,
  vwap: 62000.25,
  trade_count: 4,
  avg_price: 62000.5,
  is_final: true,
  version: 5,
};

/** Consume groups that exist now (each run's private group; none may outlive a run). */
async function consumeGroups(a: Admin): Promise<string[]> {
  return (await a.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(CONSUME_GROUP_PREFIX));
}

async function writeEveryKind(t: TestContext, topic: string): Promise<void> {
  const { raw, trade, candle } = codecs();
  const p = await producer(t);
  const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, 42]), trade.encode(TRADE)]);
  await p.send({
    topic,
    messages: [
      { key: 'BINANCE:BTCUSDT', value: raw.encode(RAW) },
      { key: 'BINANCE:BTCUSDT', value: trade.encode(TRADE), headers: { [RECORD_TYPE_HEADER]: 'trade' } },
      { key: 'BINANCE:BTCUSDT', value: candle.encode(CANDLE), headers: { [RECORD_TYPE_HEADER]: 'candle' } },
      {
        key: 'BINANCE:BTCUSDT',
        value: trade.encode(TRADE),
        headers: { [RECORD_TYPE_HEADER]: 'trade', 'finpipe.late.reason': 'its 10000ms window(s) had already closed' },
      },
      deadLetterMessage(
        { stage: 'produce', reason: 'p: must be a finite number > 0', source: 'today.ndjson:3', value: '{"s":"X","p":-1}' },
        1718000000999,
      ),
      { key: null, value: Buffer.from([0xff, 0xfe, 0x01, 0x02, 0x03]) },
      { key: null, value: framed, headers: { [RECORD_TYPE_HEADER]: 'trade' } },
    ],
  });
  // An aborted transaction: read_committed must never show it.
  const tx = testKafka().producer({ transactionalId: uniqueName('consume-test-tx'), idempotent: true, maxInFlightRequests: 1 });
  await tx.connect();
  t.after(() => tx.disconnect());
  const txn = await tx.transaction();
  await txn.send({ topic, messages: [{ value: Buffer.from('aborted, never to be seen') }] });
  await txn.abort();
  await p.send({ topic, messages: [{ value: raw.encode({ ...RAW, type: 'last' }) }] });
  // The abort marker is written after abort() returns; until then the last stable offset,
  // where consume stops, is still at the aborted record.
  const a = await admin(t);
  await waitFor('the last stable offset past the aborted transaction', async () => (await a.fetchTopicOffsets(topic))[0].high === '10');
}

test('consume decodes every kind of record finpipe writes, and leaves no group behind', async (t) => {
  const topic = await createTopic(t, 'consume-kinds', 1);
  const a = await admin(t);
  await writeEveryKind(t, topic);
  const before = await consumeGroups(a);

  const result = await runCli(['consume', topic, '--key', '--headers']);
  assert.equal(result.code, 0, result.stderr);
  const lines = parseLines(result.stdout); // off a terminal: JSON lines by default
  assert.deepEqual(
    lines.map((l) => l.type),
    ['raw', 'trade', 'candle', 'late-trade', 'dead-letter', 'undecodable', 'undecodable', 'raw'],
  );
  assert.deepEqual(lines[0].value, {
    type: 'trade',
    data: [{ s: 'BINANCE:BTCUSDT', p: 62001.5, t: 1718000000123, v: 0.25, c: ['1', null] }],
  });
  assert.equal(lines[0].key, 'BINANCE:BTCUSDT');
  assert.deepEqual(lines[1].value, TRADE);
  assert.deepEqual(lines[2].value, CANDLE);
  assert.deepEqual(lines[3].value, TRADE);
  assert.equal(lines[3].headers?.['finpipe.late.reason'], 'its 10000ms window(s) had already closed');
  assert.deepEqual(lines[4].value, {
    reason: 'p: must be a finite number > 0',
    stage: 'produce',
    source: 'today.ndjson:3',
    deadLetteredAt: new Date(1718000000999).toISOString(),
    original: { text: '{"s":"X","p":-1}', base64: Buffer.from('{"s":"X","p":-1}').toString('base64') },
  });
  assert.equal(lines[4].headers?.['finpipe.dlq.stage'], 'produce');
  assert.equal(lines[5].value.base64, Buffer.from([0xff, 0xfe, 0x01, 0x02, 0x03]).toString('base64'));
  assert.match(String(lines[5].value.reason), /not a valid FinnhubProducer.message Avro record/);
  assert.equal(lines[6].value.schemaId, 42);
  assert.equal(lines[6].value.reason, 'framed (schema id 42); pass --schema-registry to decode');
  assert.equal((lines[7].value as unknown as RawMessage).type, 'last');
  assert.ok(!result.stdout.includes('aborted'), 'records of an aborted transaction are not shown');
  // Offsets are the records' own: the aborted record (7) sits between 6 and the last, and so
  // does its abort marker unless the broker wrote the marker after the last record (it may:
  // abort() can return before the marker is written), so the last is at 9 or 8.
  assert.deepEqual(
    lines.slice(0, 7).map((l) => l.offset),
    [0, 1, 2, 3, 4, 5, 6],
  );
  assert.ok([8, 9].includes(lines[7].offset), `the last record's offset is 8 or 9, not ${lines[7].offset}`);

  const table = await runCli(['consume', topic, '--format', 'table']);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^PART\s+OFFSET\s+TIMESTAMP\s+TYPE\s+VALUE/);
  assert.match(table.stdout, /candle\s+BINANCE:BTCUSDT 10s 2024-06-10T06:13:20.000Z O 62000 H 62010 L 61990 C 62001.5 V 1.5 n 4 v5 final/);
  assert.match(table.stdout, /dead-letter\s+produce: p: must be a finite number > 0 \| from today.ndjson:3/);
  assert.match(table.stdout, /undecodable\s+.*\| base64 \/\/4BAgM=/);

  const raw = await runCli(['consume', topic, '--format', 'raw', '--offset', '4', '--num', '1']);
  assert.equal(raw.stdout, '{"s":"X","p":-1}\n');

  assert.deepEqual(await consumeGroups(a), before, 'no consume group is left behind');
});

test('consume --offset start|end|n|-n|@time, --partition and --num', async (t) => {
  const topic = await createTopic(t, 'consume-offsets', 2);
  const p = await producer(t);
  const base = Date.now() - 60 * 60_000;
  for (const partition of [0, 1])
    await p.send({
      topic,
      messages: [0, 1, 2, 3, 4].map((i) => ({ partition, value: `p${partition}-${i}`, timestamp: String(base + i * 60_000) })),
    });
  const values = async (...args: string[]) => {
    const r = await runCli(['consume', topic, '--format', 'raw', ...args]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split('\n').filter(Boolean).sort();
  };
  assert.equal((await values()).length, 10);
  assert.deepEqual(await values('--offset', 'end'), []);
  assert.deepEqual(await values('--offset', '3', '--partition', '0'), ['p0-3', 'p0-4']);
  assert.deepEqual(await values('--offset', '99', '--partition', '0'), []);
  assert.deepEqual(await values('--offset=-2'), ['p0-3', 'p0-4', 'p1-3', 'p1-4']);
  assert.deepEqual(await values('--offset', `@${new Date(base + 3 * 60_000).toISOString()}`, '-p', '1'), ['p1-3', 'p1-4']);
  assert.deepEqual(await values('--offset', `@${base + 4 * 60_000}`), ['p0-4', 'p1-4']);
  assert.deepEqual(await values('--partition', '1', '--num', '2'), ['p1-0', 'p1-1']);
  assert.equal((await values('--num', '3')).length, 3);

  const missing = await runCli(['consume', topic, '--partition', '7']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /has no partition 7 \(hint: its partitions are 0, 1\)/);
  const badOffset = await runCli(['consume', topic, '--offset', 'middle']);
  assert.equal(badOffset.code, 2);
  assert.match(badOffset.stderr, /"middle" is not an offset; use start, end, <n>, -<n> or @<time>/);
});

test('consume --follow shows new records, commits nothing, and its group is gone after Ctrl-C; -b and -X reach the client', async (t) => {
  const topic = await createTopic(t, 'consume-follow', 1);
  const a = await admin(t);
  const p = await producer(t);
  await p.send({ topic, messages: [{ value: 'first' }] });
  const before = await consumeGroups(a);

  // -b wins over a broken FINPIPE_KAFKA_BROKERS; -X client.id names the member.
  const env = { FINPIPE_KAFKA_BROKERS: '127.0.0.1:1' };
  const clientId = uniqueName('probe');
  const cli = startCli(t, ['consume', topic, '--follow', '--format', 'raw', '-b', '127.0.0.1:9092', '-X', `client.id=${clientId}`], env);
  await waitFor('the first record', () => cli.output().stdout.includes('first\n'), 30_000);
  await p.send({ topic, messages: [{ value: 'second' }] });
  await waitFor('the record written while following', () => cli.output().stdout.includes('second\n'), 30_000);

  const [group] = (await consumeGroups(a)).filter((g) => !before.includes(g));
  assert.ok(group, 'while running, the private group exists');
  const { groups } = await a.describeGroups([group]);
  assert.deepEqual(
    groups[0].members.map((m) => m.clientId),
    [`${clientId}-consume`],
  );
  const offsets = await a.fetchOffsets({ groupId: group, topics: [topic] });
  assert.deepEqual(
    offsets[0].partitions.map((x) => x.offset),
    ['-1'],
    'nothing committed',
  );

  const ended = await cli.stop('SIGINT');
  assert.equal(ended.code, 0, ended.stderr);
  await waitFor('the private group to be deleted', async () => !(await consumeGroups(a)).includes(group), 20_000);
});

test('-X with an unknown key or a bad value is a usage error listing the supported keys', async () => {
  const r = await runCli(['consume', 'whatever', '-X', 'linger.ms=5', '-X', 'session.timeout.ms=soon']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /-X linger\.ms: not a supported setting/);
  assert.match(r.stderr, /-X session\.timeout\.ms: "soon" must be a whole number of milliseconds/);
  assert.match(r.stderr, /hint: supported -X keys: client\.id, request\.timeout\.ms, .*fetch\.max\.wait\.ms/);
});

test('consume never shows a record of an aborted transaction, also when the broker lists aborted transactions out of first-offset order', async (t) => {
  // kafkajs 2.2.4 alone shows `a1` here (src/core/kafka/read-committed.ts): producer A's
  // transaction starts first (a1 at offset 0) but is aborted after producer B's (b1), so the
  // broker lists [B, A]. Then a committed record, so that there is something to show.
  const topic = await createTopic(t, 'consume-aborted', 1);
  const transactional = async (name: string) => {
    const p = testKafka().producer({ transactionalId: uniqueName(`consume-tx-${name}`), idempotent: true, maxInFlightRequests: 1 });
    await p.connect();
    t.after(() => p.disconnect());
    return p;
  };
  const [a, b] = [await transactional('a'), await transactional('b')];
  const txA = await a.transaction();
  await txA.send({ topic, messages: [{ value: 'a1' }] });
  const txB = await b.transaction();
  await txB.send({ topic, messages: [{ value: 'b1' }] });
  await txA.send({ topic, messages: [{ value: 'a2' }] });
  await txB.abort();
  await txA.abort();
  const txC = await a.transaction();
  await txC.send({ topic, messages: [{ value: 'c1' }] });
  await txC.commit();

  const r = await runCli(['consume', topic, '--format', 'raw']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.split('\n').filter(Boolean), ['c1']);
});
