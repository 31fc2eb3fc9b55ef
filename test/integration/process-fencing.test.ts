import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Producer } from 'kafkajs';
import { admin as connectAdmin, producer as connectProducer, waitFor } from '../helpers/kafka';
import { startCli } from '../helpers/cli';
import type { RawTrade } from '../../src/core/serde';
import {
  assertOutputsAreTheReference,
  committedFraction,
  frameMessage,
  readToEnd,
  reference,
  scenario,
  waitProcessed,
  type Frame,
  type Scenario,
} from './process-fixtures';

/**
 * A stalled (not killed) instance is a zombie: SIGSTOP it, let a second instance take its
 * partitions over (fencing its transactional producers), then SIGCONT it. Whatever it was
 * doing must not reach the output: the topics must hold exactly the reference, nothing
 * doubled or lost, while both instances go on sharing the work.
 */

const T0 = 1_699_999_980_000;
const WINDOW_ARGS = ['--windows', '1s,10s', '--lateness', '2s'];

function generate(s: Scenario, partitions: number, count: number): Frame[] {
  const clocks = s.symbols.map(() => T0);
  const frames: Frame[] = [];
  for (let n = 0; n < count; n++) {
    const i = (n * 7) % s.symbols.length;
    clocks[i] += 150 + ((n * 31) % 200);
    const trades: RawTrade[] = [{ s: s.symbols[i], t: clocks[i] - (n % 9 === 0 ? 2_500 : 0), p: 10 + (n % 13), v: 1 + (n % 2), c: null }];
    frames.push({ symbol: s.symbols[i], partition: i % partitions, trades, timestamp: T0 + 100_000 + n });
  }
  return frames;
}

async function feed(p: Producer, s: Scenario, frames: Frame[]): Promise<void> {
  for (let i = 0; i < frames.length; i += 10) {
    await p.send({ topic: s.raw, messages: frames.slice(i, i + 10).map(frameMessage) });
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a stalled instance (SIGSTOP) is fenced by the one that took over: after SIGCONT it writes nothing the output keeps', async (t) => {
  const adm = await connectAdmin(t);
  const s = await scenario(t, adm, 2, 4);
  const p = await connectProducer(t);
  const frames = generate(s, 2, 1_500);
  const third = frames.length / 3;

  const zombie = startCli(t, s.args(...WINDOW_ARGS));
  t.after(() => zombie.child.kill('SIGCONT')); // never leave a stopped process behind
  await feed(p, s, frames.slice(0, third));
  await waitFor('some progress', async () => (await committedFraction(adm, s)) > 0.2, 30_000);
  // Stop it while it is busy: input keeps arriving, so it holds fetched batches and, most of
  // the time, an open transaction.
  const whileStopped = 2 * third - 30;
  const feeding = feed(p, s, frames.slice(third, whileStopped));
  await waitFor('more progress', async () => (await committedFraction(adm, s)) > 0.45, 30_000);
  zombie.child.kill('SIGSTOP');
  await feeding;
  // Input that surely arrives while it is stopped, even when it had caught up before (on a
  // loaded machine the feed above can end before the stop): only the successor can commit it,
  // so the zombie must be evicted first, and its outstanding fetch returns it, so resumed it
  // holds a batch to write. Without this the zombie was once stopped with nothing to do and
  // resumed within its session: it simply rejoined, never fenced.
  await feed(p, s, frames.slice(whileStopped, 2 * third));

  const successor = startCli(t, s.args(...WINDOW_ARGS));
  await waitProcessed(adm, s, 60_000); // only the successor can commit: it took every partition over
  assert.match(successor.output().stderr, /"msg":"partition assigned: state restored"/);

  zombie.child.kill('SIGCONT');
  await feed(p, s, frames.slice(2 * third));
  const joins = () => zombie.output().stderr.split('"msg":"joined the group"').length - 1;
  await waitFor('the resumed instance to rejoin the group', () => joins() >= 2, 40_000);
  await waitProcessed(adm, s, 60_000);
  // It held fetched batches when it was stopped: resumed, it processes one and is refused.
  assert.match(
    zombie.output().stderr,
    /producer fenced: another instance owns this partition now/,
    'the resumed instance tried to write and was fenced',
  );
  for (const cli of [zombie, successor]) {
    const { code, stderr } = await cli.stop('SIGTERM');
    assert.equal(code, 0, stderr.slice(-3000));
  }

  const raw = await readToEnd(adm, [s.raw]);
  assert.equal(raw.length, frames.length);
  await assertOutputsAreTheReference(adm, s, reference(raw, [1_000, 10_000], 2_000));
});
