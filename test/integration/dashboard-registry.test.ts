import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { frameHeader, frameId, frame } from '../../src/core/serde/framing';
import { codecs } from '../../src/core/serde';
import { valueCodecs } from '../../src/core/serde/registry';
import { createTopic, waitFor } from '../helpers/kafka';
import { candleAt, seedDatabase, startDashboard, tradeAt, txProducer } from './dashboard-fixtures';

/**
 * `finpipe dashboard --schema-registry`: the live feed reads Schema Registry framed trades
 * and candles (as `process --schema-registry` writes them) through the registry reader,
 * against the real registry (npm run services:up registry) and the real broker. A value it
 * cannot read (a framed value with an id the registry does not know) is skipped and the feed
 * goes on.
 */
const REGISTRY_URL = process.env.FINPIPE_TEST_SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';

interface Update {
  candles: { window_start: number; version: number; symbol: string; close: number; volume: number; trade_count: number }[];
  trades: { id: string; price: number }[];
}

test('the live feed decodes framed values with --schema-registry; an unknown schema id is skipped, later records still arrive', async (t) => {
  const symbol = `DASHSR:${randomUUID().slice(0, 8)}`;
  const db = await seedDatabase(t, symbol, 10);
  const topic = await createTopic(t, 'dash-sr', 1);
  const { writer } = valueCodecs({ url: REGISTRY_URL });
  await writer.prepare(topic, ['trade', 'candle']);

  const { url } = await startDashboard(t, ['--pattern', topic], { FINPIPE_MYSQL_URL: db.url, FINPIPE_SCHEMA_REGISTRY_URL: REGISTRY_URL });
  const ws = new WebSocket(`${url.replace('http', 'ws')}/ws`);
  t.after(() => ws.terminate());
  const received: Update[] = [];
  ws.on('message', (data: Buffer) => {
    const m = JSON.parse(data.toString()) as { type: string };
    if (m.type === 'update') received.push(m as unknown as Update);
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send(JSON.stringify({ type: 'subscribe', symbol, window: 1000 }));

  const p = await txProducer(t);
  const start = Math.floor(Date.now() / 1000) * 1000;
  const send = async (messages: { value: Buffer; type: 'trade' | 'candle' }[]) => {
    const tx = await p.transaction();
    await tx.send({ topic, messages: messages.map((m) => ({ key: symbol, value: m.value, headers: { 'finpipe.type': m.type } })) });
    await tx.commit();
  };
  const framedCandle = (version: number) => {
    const value = writer.encode(topic, 'candle', candleAt(symbol, start, version));
    assert.ok(frameId(value) > 0, 'the candle is framed');
    return { value, type: 'candle' as const };
  };

  // Framed candle and trade, until the feed has joined at the latest offsets.
  const trade = tradeAt(symbol, start, 123.5);
  let version = 0;
  await waitFor(
    'a framed live candle and trade on the websocket',
    async () => {
      if (
        received.some((m) => m.candles.some((c) => c.window_start === start)) &&
        received.some((m) => m.trades.some((x) => x.id === trade.id))
      )
        return true;
      await send([framedCandle(++version), { value: writer.encode(topic, 'trade', trade), type: 'trade' }]);
      return false;
    },
    30_000,
    500,
  );
  const candle = received.flatMap((m) => m.candles).find((c) => c.window_start === start)!;
  const expected = candleAt(symbol, start, candle.version);
  assert.deepEqual(
    [candle.symbol, candle.close, candle.volume, candle.trade_count],
    [symbol, expected.close, expected.volume, expected.trade_count],
    'the framed candle decoded with its values',
  );
  assert.equal(received.flatMap((m) => m.trades).find((x) => x.id === trade.id)!.price, 123.5);

  // A framed candle whose schema id the registry does not know, then a good one: the first
  // is skipped (no update carries its version), the second arrives.
  const unknown = frame(frameHeader(2_000_000_000), codecs().candle.encode(candleAt(symbol, start, 1_000)));
  await send([{ value: unknown, type: 'candle' }, framedCandle(1_001)]);
  await waitFor('the candle after the unreadable one', () => received.some((m) => m.candles.some((c) => c.version === 1_001)), 20_000);
  assert.ok(!received.some((m) => m.candles.some((c) => c.version === 1_000)), 'the value with an unknown schema id was not shown');
});
