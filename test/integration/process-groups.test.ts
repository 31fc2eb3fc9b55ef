import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Admin } from 'kafkajs';
import { admin as connectAdmin, deleteTopicsQuietly, producer as connectProducer, waitFor } from '../helpers/kafka';
import { startCli } from '../helpers/cli';
import { createDatabase } from '../helpers/mysql';
import { symbolToTopic } from '../../src/core/symbols';
import type { RawTrade } from '../../src/core/serde';
import { readCandles, readTrades } from './sink-fixtures';
import {
  assertOutputsAreTheReference,
  byId,
  deleteGroupsQuietly,
  frameMessage,
  readToEnd,
  reference,
  scenario,
  waitProcessed,
  type Frame,
  type Scenario,
} from './process-fixtures';

/**
 * Consumer groups and topic names of `process`: its state reader leaves no group behind (and
 * removes those of crashed runs), the default group depends on the raw topic, and
 * --topic-prefix keeps two configurations' output topics apart, readable by `sink --pattern`.
 */

const T0 = 1_699_999_980_000;

function frames(s: Scenario, partitions: number, count = 60): Frame[] {
  const out: Frame[] = [];
  for (let n = 0; n < count; n++) {
    const i = n % s.symbols.length;
    const trade: RawTrade = { s: s.symbols[i], t: T0 + n * 700, p: 100 + (n % 7), v: 1 + (n % 3), c: null };
    out.push({ symbol: s.symbols[i], partition: i % partitions, trades: [trade], timestamp: T0 + 100_000 + n });
  }
  return out;
}

