import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Admin, Consumer } from 'kafkajs';
import { runCli } from '../helpers/cli';
import { admin, createTopic, producer, testKafka, uniqueName, waitFor } from '../helpers/kafka';

/**
 * `finpipe groups` against the real broker, on idle groups (committed offsets, no members)
 * and live ones (a running consumer in this test process).
 */

interface Detail {
  groupId: string;
  state: string;
  members: number;
  finpipe: string | null;
  memberList: { clientId: string; assignment: { topic: string; partitions: number[] }[] }[];
  partitions: { topic: string; partition: number; committed: number | null; end: number; lag: number; clientId: string | null }[];
  totalLag: number;
}

interface ResetOutput {
  groupId: string;
  dryRun: boolean;
  partitions: { topic: string; partition: number; current: number | null; target: number }[];
}

/** A topic with 2 partitions of 5 records each, one minute apart (an hour ago onwards). */
async function topicWithRecords(t: TestContext): Promise<{ topic: string; base: number }> {
  const topic = await createTopic(t, 'groups', 2);
  const p = await producer(t);
  const base = Date.now() - 60 * 60_000;
  for (const partition of [0, 1])
    await p.send({ topic, messages: [0, 1, 2, 3, 4].map((i) => ({ partition, value: `v${i}`, timestamp: String(base + i * 60_000) })) });
  return { topic, base };
}

/** An idle group: offsets committed, no member. */
async function idleGroup(t: TestContext, a: Admin, topic: string, name = uniqueName('groups-idle')): Promise<string> {
  await a.setOffsets({
    groupId: name,
    topic,
    partitions: [
      { partition: 0, offset: '2' },
      { partition: 1, offset: '5' },
    ],
  });
  t.after(() => a.deleteGroups([name]).catch(() => {}));
  return name;
}

