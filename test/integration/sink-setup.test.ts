import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Admin } from 'kafkajs';
import mysql from 'mysql2/promise';
import { ensureDatabase, migrate, MIGRATIONS } from '../../src/core/stores/mysql/schema';
import { admin, createTopic, uniqueName, waitFor } from '../helpers/kafka';
import { createDatabase, MYSQL } from '../helpers/mysql';
import { startCli, logLines } from '../helpers/cli';
import {
  countRows,
  makeTrades,
  readTrades,
  sendInTransactions,
  settledEnds,
  sortTrades,
  tradeMessage,
  transactionalProducer,
  T0,
} from './sink-fixtures';

/**
 * The database set up wrongly, or by two sinks at once: a missing privilege or a dropped
 * table stops the sink with a clear error and nothing committed; two sinks migrating one
 * fresh database serialise on the migration lock.
 */

/** The group's committed offset of partition `partition` (-1: none). */
async function committedOffset(a: Admin, groupId: string, topic: string, partition = 0): Promise<string> {
  const [committed] = await a.fetchOffsets({ groupId, topics: [topic] });
  return committed.partitions.find((p) => p.partition === partition)?.offset ?? '-1';
}

test('a user without INSERT privilege: the sink stops at its first write naming the privilege, commits nothing, never shows the password', async (t) => {
  const db = await createDatabase(t);
  // The tables exist (root created them): the limited user gets as far as writing.
  await ensureDatabase(db.connection, db.name);
  await migrate(db.connection, db.name);
  const user = `fp_ro_${randomBytes(4).toString('hex')}`;
  const password = `pw-${randomBytes(8).toString('hex')}`;
  // '%' for TCP from anywhere; 127.0.0.1 and localhost too, so no anonymous account shadows it.
  const hosts = ['%', '127.0.0.1', 'localhost'];
  t.after(async () => {
    for (const host of hosts) await db.connection.query('DROP USER IF EXISTS ?@?', [user, host]).catch(() => {});
  });
  for (const host of hosts) {
    await db.connection.query('CREATE USER ?@? IDENTIFIED BY ?', [user, host, password]);
    await db.connection.query(`GRANT SELECT, CREATE, ALTER ON \`${db.name}\`.* TO ?@?`, [user, host]);
  }
  const topic = await createTopic(t, 'sink-noinsert', 1);
  const producer = await transactionalProducer();
  t.after(() => producer.disconnect());
  await sendInTransactions(producer, topic, makeTrades('AAPL', 200).map(tradeMessage));

  const groupId = uniqueName('sink-noinsert');
  const sink = startCli(t, ['sink', topic, '--group', groupId, '--flush', '100ms'], {
    FINPIPE_MYSQL_URL: `mysql://${user}:${password}@${MYSQL.host}:${MYSQL.port}/${db.name}`,
    FINPIPE_DLQ_TOPIC: uniqueName('sink-noinsert-dlq'),
  });
  const result = await Promise.race([
    sink.exited,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the sink did not stop within 30 s')), 30_000).unref()),
  ]);
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /finpipe: MySQL refused a write: .*INSERT command denied/);
  assert.match(result.stderr, /hint: .*privileges in FINPIPE_MYSQL_URL .*nothing was committed/);
  assert.doesNotMatch(result.stderr, /LOAD DATA LOCAL INFILE is not available/, 'a privilege error is not taken for local_infile=0');
  assert.ok(!result.stderr.includes(password) && !result.stdout.includes(password), 'the password never appears');
  assert.equal(await countRows(db.connection, db.name, 'trades'), 0);
  assert.equal(await committedOffset(await admin(t), groupId, topic), '-1', 'nothing committed');
});

test('the trades table dropped while the sink runs: it stops with a clear error; offsets stay at the rows written before', async (t) => {
  const db = await createDatabase(t);
  const topic = await createTopic(t, 'sink-droptable', 1);
  const producer = await transactionalProducer();
  t.after(() => producer.disconnect());
  const a = await admin(t);
  await sendInTransactions(producer, topic, makeTrades('MSFT', 300).map(tradeMessage));
  const [end] = await settledEnds(a, topic, [301]); // 300 records and one commit marker

  const groupId = uniqueName('sink-droptable');
  const sink = startCli(t, ['sink', topic, '--group', groupId, '--flush', '100ms'], {
    FINPIPE_MYSQL_URL: db.url,
    FINPIPE_DLQ_TOPIC: uniqueName('sink-droptable-dlq'),
  });
  await waitFor('the first rows, committed', async () => (await committedOffset(a, groupId, topic)) === end.high, 30_000);
  await db.connection.query(`DROP TABLE \`${db.name}\`.trades`);
  await sendInTransactions(producer, topic, makeTrades('MSFT', 300, T0 + 1e6).map(tradeMessage));
  const result = await Promise.race([
    sink.exited,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the sink did not stop within 30 s')), 30_000).unref()),
  ]);
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /finpipe: MySQL refused a write: .*trades' doesn't exist .*\(hint: .*nothing was committed for the batch\)/);
  assert.equal(await committedOffset(a, groupId, topic), end.high, 'nothing committed past the rows written before the drop');
});

test('two sinks migrating one fresh database at once: the schema is created once under the lock, and both write', async (t) => {
  const name = `fp_test_${randomBytes(5).toString('hex')}`;
  const check = await mysql.createConnection(MYSQL);
  t.after(async () => {
    await check.query(`DROP DATABASE IF EXISTS \`${name}\``);
    await check.end();
  });
  const topic = await createTopic(t, 'sink-migrate', 2);
  const producer = await transactionalProducer();
  t.after(() => producer.disconnect());
  const trades = makeTrades('ETH', 1_000);
  const messages = trades.map(tradeMessage);
  await sendInTransactions(producer, topic, messages.slice(0, 500), { partition: 0 });
  await sendInTransactions(producer, topic, messages.slice(500), { partition: 1 });

  // Two groups: each sink reads (and writes) every record, so both write for certain.
  const groups = [uniqueName('sink-migrate-a'), uniqueName('sink-migrate-b')];
  const env = { FINPIPE_MYSQL_URL: `mysql://${MYSQL.user}@${MYSQL.host}:${MYSQL.port}/${name}`, FINPIPE_DLQ_TOPIC: uniqueName('dlq') };
  const sinks = groups.map((g) => startCli(t, ['sink', topic, '--group', g, '--flush', '100ms'], env));
  const a = await admin(t);
  const ends = await settledEnds(a, topic, [501, 501]); // per partition: 500 records and one commit marker
  await waitFor(
    'both sinks to commit every record',
    async () => {
      for (const g of groups) for (const e of ends) if ((await committedOffset(a, g, topic, e.partition)) !== e.high) return false;
      return true;
    },
    45_000,
  );
  const results = await Promise.all(sinks.map((s) => s.stop('SIGTERM')));
  for (const r of results) {
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /sink: 1000 records written \(1000 trades/);
  }
  const applied = results.flatMap((r) => logLines(r.stderr, /applying schema migration/));
  assert.deepEqual(
    applied.map((l) => l.version).sort(),
    MIGRATIONS.map((m) => m.version),
    'each migration applied once, by one sink',
  );
  const [rows] = await check.query<mysql.RowDataPacket[]>(`SELECT version FROM \`${name}\`.finpipe_migrations ORDER BY version`);
  assert.deepEqual(
    rows.map((r) => Number(r.version)),
    MIGRATIONS.map((m) => m.version),
  );
  assert.deepEqual(await readTrades(check, name), sortTrades(trades));
  assert.equal(await countRows(check, name, 'trades'), trades.length);
});
