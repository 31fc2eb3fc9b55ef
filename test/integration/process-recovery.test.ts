import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Producer } from 'kafkajs';
import { admin as connectAdmin, producer as connectProducer, waitFor } from '../helpers/kafka';
import { startCli, type RunningCli } from '../helpers/cli';
import type { RawTrade } from '../../src/core/serde';
import {
  assertOutputsAreTheReference,
  committedFraction,
  committedProgress,
  frameMessage,
  readToEnd,
  reference,
  scenario,
  waitProcessed,
  type Frame,
  type Scenario,
} from './process-fixtures';

/**
 * Exactly once under failure and scale-out: kill -9 in the middle of a run (twice) and a
 * second instance sharing the partitions, with a handover, must both leave exactly the output
 * of an uninterrupted run — the reference — with no trade or final candle missing or doubled.
 */

const T0 = 1_699_999_980_000;
const WINDOW_ARGS = ['--windows', '1s,10s', '--lateness', '2s'];

function prng(seed: number): () => number {
  return () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
}

/** Frames for every symbol, interleaved; symbol i lives in partition i % partitions. */
function generate(s: Scenario, partitions: number, count: number, seed: number): Frame[] {
  const rnd = prng(seed);
  const clocks = s.symbols.map((_, i) => T0 + i * 37);
  const frames: Frame[] = [];
  for (let n = 0; n < count; n++) {
    const i = Math.floor(rnd() * s.symbols.length);
    const trades: RawTrade[] = [];
    for (let k = 1 + Math.floor(rnd() * 4); k > 0; k--) {
      clocks[i] += Math.floor(rnd() * 300);
      const outOfOrder = rnd() < 0.1 ? Math.floor(rnd() * 6_000) : 0; // some within 2 s, most too late
      trades.push({
        s: s.symbols[i],
        t: clocks[i] - outOfOrder,
        p: Math.round(1000 + rnd() * 500) / 100,
        v: Math.floor(rnd() * 4),
        c: rnd() < 0.3 ? ['1', null] : null,
      });
    }
    frames.push({ symbol: s.symbols[i], partition: i % partitions, trades, timestamp: T0 + 100_000 + n });
  }
  return frames;
}

/** Feeds frames in small chunks, paced, so the processors see a stream rather than one batch. */
async function feed(p: Producer, s: Scenario, frames: Frame[]): Promise<void> {
  for (let i = 0; i < frames.length; i += 25) {
    await p.send({ topic: s.raw, messages: frames.slice(i, i + 25).map(frameMessage) });
    await new Promise((r) => setTimeout(r, 15));
  }
}

/** The running process's log for a failure message: its last lines, without the once-a-second stats lines. */
function processLog(cli: RunningCli): string {
  return `--- process stderr (last lines, stats left out) ---\n${eventLines(cli).slice(-6000)}`;
}

function summaryOf(stdout: string): { trades: number; partitions: number[] } {
  return JSON.parse(stdout.trim().split('\n').pop()!) as { trades: number; partitions: number[] };
}

async function setup(t: TestContext, partitions: number) {
  const adm = await connectAdmin(t);
  const s = await scenario(t, adm, partitions, 6);
  const p = await connectProducer(t);
  return { adm, s, p };
}

