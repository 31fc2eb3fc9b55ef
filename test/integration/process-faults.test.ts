import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admin as connectAdmin, producer as connectProducer, waitFor } from '../helpers/kafka';
import { runCli, startCli } from '../helpers/cli';
import { symbolToTopic } from '../../src/core/symbols';
import type { RawTrade } from '../../src/core/serde';
import {
  assertOutputsAreTheReference,
  decodeTrade,
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

test('a transaction the broker refuses (its output topic was deleted) is aborted and retried: the topic is recreated, nothing lost or doubled', async (t) => {
  const adm = await connectAdmin(t);
  const s = await scenario(t, adm, 1, 2);
  const [A, B] = s.symbols;
  const topicA = symbolToTopic(A);
  const p = await connectProducer(t);
  await p.send({ topic: s.raw, messages: [...frames(s, [A], 0, 1), ...frames(s, [B], 1, 19)].map(frameMessage) });
  const cli = startCli(t, s.args(...WINDOW_ARGS));
  await waitProcessed(adm, s); // committed, with saved state; process knows A's topic
  const lost = (await readToEnd(adm, [topicA])).filter((r) => r.headers['finpipe.type'] === 'trade').map((r) => decodeTrade(r.value!).id);
  assert.equal(lost.length, 1);

  // Someone deletes A's topic: the next transaction holding an A record fails (the broker
  // knows no such topic), after B's records of the same transaction were sent.
  await adm.deleteTopics({ topics: [topicA], timeout: 10_000 });
  await waitFor(`${topicA} to be gone`, async () => !(await adm.listTopics()).includes(topicA), 20_000, 200);
  await p.send({ topic: s.raw, messages: frames(s, [A, B], 20, 40).map(frameMessage) });
  await waitProcessed(adm, s).catch((error: Error) => {
    const log = cli
      .output()
      .stderr.split('\n')
      .filter((l) => !l.includes('"stats":{'))
      .join('\n');
    throw new Error(`${error.message}\n--- process stderr (stats left out) ---\n${log.slice(-5000)}`);
  });
  const { code, stderr } = await cli.stop('SIGTERM');
  assert.equal(code, 0, stderr);
  assert.match(stderr, /"msg":"transaction failed: aborted; retrying from the last commit"/, 'a transaction did fail');
  assert.match(
    stderr,
    /"nextOffset":"20","symbols":2,"msg":"partition assigned: state restored"/,
    'the retry restored the state of the last commit',
  );
  assert.ok((await adm.listTopics()).includes(topicA), 'the retry recreated the topic');

  // Exactly the reference, but for the one A trade that was in the deleted topic (its
  // windows' candles continue, with higher versions, in the recreated one).
  const exp = reference(await readToEnd(adm, [s.raw]), [1_000, 10_000], 2_000);
  await assertOutputsAreTheReference(adm, s, { ...exp, trades: exp.trades.filter((x) => !lost.includes(x.id)) });
});
