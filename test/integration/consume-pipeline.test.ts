import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admin as connectAdmin, producer as connectProducer } from '../helpers/kafka';
import { runCli, startCli } from '../helpers/cli';
import { symbolToTopic } from '../../src/core/symbols';
import { decodeOutputs, frameMessage, readToEnd, scenario, waitProcessed, type Frame } from './process-fixtures';
import type { RawTrade } from '../../src/core/serde';

/**
 * `finpipe consume` on what `finpipe process` really wrote: the per-symbol topic (trades and
 * candles), the late topic and the dead-letter topic give the same records a plain
 * read_committed reader decodes, each with its type.
 */

const T0 = 1_699_999_980_000; // minute-aligned, 2023

interface Line {
  offset: number;
  key?: string;
  type: string;
  value: Record<string, unknown>;
  headers?: Record<string, string>;
}

const lines = (stdout: string): Line[] =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);

test('consume shows what process wrote: trades, candles, late trades and dead letters', async (t) => {
  const adm = await connectAdmin(t);
  const s = await scenario(t, adm, 1, 1);
  const [A] = s.symbols;
  const tr = (t0: number, p: number): RawTrade => ({ s: A, t: t0, p, v: 1, c: null });
  let ingest = T0 + 100_000;
  const f = (trades: RawTrade[], garbage = false): Frame => ({ symbol: A, partition: 0, trades, timestamp: ingest++, garbage });
  const frames = [f([tr(T0 + 1_000, 10)]), f([tr(T0 + 12_000, 11)]), f([tr(T0 + 2_000, 9)]), f([], true), f([tr(T0 + 25_000, 12)])];
  const p = await connectProducer(t);
  await p.send({ topic: s.raw, messages: frames.map(frameMessage) });

  const cli = startCli(t, s.args('--windows', '10s', '--lateness', '0s'));
  await waitProcessed(adm, s);
  const stopped = await cli.stop('SIGTERM');
  assert.equal(stopped.code, 0, stopped.stderr);

  const topic = symbolToTopic(A);
  const expected = decodeOutputs(await readToEnd(adm, [topic]));
  const consumed = await runCli(['consume', topic, '--key']);
  assert.equal(consumed.code, 0, consumed.stderr);
  const out = lines(consumed.stdout);
  assert.deepEqual(
    out.filter((l) => l.type === 'trade').map((l) => l.value),
    expected.trades,
  );
  assert.deepEqual(
    out.filter((l) => l.type === 'candle').map((l) => l.value),
    expected.candles,
  );
  assert.ok(expected.candles.length > 0 && expected.trades.length === 4);
  assert.ok(out.every((l) => l.key === A));

  const late = lines((await runCli(['consume', s.late, '--headers'], { FINPIPE_LATE_TOPIC: s.late })).stdout);
  assert.deepEqual(
    late.map((l) => [l.type, l.value.price]),
    [['late-trade', 9]],
  );
  assert.match(String(late[0].headers?.['finpipe.late.reason']), /window\(s\) had already closed/);

  const dead = lines((await runCli(['consume', s.dlq])).stdout);
  assert.equal(dead.length, 1);
  assert.equal(dead[0].type, 'dead-letter');
  assert.equal(dead[0].value.stage, 'process');
  assert.match(String(dead[0].value.reason), /Avro/);
  assert.equal(dead[0].value.source, `${s.raw}/0/3`);
  assert.deepEqual(dead[0].value.original, { base64: Buffer.from([0xff, 0xff, 0xff, 0x01, 0x02]).toString('base64') });
});
