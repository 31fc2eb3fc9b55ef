import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { ClientHub, type LiveCandle } from '../../../src/core/dashboard/clients';
import { authorized } from '../../../src/core/dashboard/auth';
import { answerApi, type ApiContext } from '../../../src/core/dashboard/api';
import { DASHBOARD_LIMITS } from '../../../src/core/dashboard/options';
import type { StoreReader } from '../../../src/core/stores/types';

class FakeSocket {
  readyState = 1;
  bufferedAmount = 0;
  sent: { type: string; candles?: LiveCandle[]; trades?: unknown[] }[] = [];
  private handlers = new Map<string, (data: Buffer) => void>();
  on(event: string, fn: (data: Buffer) => void): this {
    this.handlers.set(event, fn);
    return this;
  }
  send(data: string): void {
    this.sent.push(JSON.parse(data) as FakeSocket['sent'][number]);
  }
  close(): void {}
  receive(message: unknown): void {
    this.handlers.get('message')!(Buffer.from(JSON.stringify(message)));
  }
}

const candle = (windowStart: number, version: number): LiveCandle => ({
  symbol: 'AAPL',
  window_ms: 1000,
  window_start: windowStart,
  window_end: windowStart + 1000,
  open: 1,
  high: 1,
  low: 1,
  close: 1,
  volume: version,
  vwap: 1,
  trade_count: version,
  is_final: false,
  version,
  ts: 0,
});
const trade = (i: number) => ({ id: String(i), symbol: 'AAPL', price: 1, volume: 1, trade_timestamp: i });

test('a client gets only its symbol and window, the newest version per window start, in one message', (t) => {
  const hub = new ClientHub();
  t.after(() => hub.close());
  const a = new FakeSocket();
  const b = new FakeSocket();
  hub.add(a as unknown as WebSocket);
  hub.add(b as unknown as WebSocket);
  a.receive({ type: 'subscribe', symbol: 'AAPL', window: 1000 });
  b.receive({ type: 'subscribe', symbol: 'MSFT', window: 1000 });
  hub.candle(candle(0, 1));
  hub.candle(candle(0, 2));
  hub.candle({ ...candle(0, 3), window_ms: 10_000 });
  hub.trade(trade(1));
  hub.flush();
  const updates = a.sent.filter((m) => m.type === 'update');
  assert.equal(updates.length, 1);
  assert.deepEqual(
    updates[0].candles!.map((c) => c.version),
    [2],
  );
  assert.equal(updates[0].trades!.length, 1);
  assert.equal(b.sent.filter((m) => m.type === 'update').length, 0);
  assert.deepEqual(hub.stats(), { clients: 2, updatesSent: 2, updatesDropped: 1 });
});

test('a stalled client keeps bounded pending updates and gets them when its buffer drains', (t) => {
  const hub = new ClientHub();
  t.after(() => hub.close());
  const slow = new FakeSocket();
  hub.add(slow as unknown as WebSocket);
  slow.receive({ type: 'subscribe', symbol: 'AAPL', window: 1000 });
  slow.bufferedAmount = DASHBOARD_LIMITS.maxBufferedBytes;
  const windows = DASHBOARD_LIMITS.pendingCandles + 100;
  for (let i = 0; i < windows; i++) for (let v = 1; v <= 3; v++) hub.candle(candle(i * 1000, v));
  for (let i = 0; i < DASHBOARD_LIMITS.pendingTrades + 50; i++) hub.trade(trade(i));
  hub.flush();
  assert.equal(slow.sent.filter((m) => m.type === 'update').length, 0, 'nothing sent while the socket is backed up');
  slow.bufferedAmount = 0;
  hub.flush();
  const [update] = slow.sent.filter((m) => m.type === 'update');
  assert.equal(update.candles!.length, DASHBOARD_LIMITS.pendingCandles);
  assert.equal(update.candles![0].window_start, 100 * 1000, 'the oldest window starts were dropped');
  assert.ok(update.candles!.every((c) => c.version === 3));
  assert.equal(update.trades!.length, DASHBOARD_LIMITS.pendingTrades);
  assert.equal(hub.stats().updatesDropped, windows * 2 + 100 + 50);
});

test('the token: Bearer header or ?token=, nothing else; no token configured means open', () => {
  const req = (authorization?: string) => ({ headers: authorization ? { authorization } : {} }) as IncomingMessage;
  const url = (q = '') => new URL(`http://x/api/status${q}`);
  assert.equal(authorized(req(), url(), undefined), true);
  assert.equal(authorized(req(), url(), 'secret-token'), false);
  assert.equal(authorized(req('Bearer secret-token'), url(), 'secret-token'), true);
  assert.equal(authorized(req('Bearer secret-tokeN'), url(), 'secret-token'), false);
  assert.equal(authorized(req(), url('?token=secret-token'), 'secret-token'), true);
  assert.equal(authorized(req('Basic secret-token'), url(), 'secret-token'), false);
});

test('the API caps limits and turns a store failure into 503 with the reason', async () => {
  let asked = 0;
  const reader = {
    symbols: async () => ['AAPL'],
    windowSizes: async () => [1000],
    candles: async (_s: string, _w: number, range: { limit: number }) => {
      asked = range.limit;
      return [];
    },
  } as unknown as StoreReader;
  let failed = false;
  const context = (r: () => Promise<StoreReader>): ApiContext => ({
    reader: r,
    readerFailed: () => (failed = true),
    health: () => ({}),
    logger: { warn: () => {} } as unknown as ApiContext['logger'],
  });
  const ok = await answerApi(
    '/api/candles',
    new URLSearchParams('symbol=AAPL&window=1000&limit=99999999'),
    context(async () => reader),
  );
  assert.equal(ok.status, 200);
  assert.equal(asked, DASHBOARD_LIMITS.maxCandles);
  const down = await answerApi(
    '/api/symbols',
    new URLSearchParams(),
    context(async () => Promise.reject(new Error('connect ECONNREFUSED'))),
  );
  assert.equal(down.status, 503);
  assert.match(JSON.stringify(down.body), /ECONNREFUSED/);
  assert.equal(failed, true);
});