async function readerGroups(adm: Admin, group: string): Promise<string[]> {
  const prefix = `${group}-state-reader-`;
  return (await adm.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
}

test('the state reader leaves no consumer group behind, and the next start removes those a crashed run left', async (t) => {
  const adm = await connectAdmin(t);
  const s = await scenario(t, adm, 2, 2);
  const p = await connectProducer(t);
  await p.send({ topic: s.raw, messages: frames(s, 2).map(frameMessage) });
  // What a crashed run of an earlier version leaves: an empty reader group with committed offsets.
  const leftover = `${s.group}-state-reader-${randomUUID()}`;
  const notOurs = `${s.group}-state-reader-kept`;
  for (const groupId of [leftover, notOurs]) {
    await adm.setOffsets({ groupId, topic: s.raw, partitions: [{ partition: 0, offset: '1' }] });
    t.after(() => deleteGroupsQuietly([groupId]));
  }
  assert.deepEqual((await readerGroups(adm, s.group)).sort(), [leftover, notOurs].sort());

  const cli = startCli(t, s.args());
  await waitProcessed(adm, s);
  const running = await readerGroups(adm, s.group);
  assert.ok(!running.includes(leftover), `the leftover ${leftover} was deleted at start`);
  assert.ok(running.includes(notOurs), 'a group that merely starts alike is not touched');
  const live = running.filter((g) => g !== notOurs);
  assert.equal(live.length, 1, `one live reader group while running: ${running.join(', ')}`);
  const [liveOffsets] = await adm.fetchOffsets({ groupId: live[0], topics: [`${s.group}-state`] });
  assert.ok(
    liveOffsets.partitions.every((o) => o.offset === '-1'),
    'the reader commits nothing',
  );

  const { code, stderr } = await cli.stop('SIGTERM');
  assert.equal(code, 0, stderr);
  assert.match(stderr, /deleted state-reader groups left behind by earlier runs/);
  assert.deepEqual(await readerGroups(adm, s.group), [notOurs], 'the clean stop deleted its own reader group');
});

test('without --group, the group is derived from the raw topic', async (t) => {
  const adm = await connectAdmin(t);
  const s = await scenario(t, adm, 1, 1);
  const derived = `finpipe-process-${s.raw}`;
  t.after(async () => {
    await deleteGroupsQuietly([derived]);
    await deleteTopicsQuietly([`${derived}-state`]);
  });
  const p = await connectProducer(t);
  await p.send({ topic: s.raw, messages: frames(s, 1, 10).map(frameMessage) });
  const args = s.args().filter((a, i, all) => a !== '--group' && all[i - 1] !== '--group');
  const cli = startCli(t, args);
  await waitProcessed(adm, { ...s, group: derived });
  const { code, stderr } = await cli.stop('SIGTERM');
  assert.equal(code, 0, stderr);
  assert.match(stderr, new RegExp(`"groupId":"${derived}"`));
  assert.ok((await adm.listTopics()).includes(`${derived}-state`), 'its state topic follows the group');
});

test('--topic-prefix keeps two configurations apart, and sink --pattern reads the prefixed topics into MySQL', async (t) => {
  const adm = await connectAdmin(t);
  const prefix = `final-${randomUUID().slice(0, 6)}-`;
  const prefixed = (symbol: string) => prefix + symbolToTopic(symbol);
  const s = await scenario(t, adm, 2, 3);
  t.after(() => deleteTopicsQuietly([...s.symbols.map(prefixed), `${s.late}-final`, `${s.group}-final-state`]));
  const p = await connectProducer(t);
  await p.send({ topic: s.raw, messages: frames(s, 2).map(frameMessage) });
  const windows = ['--windows', '1s,10s', '--lateness', '2s'];

  // The help's example: a second configuration with --emit final, its own group and a prefix.
  const updates = startCli(t, s.args(...windows));
  const finals = startCli(t, [
    ...s.args(...windows, '--emit', 'final', '--topic-prefix', prefix),
    '--group',
    `${s.group}-final`,
    '--late-topic',
    `${s.late}-final`,
  ]);
  await waitProcessed(adm, s);
  await waitProcessed(adm, { ...s, group: `${s.group}-final` });
  for (const cli of [updates, finals]) {
    const { code, stderr } = await cli.stop('SIGTERM');
    assert.equal(code, 0, stderr);
  }

  const exp = reference(await readToEnd(adm, [s.raw]), [1_000, 10_000], 2_000);
  await assertOutputsAreTheReference(adm, s, exp); // the unprefixed topics: exactly one configuration's output
  await assertOutputsAreTheReference(adm, { ...s, late: `${s.late}-final` }, { ...exp, open: new Map() }, prefixed);

  const db = await createDatabase(t, 'fp_prefix');
  const sinkGroup = `${s.group}-sink`;
  t.after(() => deleteGroupsQuietly([sinkGroup, `${s.group}-final`]));
  const sink = startCli(t, ['sink', '--pattern', `${prefix}.*`, '--mysql-url', db.url, '--group', sinkGroup, '--flush', '200ms'], {
    FINPIPE_DLQ_TOPIC: s.dlq,
  });
  await waitFor(
    'the sink to write every prefixed topic',
    async () => {
      const [[tr], [ca]] = await Promise.all([
        db.connection.query(`SELECT COUNT(*) AS n FROM \`${db.name}\`.trades`).catch(() => [[{ n: -1 }]]),
        db.connection.query(`SELECT COUNT(*) AS n FROM \`${db.name}\`.candles`).catch(() => [[{ n: -1 }]]),
      ]);
      return (tr as { n: number }[])[0].n === exp.trades.length && (ca as { n: number }[])[0].n === exp.finals.size;
    },
    40_000,
    250,
  );
  const stopped = await sink.stop('SIGTERM');
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.deepEqual((await readTrades(db.connection, db.name)).sort(byId), [...exp.trades].sort(byId));
  const candles = await readCandles(db.connection, db.name);
  assert.ok(candles.every((c) => c.is_final));
  assert.deepEqual(new Map(candles.map((c) => [`${c.symbol}|${c.window_ms}|${c.window_start}`, c])), exp.finals);
});
