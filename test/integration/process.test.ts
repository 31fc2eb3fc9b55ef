import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admin as connectAdmin, producer as connectProducer } from '../helpers/kafka';
import { runCli, startCli } from '../helpers/cli';
import { symbolToTopic } from '../../src/core/symbols';
import { codecs, type Candle, type RawTrade } from '../../src/core/serde';
import {
  byId,
  decodeTrade,
  candleKey,
  decodeOutputs,
  frameMessage,
  readToEnd,
  reference,
  scenario,
  waitProcessed,
  type Frame,
  type Scenario,
} from './process-fixtures';

/**
 * `finpipe process` end to end on the real broker: a small hand-made input with out-of-order,
 * too-late, duplicate and undecodable records; the output must be exactly what the
 * reference (written independently in process-fixtures.ts) computes.
 */

const T0 = 1_699_999_980_000; // minute-aligned
const SIZES = [1_000, 10_000];
const LATENESS = 5_000;

function frames(s: Scenario): Frame[] {
  const [A, B] = s.symbols;
  const tr = (symbol: string, dt: number, p: number, v = 1, c: RawTrade['c'] = null): RawTrade => ({ s: symbol, t: T0 + dt, p, v, c });
  let ingest = T0 + 100_000;
  const a = (...trades: RawTrade[]): Frame => ({ symbol: A, partition: 0, trades, timestamp: ingest++ });
  const b = (...trades: RawTrade[]): Frame => ({ symbol: B, partition: 1, trades, timestamp: ingest++ });
  return [
    a(tr(A, 1_000, 10, 1), tr(A, 1_500, 11, 2, ['1', null, '12'])),
    b(tr(B, 500, 100)),
    a(tr(A, 1_200, 9)), // out of order, within lateness
    { symbol: A, partition: 0, trades: [], timestamp: ingest++, garbage: true }, // -> dead letter
    a(tr(A, 12_000, 12), tr(A, 12_000, 12)), // two identical trades stay two trades
    b(tr(B, 30_000, 101)), // B's watermark: 25 s
    a(tr(A, 8_000, 13, 0.5)), // 7 s behind the newest, windows still open
    b(tr(B, 2_000, 102)), // too late for both sizes
    a(tr(A, 21_000, 14)), // A's watermark: 16 s
    a(tr(A, 9_500, 15)), // too late for both sizes
    a(tr(A, 15_500, 16)), // its 1 s window ends exactly at the watermark: late for 1 s, counted in 10 s
    b(tr(B, 29_000, 103, 0)), // zero volume
    a(tr(A, 16_000, 17, 2)), // window [16 s, 17 s) still open
    a(tr(A, 40_000, 18)), // watermark 35 s: closes every window ending by then; [40 s, ...) stays open
  ];
}

async function setup(t: Parameters<typeof scenario>[0]) {
  const adm = await connectAdmin(t);
  const s = await scenario(t, adm, 2, 2);
  const p = await connectProducer(t);
  await p.send({ topic: s.raw, messages: frames(s).map(frameMessage) });
  const raw = await readToEnd(adm, [s.raw]);
  return { adm, s, raw };
}

test('update mode: exactly the reference trades, candle versions, late trades and one dead letter', async (t) => {
  const { adm, s, raw } = await setup(t);
  const exp = reference(raw, SIZES, LATENESS);
  assert.ok(exp.late.length >= 3 && exp.finals.size > 5 && exp.open.size > 0, 'the input exercises lateness and both kinds of windows');

  const cli = startCli(t, s.args('--windows', '1s,10s', '--lateness', '5s'));
  await waitProcessed(adm, s);
  const { code, stdout, stderr } = await cli.stop('SIGTERM');
  assert.equal(code, 0, stderr);
  const summary = JSON.parse(stdout.trim().split('\n').pop()!) as { trades: number; late: number; deadLetters: number };
  assert.equal(summary.trades, exp.trades.length);
  assert.equal(summary.late, exp.late.length);
  assert.equal(summary.deadLetters, 1);

  const out = decodeOutputs(await readToEnd(adm, s.symbols.map(symbolToTopic)));
  assert.deepEqual(out.trades.sort(byId), exp.trades.sort(byId));

  // Candles: versions grow per window; the last one is the reference's (final or latest update).
  const last = new Map<string, Candle>();
  const finalsSeen = new Map<string, number>();
  for (const c of out.candles) {
    const k = candleKey(c);
    const prev = last.get(k);
    if (prev)
      assert.ok(
        c.version > prev.version && !prev.is_final,
        `${k}: version ${c.version} after ${prev.version}${prev.is_final ? ' (final)' : ''}`,
      );
    last.set(k, c);
    if (c.is_final) finalsSeen.set(k, (finalsSeen.get(k) ?? 0) + 1);
  }
  assert.deepEqual(new Map([...last].filter(([, c]) => c.is_final)), exp.finals);
  assert.deepEqual(new Map([...last].filter(([, c]) => !c.is_final)), exp.open);
  assert.ok(
    [...finalsSeen.values()].every((n) => n === 1),
    'one final per window',
  );

  const late = await readToEnd(adm, [s.late]);
  assert.deepEqual(late.map((r) => decodeTrade(r.value!)).sort(byId), exp.late.sort(byId));
  for (const r of late) {
    assert.equal(r.headers['finpipe.type'], 'trade');
    assert.match(r.headers['finpipe.late.reason'], /is behind the watermark .* window\(s\) had already closed/);
    assert.match(r.headers['finpipe.late.windows'], /^\d+(,\d+)*$/);
  }
  const lateOnlyFor1s = late.find((r) => decodeTrade(r.value!).price === 16)!;
  assert.equal(lateOnlyFor1s.headers['finpipe.late.windows'], '1000');

  const dlq = await readToEnd(adm, [s.dlq]);
  assert.equal(dlq.length, 1);
  assert.deepEqual(exp.deadLetterSources, [dlq[0].headers['finpipe.dlq.source']]);
  assert.equal(dlq[0].headers['finpipe.dlq.stage'], 'process');
  assert.match(dlq[0].headers['finpipe.dlq.reason'], /not a valid .*Avro record/);
  assert.deepEqual(dlq[0].value, Buffer.from([0xff, 0xff, 0xff, 0x01, 0x02]));
});