test('kill -9 mid-run, twice, then a restart: the same trades (ids included) and candles as an uninterrupted run', async (t) => {
  const { adm, s, p } = await setup(t, 3);
  const frames = generate(s, 3, 2_400, 11);
  const third = frames.length / 3;

  const runs: RunningCli[] = [];
  const start = () => {
    const c = startCli(t, s.args(...WINDOW_ARGS));
    runs.push(c);
    return c;
  };
  let cli: RunningCli = start();
  /** waitFor, with the running process's last log lines in the error. */
  const waitWithLog = (what: string, done: () => Promise<boolean>) =>
    waitFor(what, done, 30_000).catch(async (error) => {
      const ends = (await adm.fetchTopicOffsets(s.raw)).map((o) => `${o.partition}:${o.low}-${o.high}`).join(' ');
      const [committed] = await adm.fetchOffsets({ groupId: s.group, topics: [s.raw] });
      const offsets = committed.partitions.map((o) => `${o.partition}:${o.offset}`).join(' ');
      throw new Error(`${(error as Error).message}\nraw offsets ${ends}; committed ${offsets}\n${processLog(cli)}`);
    });
  await feed(p, s, frames.slice(0, third));
  await waitWithLog('some progress', async () => (await committedFraction(adm, s)) > 0.1);
  cli.child.kill('SIGKILL');
  assert.equal((await cli.exited).signal, 'SIGKILL');

  cli = start();
  const doneByFirst = (await committedProgress(adm, s)).done;
  await feed(p, s, frames.slice(third, 2 * third));
  // Progress of this run, not only of the first: a fraction alone can be reached before it commits anything.
  await waitWithLog('progress after the first restart', async () => {
    const { done, total } = await committedProgress(adm, s);
    return done > doneByFirst && done / total > 0.45;
  });
  cli.child.kill('SIGKILL');
  await cli.exited;

  cli = start();
  await feed(p, s, frames.slice(2 * third));
  await waitProcessed(adm, s).catch((error) => {
    throw new Error(`${(error as Error).message}\n${processLog(cli)}`);
  });
  const { code, stderr } = await cli.stop('SIGTERM');
  assert.equal(code, 0, stderr);
  assert.match(
    stderr,
    /"nextOffset":"\d+","symbols":[1-9]\d*,"msg":"partition assigned: state restored"/,
    'the restart restored saved state',
  );

  const raw = await readToEnd(adm, [s.raw]);
  assert.equal(raw.length, frames.length, 'the raw topic holds every frame fed');
  const exp = reference(raw, [1_000, 10_000], 2_000);
  assert.equal(
    exp.trades.length,
    frames.reduce((n, f) => n + f.trades.length, 0),
    'the reference covers every trade fed',
  );
  assert.ok(exp.late.length > 0 && exp.finals.size > 100);
  await assertOutputsAreTheReference(adm, s, exp).catch((error: Error) => {
    // What each run did (joins, restores, failed transactions) is what explains a mismatch.
    const logs = runs.map((r, i) => `--- run ${i + 1} ---\n${eventLines(r)}`).join('\n');
    throw Object.assign(error, { message: `${error.message}\n${logs}` });
  });
});

/** A run's log without the once-a-second stats lines. */
function eventLines(cli: RunningCli): string {
  return cli
    .output()
    .stderr.split('\n')
    .filter((l) => l && !l.includes('"stats":{'))
    .join('\n');
}

test('two instances share the partitions and hand over on rebalance: the same output as one', async (t) => {
  const { adm, s, p } = await setup(t, 4);
  const frames = generate(s, 4, 2_000, 5);
  const half = frames.length / 2;

  const one = startCli(t, s.args(...WINDOW_ARGS));
  const two = startCli(t, s.args(...WINDOW_ARGS));
  const assignedBoth = () =>
    [one, two].every((c) => /"msg":"joined the group"/.test(c.output().stderr) && /"partitions":\[\d/.test(lastJoin(c)));
  await waitFor('both instances to get partitions', assignedBoth, 30_000);
  await feed(p, s, frames.slice(0, half));
  await waitFor('half of the input', async () => (await committedFraction(adm, s)) > 0.3, 30_000);

  const first = await one.stop('SIGTERM'); // leaves the group: its partitions and their state move to `two`
  assert.equal(first.code, 0, first.stderr);
  await feed(p, s, frames.slice(half));
  await waitProcessed(adm, s);
  const second = await two.stop('SIGTERM');
  assert.equal(second.code, 0, second.stderr);

  const a = summaryOf(first.stdout);
  const b = summaryOf(second.stdout);
  const exp = reference(await readToEnd(adm, [s.raw]), [1_000, 10_000], 2_000);
  assert.ok(a.trades > 0 && b.trades > 0, `both did work (${a.trades} + ${b.trades})`);
  assert.equal(a.trades + b.trades, exp.trades.length, 'together they processed each trade once');
  await assertOutputsAreTheReference(adm, s, exp);
});

function lastJoin(c: RunningCli): string {
  const joins = c
    .output()
    .stderr.split('\n')
    .filter((l) => l.includes('"msg":"joined the group"'));
  return joins[joins.length - 1] ?? '';
}
