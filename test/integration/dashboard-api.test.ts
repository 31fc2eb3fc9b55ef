import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { RowDataPacket } from 'mysql2/promise';
import WebSocket from 'ws';
import { runCli } from '../helpers/cli';
import { createTopic, waitFor } from '../helpers/kafka';
import { candleAt, seedDatabase, startDashboard, tradeAt, txProducer, writeCommitted } from './dashboard-fixtures';

async function health(url: string): Promise<Record<string, unknown>> {
  const body = await waitFor('a health report', async () => {
    const { body } = await get(`${url}/api/status`);
    return body.at ? body : null;
  });
  return body!;
}

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test('the API returns what is in MySQL, refuses bad parameters with the reason, and pushes live updates', async (t) => {
  const symbol = `DASH:${randomUUID().slice(0, 8)}`;
  const db = await seedDatabase(t, symbol, 1200);
  const topic = await createTopic(t, 'dash-live', 1);
  const { url } = await startDashboard(t, ['--pattern', topic], { FINPIPE_MYSQL_URL: db.url });

  assert.deepEqual((await get(`${url}/api/symbols`)).body, { symbols: [symbol] });
  assert.deepEqual((await get(`${url}/api/windows?symbol=${encodeURIComponent(symbol)}`)).body, { windows: [1000, 60000] });

  const q = `symbol=${encodeURIComponent(symbol)}&window=1000`;
  const all = await get(`${url}/api/candles?${q}&limit=100000`);
  assert.equal(all.status, 200);
  const candles = all.body.candles as {
    window_start: number;
    open: number;
    high: number;
    low: number;
    close: number;
    volume: number;
    vwap: number;
  }[];
  const [rows] = await db.connection.query<RowDataPacket[]>(
    `SELECT UNIX_TIMESTAMP(window_start) * 1000 AS ws, open, high, low, close, volume, vwap FROM candles
     WHERE symbol = ? AND window_ms = 1000 ORDER BY window_start`,
    [symbol],
  );
  assert.equal(candles.length, rows.length, 'limit over the cap still returns every one of 1,200 rows');
  candles.forEach((c, i) => {
    const r = rows[i];
    assert.deepEqual(
      [c.window_start, c.open, c.high, c.low, c.close, c.volume, c.vwap],
      [Number(r.ws), r.open, r.high, r.low, r.close, r.volume, r.vwap],
    );
  });
  const from = candles[100].window_start;
  const to = candles[110].window_start;
  const range = await get(`${url}/api/candles?${q}&from=${from}&to=${to}&limit=5`);
  assert.deepEqual(
    (range.body.candles as { window_start: number }[]).map((c) => c.window_start),
    candles.slice(105, 110).map((c) => c.window_start),
    'the newest 5 in [from, to), oldest first',
  );

  const trades = await get(`${url}/api/trades?symbol=${encodeURIComponent(symbol)}&limit=3`);
  const [tradeRows] = await db.connection.query<RowDataPacket[]>(
    'SELECT id, price FROM trades WHERE symbol = ? ORDER BY trade_timestamp DESC LIMIT 3',
    [symbol],
  );
  assert.deepEqual(
    (trades.body.trades as { id: string; price: number }[]).map((x) => [x.id, x.price]),
    tradeRows.map((r): unknown[] => [r.id, r.price]),
  );

  for (const [path, reason] of [
    ['/api/candles?symbol=NOPE&window=1000', /unknown symbol "NOPE"/],
    [`/api/candles?${q.replace('1000', '5000')}`, /unknown window 5000.*1000, 60000/],
    [`/api/candles?symbol=${encodeURIComponent(symbol)}&window=abc`, /window=abc is not an integer/],
    [`/api/candles?${q}&limit=-1`, /limit=-1 is outside/],
    [`/api/candles?${q}&from=1.5`, /from=1.5 is not an integer/],
    [`/api/candles?${q}&from=20&to=10`, /from=20 is after to=10/],
    ['/api/windows', /symbol is missing/],
    [`/api/trades?symbol=${encodeURIComponent(symbol)}&limit=x`, /limit=x is not an integer/],
  ] as const) {
    const r = await get(`${url}${path}`);
    assert.equal(r.status, 400, path);
    assert.match(String(r.body.error), reason, path);
  }
  assert.equal((await get(`${url}/api/nope`)).status, 404);

  const report = await health(url);
  assert.equal((report.kafka as { reachable: boolean }).reachable, true);
  assert.doesNotMatch(JSON.stringify(report), /password/i);

  // Live: a candle committed in a Kafka transaction reaches a subscribed websocket client.
  const ws = new WebSocket(`${url.replace('http', 'ws')}/ws`);
  t.after(() => ws.terminate());
  const received: { candles: { window_start: number; version: number; symbol: string }[]; trades: { id: string }[] }[] = [];
  ws.on('message', (data: Buffer) => {
    const m = JSON.parse(data.toString()) as { type: string };
    if (m.type === 'update') received.push(m as unknown as (typeof received)[number]);
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send(JSON.stringify({ type: 'subscribe', symbol, window: 1000 }));
  const p = await txProducer(t);
  const start = Math.floor(Date.now() / 1000) * 1000;
  let version = 0;
  const trade = tradeAt(symbol, start, 123.5);
  await waitFor(
    'a live candle and trade on the websocket',
    async () => {
      if (received.some((m) => m.candles.some((c) => c.window_start === start) && m.trades.length > 0)) return true;
      await writeCommitted(p, topic, candleAt(symbol, start, ++version), trade); // until the feed has joined at the latest offsets
      return false;
    },
    30_000,
    500,
  );
  const got = received.flatMap((m) => m.candles).find((c) => c.window_start === start)!;
  assert.equal(got.symbol, symbol);
  assert.ok(received.flatMap((m) => m.trades).some((x) => x.id === trade.id));
});

test('503 with the reason while MySQL is unreachable; Kafka down is reported; a non-loopback host needs a token, checked on API and websocket', async (t) => {
  const down = await startDashboard(t, ['--pattern', 'no-such-topic'], {
    FINPIPE_MYSQL_URL: 'mysql://root:hunter22secret@127.0.0.1:1/finpipe',
  });
  const r = await get(`${down.url}/api/symbols`);
  assert.equal(r.status, 503);
  assert.match(String(r.body.error), /cannot be read/);
  assert.doesNotMatch(JSON.stringify(r.body), /hunter22secret/);
  const report = await health(down.url);
  assert.equal((report.mysql as { reachable: boolean }).reachable, false);
  assert.doesNotMatch(JSON.stringify(report), /hunter22secret/);
  const out = await down.cli.stop();
  assert.doesNotMatch(out.stdout + out.stderr, /hunter22secret/);

  // Kafka down: history is still served; the health data and the live feed say what is wrong.
  const noKafka = await startDashboard(t, [], {
    FINPIPE_KAFKA_BROKERS: '127.0.0.1:1',
    FINPIPE_MYSQL_URL: 'mysql://root@127.0.0.1:3306/mysql',
  });
  assert.equal((await get(`${noKafka.url}/api/symbols`)).status, 200);
  const kafkaDown = (await waitFor('the live feed error', async () => {
    const { body } = await get(`${noKafka.url}/api/status`);
    return body.at && (body.live as { error: string | null }).error ? body : null;
  }))!;
  assert.equal((kafkaDown.kafka as { reachable: boolean }).reachable, false);
  assert.match(String((kafkaDown.live as { error: string }).error), /Kafka: .*ECONNREFUSED/);

  const busy = await runCli(['dashboard', '--port', new URL(noKafka.url).port], {}, 20_000);
  assert.equal(busy.code, 2, busy.stderr);
  assert.match(busy.stderr, /cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);

  assert.equal((await noKafka.cli.stop()).code, 0);

  const refused = await runCli(['dashboard', '--host', '0.0.0.0', '--port', '0'], {}, 20_000);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /auth-token/);

  const token = `tok-${randomUUID()}`;
  const open = await startDashboard(t, ['--host', '0.0.0.0', '--pattern', 'no-such-topic'], { FINPIPE_DASHBOARD_TOKEN: token });
  const local = open.url.replace('0.0.0.0', '127.0.0.1');
  assert.equal((await get(`${local}/api/status`)).status, 401);
  assert.equal((await get(`${local}/api/status`, { authorization: 'Bearer wrong' })).status, 401);
  assert.equal((await get(`${local}/api/status`, { authorization: `Bearer ${token}` })).status, 200);
  assert.equal((await get(`${local}/api/status?token=${token}`)).status, 200);
  const rejected = new WebSocket(`${local.replace('http', 'ws')}/ws`);
  await new Promise<void>((resolve) => rejected.once('error', () => resolve()));
  const accepted = new WebSocket(`${local.replace('http', 'ws')}/ws?token=${token}`);
  await new Promise((resolve, reject) => accepted.once('open', resolve).once('error', reject));
  accepted.terminate();
  const final = await open.cli.stop();
  assert.match(final.stderr, /warning/);
  assert.doesNotMatch(final.stdout + final.stderr, new RegExp(token));
});