test('final mode with a symbol filter: only that symbol, only closed windows, once each', async (t) => {
  const { adm, s, raw } = await setup(t);
  const [A, B] = s.symbols;
  const exp = reference(raw, SIZES, LATENESS, (sym) => sym === A);

  const cli = startCli(t, s.args(A, '--windows', '10s,1s', '--lateness', '5s', '--emit', 'final'));
  await waitProcessed(adm, s);
  const { code, stderr } = await cli.stop('SIGINT');
  assert.equal(code, 0, stderr);

  assert.ok(!(await adm.listTopics()).includes(symbolToTopic(B)), `no topic for the filtered-out ${B}`);
  const out = decodeOutputs(await readToEnd(adm, [symbolToTopic(A)]));
  assert.deepEqual(out.trades.sort(byId), exp.trades.sort(byId));
  assert.ok(out.trades.every((x) => x.symbol === A));
  assert.deepEqual(new Map(out.candles.map((c) => [candleKey(c), c])), exp.finals);
  assert.equal(out.candles.length, exp.finals.size, 'each window exactly once');
  const late = await readToEnd(adm, [s.late]);
  assert.deepEqual(late.map((r) => decodeTrade(r.value!)).sort(byId), exp.late.sort(byId));
});

test('a record without a key may hold several symbols: every trade goes to its own symbol topic', async (t) => {
  // process looks a symbol's topic, key and partition up once per run of equal symbols, not
  // per trade: records from other producers (no key) switch symbols within one record.
  const adm = await connectAdmin(t);
  const s = await scenario(t, adm, 1, 3);
  const [A, B, C] = s.symbols;
  const tr = (symbol: string, dt: number, p: number): RawTrade => ({ s: symbol, t: T0 + dt, p, v: 1, c: null });
  const keyless = (timestamp: number, ...data: RawTrade[]) => ({
    key: null,
    partition: 0,
    timestamp: String(timestamp),
    value: codecs().raw.encode({ data, type: 'trade' }),
  });
  const p = await connectProducer(t);
  await p.send({
    topic: s.raw,
    messages: [
      keyless(T0 + 100_000, tr(A, 1_000, 10), tr(B, 1_100, 20), tr(A, 1_200, 11), tr(C, 1_300, 30)),
      frameMessage({ symbol: A, partition: 0, trades: [tr(A, 2_000, 12)], timestamp: T0 + 100_001 }),
      keyless(T0 + 100_002, tr(B, 2_100, 21), tr(B, 2_200, 22), tr(C, 2_300, 31), tr(A, 2_400, 13)),
    ],
  });
  const raw = await readToEnd(adm, [s.raw]);
  const exp = reference(raw, SIZES, LATENESS);
  assert.equal(exp.trades.length, 9);

  const cli = startCli(t, s.args('--windows', '1s,10s', '--lateness', '5s'));
  await waitProcessed(adm, s);
  const { code, stderr } = await cli.stop('SIGTERM');
  assert.equal(code, 0, stderr);
  // decodeOutputs fails on a trade or candle on another symbol's topic or with another key.
  const out = decodeOutputs(await readToEnd(adm, s.symbols.map(symbolToTopic)));
  assert.deepEqual(out.trades.sort(byId), exp.trades.sort(byId));
  const last = new Map(out.candles.map((c) => [candleKey(c), c]));
  assert.deepEqual(last, new Map([...exp.finals, ...exp.open]));
  assert.deepEqual(await readToEnd(adm, [s.dlq]), [], 'nothing dead-lettered');
});

test('a missing raw topic and bad flags are clear errors, not hangs', async () => {
  const missing = await runCli(['process', '--topic', `proc-missing-${Date.now()}`, '--group', `proc-missing-${Date.now()}`]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /raw topic proc-missing-\d+ does not exist/);
  assert.match(missing.stderr, /finpipe topics create/);
  const badWindows = await runCli(['process', '--windows', '10s,abc']);
  assert.equal(badWindows.code, 2);
  assert.match(badWindows.stderr, /"abc" is not a duration/);
  const badEmit = await runCli(['process', '--emit', 'sometimes']);
  assert.equal(badEmit.code, 2);
  // window_ms is INT UNSIGNED: a window the sink would dead-letter every candle of is refused up front.
  const hugeWindow = await runCli(['process', '--windows', '1s,1200h']);
  assert.equal(hugeWindow.code, 2);
  assert.match(hugeWindow.stderr, /window size 1200h is larger than 4294967295 ms .* use e\.g\. 1h or 24h/);
  const badPrefix = await runCli(['process', '--topic-prefix', '__x']);
  assert.equal(badPrefix.code, 2);
  assert.match(badPrefix.stderr, /"__x" cannot start topic names: names starting with "__" are Kafka's internal topics/);
});
