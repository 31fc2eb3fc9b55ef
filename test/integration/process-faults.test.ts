import '../helpers/kafkajs-read-committed'; // first: fixes kafkajs' read_committed filter before kafkajs loads
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigResourceTypes } from 'kafkajs';
import { admin as connectAdmin, producer as connectProducer, waitFor } from '../helpers/kafka';
import { runCli, startCli } from '../helpers/cli';
import { symbolToTopic } from '../../src/core/symbols';
import type { RawTrade } from '../../src/core/serde';
import {
  assertOutputsAreTheReference,
  frameMessage,
  readToEnd,
  reference,
  scenario,
  waitProcessed,
  type Frame,
  type Scenario,
} from './process-fixtures';

/**
 * `process` when Kafka lets it down: its state topic gone (a clear STATE_MISSING, never a
 * silent empty state), and a transaction the broker refuses (aborted, retried from the last
 * commit, nothing lost or doubled).
 */

const T0 = 1_699_999_980_000;
const WINDOW_ARGS = ['--windows', '1s,10s', '--lateness', '2s'];

function frames(s: Scenario, symbols: string[], from: number, count: number): Frame[] {
  const out: Frame[] = [];
  for (let n = from; n < from + count; n++) {
    const symbol = symbols[n % symbols.length];
    const trade: RawTrade = { s: symbol, t: T0 + n * 400 - (n % 5 === 0 ? 1_500 : 0), p: 50 + (n % 11), v: n % 4, c: null };
    out.push({ symbol, partition: 0, trades: [trade], timestamp: T0 + 100_000 + n });
  }
  return out;
}

test('a deleted state topic: the next start stops with STATE_MISSING and says what to do', async (t) => {
  const adm = await connectAdmin(t);
  const s = await scenario(t, adm, 1, 1);
  const p = await connectProducer(t);
  await p.send({ topic: s.raw, messages: frames(s, s.symbols, 0, 20).map(frameMessage) });
  const cli = startCli(t, s.args(...WINDOW_ARGS));
  await waitProcessed(adm, s);
  assert.equal((await cli.stop('SIGTERM')).code, 0);

  const stateTopic = `${s.group}-state`;
  await adm.deleteTopics({ topics: [stateTopic], timeout: 10_000 });
  await waitFor('the state topic to be gone', async () => !(await adm.listTopics()).includes(stateTopic), 20_000, 200);
  await p.send({ topic: s.raw, messages: frames(s, s.symbols, 20, 5).map(frameMessage) });

  const restarted = await runCli(s.args(...WINDOW_ARGS), {}, 60_000);
  assert.equal(restarted.code, 1, restarted.stderr);
  assert.match(
    restarted.stderr,
    new RegExp(`finpipe: no saved state in ${stateTopic} partition 0 matches the committed offset 20 of ${s.raw}/0`),
  );
  assert.match(restarted.stderr, /hint: the state topic was probably deleted or recreated; reprocess with a new --group/);
  const [committed] = await adm.fetchOffsets({ groupId: s.group, topics: [s.raw] });
  assert.equal(committed.partitions[0].offset, '20', 'nothing was processed from an empty state');
});

test('a transaction the broker refuses is aborted and retried from the last commit: nothing lost or doubled', async (t) => {
  const adm = await connectAdmin(t);
  const s = await scenario(t, adm, 1, 2);
  const [A, B] = s.symbols;
  // A's topic exists already and refuses every record (max.message.bytes=1): each transaction
  // holding an A record fails, after B's records of the same transaction were sent.
  const topicA = symbolToTopic(A);
  await adm.createTopics({
    topics: [{ topic: topicA, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '1' }] }],
    waitForLeaders: true,
  });
  const p = await connectProducer(t);
  await p.send({ topic: s.raw, messages: frames(s, [B], 0, 20).map(frameMessage) });
  const cli = startCli(t, s.args(...WINDOW_ARGS));
  await waitProcessed(adm, s); // B alone: committed, with saved state

  await p.send({ topic: s.raw, messages: frames(s, [A, B], 20, 40).map(frameMessage) });
  await waitFor(
    'a failed transaction',
    () => /transaction failed: aborted; retrying from the last commit/.test(cli.output().stderr),
    30_000,
  );
  const [stuck] = await adm.fetchOffsets({ groupId: s.group, topics: [s.raw] });
  assert.equal(stuck.partitions[0].offset, '20', 'the failed transaction committed no offset');
  await adm.alterConfigs({
    validateOnly: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topicA, configEntries: [{ name: 'max.message.bytes', value: '1048588' }] }],
  });
  await waitProcessed(adm, s);
  const { code, stderr } = await cli.stop('SIGTERM');
  assert.equal(code, 0, stderr);
  assert.match(
    stderr,
    /"msg":"partition assigned: state restored"[\s\S]*"nextOffset":"20","symbols":1,"msg":"partition assigned: state restored"/,
    'the retry restored the state of the last commit',
  );

  await assertOutputsAreTheReference(adm, s, reference(await readToEnd(adm, [s.raw]), [1_000, 10_000], 2_000));
});
