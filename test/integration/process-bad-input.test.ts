import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admin as connectAdmin, deleteTopicsQuietly, producer as connectProducer } from '../helpers/kafka';
import { startCli } from '../helpers/cli';
import { codecs, type RawTrade } from '../../src/core/serde';
import {
  assertOutputsAreTheReference,
  frameMessage,
  readToEnd,
  reference,
  scenario,
  waitProcessed,
  type Frame,
  type ReadBack,
  type Scenario,
} from './process-fixtures';

/**
 * No single raw record may stop `process` or leak into a topic that is not a symbol topic:
 * symbols without a valid topic name, symbols mapping onto Kafka's internal topics or
 * finpipe's own, and trades from the future (which would move the watermark for ever) are
 * dead-lettered with their reason, and the good trades around them — in the same partition,
 * even in the same record — come out exactly as if the bad ones had never been there, before
 * and after a restart.
 */

const T0 = 1_699_999_980_000; // minute-aligned, 2023
const WINDOW_ARGS = ['--windows', '1s,10s', '--lateness', '2s', '--max-future', '2m'];
/** Every trade stamped later than this is one process must refuse (the good ones are near T0). */
const FUTURE = T0 + 86_400_000;

/** The bad symbols of a scenario, each with the reason its dead letter must give. */
function badSymbols(s: Scenario): [string, RegExp][] {
  return [
    [`L${s.id}${'x'.repeat(300)}`, /^data\[0\]\.s: symbol "L\w+…" is 309 characters long; at most 128 are allowed/],
    [
      '__consumer_offsets',
      /^data\[0\]\.s: symbol "__consumer_offsets": its topic would be "__consumer_offsets": names starting with "__" are Kafka's internal topics/,
    ],
    [s.raw, /its topic would be "proc-raw-\w+", finpipe's own raw topic/],
    [s.dlq, /finpipe's own dead-letter topic/],
    [s.late, /finpipe's own late-trades topic/],
    [`${s.group}-state`, /finpipe's own state topic/],
    [`other-${s.id}-state`, /names ending in "-state" are process groups' state topics/],
  ];
}

function phaseOne(s: Scenario): Frame[] {
  const [A, B] = s.symbols;
  const tr = (symbol: string, t: number, p: number): RawTrade => ({ s: symbol, t, p, v: 1, c: null });
  let ingest = T0 + 100_000;
  const f = (symbol: string, ...trades: RawTrade[]): Frame => ({ symbol, partition: 0, trades, timestamp: ingest++ });
  return [
    f(A, tr(A, T0 + 1_000, 10)),
    ...badSymbols(s).map(([symbol]) => f(symbol, tr(symbol, T0 + 1_500, 1))),
    f(A, tr(A, T0 + 2_000, 11), tr(A, Date.UTC(2124, 0, 1), 99)), // the good trade goes on, the 2124 one is dead-lettered
    f(A, tr(A, Date.UTC(10_000, 0, 1), 98)), // a year no store holds
    f(A, tr(A, Date.now() + 3_600_000, 97)), // an hour ahead of the wall clock, more than --max-future
    f(B, tr(B, T0 + 500, 100)),
    f(A, tr(A, T0 + 12_000, 12)), // closes A's first windows: only if no future trade moved the watermark
    f(A, tr(A, T0 + 25_000, 13)),
    f(B, tr(B, T0 + 30_000, 101)),
  ];
}

function phaseTwo(s: Scenario): Frame[] {
  const [A, B] = s.symbols;
  const tr = (symbol: string, t: number, p: number): RawTrade => ({ s: symbol, t, p, v: 2, c: ['1'] });
  let ingest = T0 + 200_000;
  const f = (symbol: string, ...trades: RawTrade[]): Frame => ({ symbol, partition: 0, trades, timestamp: ingest++ });
  return [
    f('__transaction_state', tr('__transaction_state', T0 + 31_000, 1)),
    f(A, tr(A, T0 + 26_000, 14), tr(A, Date.UTC(2200, 0, 1), 96), tr(A, T0 + 40_000, 15)),
    f(B, tr(B, T0 + 45_000, 102)),
  ];
}

/** The records process must dead-letter (source = topic/partition/offset), per the frames as read back. */
function expectedDeadLetters(raw: ReadBack[], good: Set<string>): string[] {
  return raw
    .filter(
      (r) =>
        !good.has(r.key!) ||
        codecs()
          .raw.decode(r.value!)
          .data.some((d) => d.t > FUTURE),
    )
    .map((r) => `${r.topic}/${r.partition}/${r.offset}`)
    .sort();
}

test('bad symbols and future trades are dead-lettered with their reason; the good trades around them come out exactly, across a restart', async (t) => {
  const adm = await connectAdmin(t);
  const s = await scenario(t, adm, 1, 2);
  t.after(() => deleteTopicsQuietly([`other-${s.id}-state`]));
  const p = await connectProducer(t);
  const good = new Set(s.symbols);
  const keep = (symbol: string) => good.has(symbol);
  const refused = (d: RawTrade) => d.t > FUTURE;

  await p.send({ topic: s.raw, messages: phaseOne(s).map(frameMessage) });
  let cli = startCli(t, s.args(...WINDOW_ARGS));
  await waitProcessed(adm, s);
  assert.equal(cli.child.exitCode, null, 'process is still running');
  const first = await cli.stop('SIGTERM');
  assert.equal(first.code, 0, first.stderr);
  assert.doesNotMatch(first.stderr, /transaction failed/, 'no transaction failed on the bad symbols');
  const summary = JSON.parse(first.stdout.trim().split('\n').pop()!) as { deadLetters: number };
  assert.equal(summary.deadLetters, badSymbols(s).length + 3);

  let raw = await readToEnd(adm, [s.raw]);
  const exp1 = reference(raw, [1_000, 10_000], 2_000, keep, refused);
  assert.ok(exp1.finals.size > 0, "A's and B's first windows closed: no future trade held the watermark");
  await assertOutputsAreTheReference(adm, s, exp1);

  // A restart (state restored from the changelog) and more input, bad and good.
  await p.send({ topic: s.raw, messages: phaseTwo(s).map(frameMessage) });
  cli = startCli(t, s.args(...WINDOW_ARGS));
  await waitProcessed(adm, s);
  const second = await cli.stop('SIGTERM');
  assert.equal(second.code, 0, second.stderr);

  raw = await readToEnd(adm, [s.raw]);
  assert.equal(raw.length, phaseOne(s).length + phaseTwo(s).length, 'nothing was written into the raw topic');
  await assertOutputsAreTheReference(adm, s, reference(raw, [1_000, 10_000], 2_000, keep, refused));

  const dlq = await readToEnd(adm, [s.dlq]);
  assert.deepEqual(dlq.map((r) => r.headers['finpipe.dlq.source']).sort(), expectedDeadLetters(raw, good));
  const bySource = new Map(raw.map((r) => [`${r.topic}/${r.partition}/${r.offset}`, r]));
  for (const letter of dlq) {
    const original = bySource.get(letter.headers['finpipe.dlq.source'])!;
    assert.equal(letter.headers['finpipe.dlq.stage'], 'process');
    assert.deepEqual(letter.value, original.value, 'the dead letter holds the raw record as received');
    const reason = letter.headers['finpipe.dlq.reason'];
    const expected = badSymbols(s).find(([symbol]) => symbol === original.key)?.[1];
    if (expected) assert.match(reason, expected);
    else if (original.key === '__transaction_state') assert.match(reason, /Kafka's internal topics/);
    else assert.match(reason, /^data\[\d\]\.t: /);
  }
  const reasons = dlq.map((r) => r.headers['finpipe.dlq.reason']);
  assert.ok(reasons.some((r) => /^data\[1\]\.t: 2124-01-01T00:00:00\.000Z is [\d.]+ days ahead of the wall clock/.test(r)));
  assert.ok(reasons.some((r) => /^data\[0\]\.t: 253402300800000 is outside the times the stores can hold/.test(r)));
  assert.ok(
    reasons.some((r) => /^data\[0\]\.t: .* is [\d.]+ min ahead of the wall clock .*at most 2\.0 min is allowed \(--max-future\)/.test(r)),
  );

  // Nothing else leaked into finpipe's own topics.
  const late = await readToEnd(adm, [s.late]);
  assert.ok(
    late.every((r) => good.has(r.key!)),
    'the late topic holds only late trades of good symbols',
  );
  const state = await readToEnd(adm, [`${s.group}-state`]);
  assert.ok(state.length > 0 && state.every((r) => r.key!.startsWith(`${s.raw}/`)), 'the state topic holds only changelog records');
  assert.ok(!(await adm.listTopics()).includes(`other-${s.id}-state`), 'no topic was created for a refused symbol');
});

test("a raw record's key only hints at the topics of a batch: a key its value does not hold creates no topic", async (t) => {
  const adm = await connectAdmin(t);
  const s = await scenario(t, adm, 1, 2);
  const [A, B] = s.symbols;
  // Legal topic names that no trade names: process reads the keys ahead to create a batch's
  // topics in one request, and must not create these.
  const undecodable = `decoy-${s.id}-1`;
  const mismatched = `decoy-${s.id}-2`;
  t.after(() => deleteTopicsQuietly([undecodable, mismatched]));
  const p = await connectProducer(t);
  const tr = (symbol: string, time: number, price: number): RawTrade => ({ s: symbol, t: time, p: price, v: 1, c: null });
  const f = (symbol: string, ...trades: RawTrade[]): Frame => ({ symbol, partition: 0, trades, timestamp: T0 });
  await p.send({
    topic: s.raw,
    messages: [
      frameMessage(f(A, tr(A, T0 + 1_000, 10))),
      frameMessage({ ...f(undecodable), garbage: true }),
      { ...frameMessage(f(A, tr(A, T0 + 1_500, 11))), key: mismatched }, // dead-lettered: key = symbol is required
      frameMessage(f(B, tr(B, T0 + 2_000, 30))),
    ],
  });
  const cli = startCli(t, s.args(...WINDOW_ARGS));
  await waitProcessed(adm, s);
  const done = await cli.stop('SIGTERM');
  assert.equal(done.code, 0, done.stderr);

  const topics = await adm.listTopics();
  assert.deepEqual(
    [undecodable, mismatched].filter((name) => topics.includes(name)),
    [],
    'no topic for a key that names no trade',
  );
  const raw = await readToEnd(adm, [s.raw]);
  const symbols = new Set(s.symbols);
  await assertOutputsAreTheReference(
    adm,
    s,
    reference(raw, [1_000, 10_000], 2_000, (key) => symbols.has(key)),
  );
  const dlq = await readToEnd(adm, [s.dlq]);
  assert.equal(dlq.length, 2, 'the undecodable and the mismatched record are dead-lettered');
});
