import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/cli';
import { admin, createTopic, producer, uniqueName } from '../helpers/kafka';
import { createDatabase } from '../helpers/mysql';
import { migrate } from '../../src/core/stores/mysql/schema';

interface Status {
  ok: boolean;
  services: { kafka: { reachable: boolean }; mysql: { reachable: boolean; error?: string } };
  topics: { name: string; partitions: number; messages: number }[];
  groups: {
    groupId: string;
    totalLag: number;
    partitions: { topic: string; partition: number; committed: number | null; end: number; lag: number }[];
  }[];
  symbols: { symbol: string; trades: number; lastTrade: string | null; lastCandle: string | null }[];
}

test('status reports topics, lag per partition and the latest trade and candle per symbol', async (t) => {
  const topic = await createTopic(t, 'status', 2);
  const p = await producer(t);
  await p.send({ topic, messages: [0, 1, 2, 3, 4].map((i) => ({ partition: 0, value: `a${i}` })) });
  await p.send({ topic, messages: [0, 1, 2].map((i) => ({ partition: 1, value: `b${i}` })) });
  const groupId = uniqueName('status-group');
  const a = await admin(t);
  await a.setOffsets({
    groupId,
    topic,
    partitions: [
      { partition: 0, offset: '2' },
      { partition: 1, offset: '3' },
    ],
  });
  t.after(() => a.deleteGroups([groupId]).catch(() => {}));

  const db = await createDatabase(t, 'fp_status');
  await db.connection.query(`USE \`${db.name}\``);
  await migrate(db.connection, db.name);
  await db.connection.query(`INSERT INTO trades (id, symbol, price, volume, trade_timestamp, ingest_timestamp, trade_conditions) VALUES
    ('00000000-0000-5000-8000-000000000001', 'AAPL', 1, 1, '2026-01-02 03:04:05.678', '2026-01-02 03:04:05.700', '[]'),
    ('00000000-0000-5000-8000-000000000002', 'AAPL', 1, 1, '2026-01-02 03:04:06.000', '2026-01-02 03:04:06.100', '[]')`);
  await db.connection
    .query(`INSERT INTO candles (symbol, window_ms, window_start, window_end, open, high, low, close, volume, vwap, trade_count, avg_price, is_final, version)
    VALUES ('AAPL', 10000, '2026-01-02 03:04:00', '2026-01-02 03:04:10', 1, 1, 1, 1, 2, 1, 2, 1, 0, 2)`);

  const r = await runCli(['status', '--format', 'json'], { FINPIPE_MYSQL_URL: db.url });
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as Status;
  assert.equal(s.ok, true);
  assert.deepEqual(
    s.topics.find((x) => x.name === topic),
    { name: topic, partitions: 2, messages: 8 },
  );
  const group = s.groups.find((g) => g.groupId === groupId);
  assert.ok(group, `group ${groupId} listed`);
  assert.deepEqual(group.partitions, [
    { topic, partition: 0, committed: 2, end: 5, lag: 3 },
    { topic, partition: 1, committed: 3, end: 3, lag: 0 },
  ]);
  assert.equal(group.totalLag, 3);
  assert.deepEqual(s.symbols, [
    { symbol: 'AAPL', trades: 2, lastTrade: '2026-01-02T03:04:06.000Z', lastCandle: '2026-01-02T03:04:10.000Z' },
  ]);

  const table = await runCli(['status'], { FINPIPE_MYSQL_URL: db.url });
  assert.equal(table.code, 0);
  assert.match(table.stdout, new RegExp(`${groupId}\\s+\\S+, 0 member\\(s\\), total lag 3`));
});

test('status exits 1 naming what is down, and still reports the rest', async () => {
  const r = await runCli(['status', '--format', 'json'], { FINPIPE_MYSQL_URL: 'mysql://root:hunter2-secret@127.0.0.1:1/finpipe' });
  assert.equal(r.code, 1);
  const s = JSON.parse(r.stdout) as Status;
  assert.equal(s.services.kafka.reachable, true);
  assert.equal(s.services.mysql.reachable, false);
  assert.match(s.services.mysql.error ?? '', /ECONNREFUSED/);
  assert.match(r.stderr, /MySQL unreachable/);
  assert.ok(!(r.stdout + r.stderr).includes('hunter2-secret'));
});