/** A live group: a consumer running until the end of the test. */
async function liveGroup(t: TestContext, topic: string): Promise<{ groupId: string; consumer: Consumer }> {
  const groupId = uniqueName('groups-live');
  const consumer = testKafka('groups-test-member').consumer({ groupId, sessionTimeout: 10_000, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let seen = 0;
  await consumer.run({ eachMessage: async () => void seen++ });
  await waitFor('the live consumer to read', () => seen >= 10, 30_000);
  t.after(async () => {
    await consumer.disconnect().catch(() => {});
    const a = testKafka().admin();
    await a.connect();
    await a.deleteGroups([groupId]).catch(() => {});
    await a.disconnect();
  });
  return { groupId, consumer };
}

const json = <T>(stdout: string) => JSON.parse(stdout) as T;

test('groups list and describe show idle and live groups with offsets, lag and members', async (t) => {
  const { topic } = await topicWithRecords(t);
  const a = await admin(t);
  const idle = await idleGroup(t, a, topic, `finpipe-process-${uniqueName('raw')}`);
  const live = await liveGroup(t, topic);

  const list = await runCli(['groups', 'list']);
  assert.equal(list.code, 0, list.stderr);
  const groups = json<{ groupId: string; state: string; members: number; finpipe: string | null }[]>(list.stdout);
  assert.deepEqual(
    groups.find((g) => g.groupId === idle),
    { groupId: idle, state: 'Empty', protocolType: 'consumer', members: 0, finpipe: 'process' },
  );
  assert.deepEqual(
    groups.find((g) => g.groupId === live.groupId),
    { groupId: live.groupId, state: 'Stable', protocolType: 'consumer', members: 1, finpipe: null },
  );

  const idleDetail = json<Detail>((await runCli(['groups', 'describe', idle])).stdout);
  assert.deepEqual(idleDetail.partitions, [
    { topic, partition: 0, committed: 2, end: 5, lag: 3, clientId: null, memberId: null },
    { topic, partition: 1, committed: 5, end: 5, lag: 0, clientId: null, memberId: null },
  ]);
  assert.equal(idleDetail.totalLag, 3);

  await waitFor('the live group to commit', async () => {
    const d = json<Detail>((await runCli(['groups', 'describe', live.groupId])).stdout);
    return d.partitions.length === 2 && d.partitions.every((p) => p.committed === 5 && p.lag === 0);
  });
  const liveDetail = json<Detail>((await runCli(['groups', 'describe', live.groupId])).stdout);
  assert.equal(liveDetail.state, 'Stable');
  assert.deepEqual(
    liveDetail.memberList.map((m) => [m.clientId, m.assignment]),
    [['groups-test-member', [{ topic, partitions: [0, 1] }]]],
  );
  assert.ok(liveDetail.partitions.every((p) => p.clientId === 'groups-test-member'));

  const table = await runCli(['groups', 'describe', idle, '--format', 'table']);
  assert.match(table.stdout, new RegExp(`group ${idle}\\s+Empty, 0 member\\(s\\), total lag 3\\s+\\(finpipe process\\)`));
  assert.match(table.stdout, new RegExp(`${topic}\\s+0\\s+2\\s+5\\s+3\\s+-`));

  const missing = await runCli(['groups', 'describe', uniqueName('no-such-group')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /consumer group no-such-group-\w+ does not exist \(hint: list the groups with `finpipe groups list`\)/);
});

test('groups reset-offsets: dry run, to earliest, latest, a datetime and a duration; refused while the group is active', async (t) => {
  const { topic, base } = await topicWithRecords(t);
  const a = await admin(t);
  const idle = await idleGroup(t, a, topic);
  const committed = async (groupId: string) =>
    (await a.fetchOffsets({ groupId, topics: [topic] }))[0].partitions
      .sort((x, y) => x.partition - y.partition)
      .map((p) => Number(p.offset));

  const dry = await runCli(['groups', 'reset-offsets', idle, '--topic', topic, '--to-earliest', '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.deepEqual(json<ResetOutput>(dry.stdout).partitions, [
    { topic, partition: 0, current: 2, target: 0 },
    { topic, partition: 1, current: 5, target: 0 },
  ]);
  assert.deepEqual(await committed(idle), [2, 5], 'a dry run changes nothing');

  const dryTable = await runCli(['groups', 'reset-offsets', idle, '--all-topics', '--to-earliest', '--dry-run', '--format', 'table']);
  assert.match(dryTable.stdout, new RegExp(`dry run: would reset ${idle} to the earliest offset`));

  const reset = async (...args: string[]) => {
    const r = await runCli(['groups', 'reset-offsets', idle, ...args]);
    assert.equal(r.code, 0, r.stderr);
    return committed(idle);
  };
  assert.deepEqual(await reset('--topic', topic, '--to-earliest'), [0, 0]);
  assert.deepEqual(await reset('--all-topics', '--to-latest'), [5, 5]);
  assert.deepEqual(await reset('--topic', topic, '--to-datetime', new Date(base + 3 * 60_000).toISOString()), [3, 3]);
  // Back to base + 1.5 min (30 s either side to spare): after the records stamped base + 0 and 1 min.
  const lookback = `${Math.round((Date.now() - (base + 90_000)) / 1000)}s`;
  assert.deepEqual(await reset('--topic', topic, '--by-duration', lookback), [2, 2]);

  const live = await liveGroup(t, topic);
  const refused = await runCli(['groups', 'reset-offsets', live.groupId, '--topic', topic, '--to-earliest']);
  assert.equal(refused.code, 1);
  assert.match(
    refused.stderr,
    new RegExp(
      `refusing to reset the offsets of group ${live.groupId}: it has 1 active member\\(s\\) \\(groups-test-member@.*\\(hint: stop its consumers first`,
    ),
  );
  const refusedDry = await runCli(['groups', 'reset-offsets', live.groupId, '--topic', topic, '--to-earliest', '--dry-run']);
  assert.equal(refusedDry.code, 1, 'even the plan is refused: it could not be applied');

  const usage = await runCli(['groups', 'reset-offsets', idle, '--topic', topic]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /give exactly one of --to-earliest, --to-latest, --to-datetime, --by-duration \(got 0\)/);
  const badDuration = await runCli(['groups', 'reset-offsets', idle, '--topic', topic, '--by-duration', 'a while']);
  assert.equal(badDuration.code, 2);
  assert.match(badDuration.stderr, /"a while" is not a duration/);
});

test('groups delete removes an idle group and refuses an active one', async (t) => {
  const { topic } = await topicWithRecords(t);
  const a = await admin(t);
  const idle = await idleGroup(t, a, topic);
  const live = await liveGroup(t, topic);

  const refused = await runCli(['groups', 'delete', live.groupId]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, new RegExp(`refusing to delete group ${live.groupId}: it has 1 active member`));
  // One active group among several: nothing is deleted.
  const mixed = await runCli(['groups', 'delete', idle, live.groupId]);
  assert.equal(mixed.code, 1);
  assert.ok(
    (await a.listGroups()).groups.some((g) => g.groupId === idle),
    'the idle group was kept too',
  );

  const deleted = await runCli(['groups', 'delete', idle]);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.deepEqual(json<{ deleted: string[] }>(deleted.stdout), { deleted: [idle] });
  assert.ok(!(await a.listGroups()).groups.some((g) => g.groupId === idle));

  const again = await runCli(['groups', 'delete', idle]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, new RegExp(`consumer group ${idle} does not exist`));
});
