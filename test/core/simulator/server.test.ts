import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import {
  DEFAULT_SIMULATED_SYMBOLS,
  startSimulator,
  type FinnhubTrade,
  type RunningSimulator,
  type SimulatorOptions,
} from '../../../src/core/simulator';

const logger = pino({ level: 'silent' });

async function sim(t: TestContext, opts: Partial<SimulatorOptions> = {}): Promise<RunningSimulator> {
  const s = await startSimulator({ port: 0, symbols: DEFAULT_SIMULATED_SYMBOLS, rate: 5000, seed: 1, logger, ...opts });
  t.after(() => s.close());
  return s;
}

/** A server message: tests read the fields of the type they picked (frameProblem checks shapes itself). */
interface ServerMessage {
  type: string;
  data: FinnhubTrade[];
  msg: string;
}

interface Frame {
  binary: boolean;
  text: string;
  json?: ServerMessage; // undefined when the text is not JSON
  at: number;
}

/** ws keeps the connection's net.Socket in a private field. */
const socketOf = (ws: WebSocket): Socket => (ws as unknown as { _socket: Socket })._socket;

/** A real ws client that records every frame and lets a test wait for a condition on them. */
class Client {
  readonly frames: Frame[] = [];
  closeCode: number | undefined;
  private waiters: (() => void)[] = [];
  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, binary) => {
      const text = data.toString('utf8');
      let json: ServerMessage | undefined;
      try {
        json = JSON.parse(text) as ServerMessage;
      } catch {
        json = undefined;
      }
      this.frames.push({ binary, text, json, at: performance.now() });
      this.poke();
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      this.poke();
    });
    ws.on('error', () => {});
  }
  private poke(): void {
    for (const w of [...this.waiters]) w();
  }
  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }
  subscribe(...symbols: string[]): void {
    for (const symbol of symbols) this.send({ type: 'subscribe', symbol });
  }
  trades(from = 0): FinnhubTrade[] {
    return this.frames.slice(from).flatMap((f) => (!f.binary && f.json?.type === 'trade' ? f.json.data : []));
  }
  ofType(type: string, from = 0): (Frame & { json: ServerMessage })[] {
    return this.frames.slice(from).filter((f): f is Frame & { json: ServerMessage } => !f.binary && f.json?.type === type);
  }
  /** Resolves when cond() holds (checked on every frame and on close); rejects after timeoutMs. */
  waitFor(cond: () => boolean, what: string, timeoutMs = 1500): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!cond()) return;
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${this.frames.length} frames received)`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
      };
      this.waiters.push(check);
    });
  }
  /** A barrier: frames received after the answer to a bad message were produced after everything sent before it. */
  async barrier(): Promise<number> {
    const errorsBefore = this.ofType('error').length;
    this.send({ type: 'barrier' });
    await this.waitFor(() => this.ofType('error').length > errorsBefore, 'the barrier error frame');
    return this.frames.length;
  }
}

async function connect(t: TestContext, s: RunningSimulator, token = 'test-token'): Promise<Client> {
  const ws = new WebSocket(`${s.url}?token=${encodeURIComponent(token)}`);
  const c = new Client(ws);
  t.after(() => ws.terminate());
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return c;
}

/** Attempts a connection and returns the HTTP status of a refused upgrade (or 101). */
function upgradeStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.on('open', () => {
      resolve(101);
      ws.terminate();
    });
    ws.on('error', (err) => reject(err));
  });
}

test('server: rejects a missing or unknown token with HTTP 401', async (t) => {
  const open = await sim(t);
  assert.equal(await upgradeStatus(open.url), 401);
  assert.equal(await upgradeStatus(`${open.url}?token=`), 401);
  assert.equal(await upgradeStatus(`${open.url}/any/path?token=abc`), 101);

  const strict = await sim(t, { tokens: ['good'] });
  assert.equal(await upgradeStatus(`${strict.url}?token=bad`), 401);
  assert.equal(await upgradeStatus(`${strict.url}?token=good`), 101);
  assert.equal(await upgradeStatus(`${strict.url}/?token=good`), 101);
});

test('server: never logs the token', async (t) => {
  const lines: string[] = [];
  const spy = pino({ level: 'trace' }, { write: (l: string) => void lines.push(l) });
  const s = await sim(t, { logger: spy, tokens: ['s3cr3t-token'] });
  assert.equal(await upgradeStatus(`${s.url}?token=wrong-s3cr3t`), 401);
  const c = await connect(t, s, 's3cr3t-token');
  c.subscribe('AAPL', 'NOT:SIMULATED');
  await c.waitFor(() => c.trades().length > 0, 'a trade');
  await s.close();
  assert.ok(lines.length > 0);
  assert.ok(
    lines.every((l) => !l.includes('s3cr3t')),
    'a log line contains the token',
  );
  assert.ok(lines.some((l) => l.includes('"module":"simulator"')));
});

test('server: trades arrive only for subscribed, simulated symbols', async (t) => {
  const s = await sim(t);
  const c = await connect(t, s);
  const wanted = ['BINANCE:BTCUSDT', 'AAPL', 'IC MARKETS:1'];
  c.subscribe(...wanted, 'NOT:SIMULATED');
  await c.waitFor(() => new Set(c.trades().map((x) => x.s)).size === wanted.length, 'trades of all three symbols');
  await c.waitFor(() => c.trades().length >= 300, '300 trades');
  assert.equal(c.ofType('error').length, 0, 'an unknown symbol is silent, not an error');
  for (const tr of c.trades()) {
    assert.ok(wanted.includes(tr.s), `unexpected symbol ${tr.s}`);
    assert.ok(tr.p > 0 && tr.v >= 0 && Number.isInteger(tr.t));
    assert.ok(Math.abs(tr.t - Date.now()) < 10_000, 'timestamps are around now');
  }
  // Several symbols share frames.
  assert.ok(
    c.ofType('trade').some((f) => new Set(f.json.data.map((x) => x.s)).size > 1),
    'no mixed frame',
  );
});

test('server: unsubscribe stops a symbol, the others continue', async (t) => {
  const s = await sim(t);
  const c = await connect(t, s);
  c.subscribe('BINANCE:BTCUSDT', 'BINANCE:ETHUSDT');
  await c.waitFor(() => new Set(c.trades().map((x) => x.s)).size === 2, 'trades of both symbols');
  c.send({ type: 'unsubscribe', symbol: 'BINANCE:BTCUSDT' });
  const after = await c.barrier();
  await c.waitFor(() => c.trades(after).length >= 300, '300 trades after unsubscribing');
  const symbols = new Set(c.trades(after).map((x) => x.s));
  assert.deepEqual([...symbols], ['BINANCE:ETHUSDT']);

  // Unsubscribing from everything silences the stream (pings aside).
  c.send({ type: 'unsubscribe', symbol: 'BINANCE:ETHUSDT' });
  const quiet = await c.barrier();
  c.subscribe('AAPL');
  const resumed = await c.barrier();
  assert.equal(c.trades(quiet).length, c.trades(resumed).length, 'trades after unsubscribing from everything');
  await c.waitFor(() => c.trades(resumed).length > 0, 'trades after subscribing again');
  assert.ok(c.trades(resumed).every((x) => x.s === 'AAPL'));
});

test('server: subscribing past the limit sends the Finnhub error frame', async (t) => {
  const s = await sim(t, { rate: 100 });
  const c = await connect(t, s);
  c.subscribe(...DEFAULT_SIMULATED_SYMBOLS.slice(0, 50));
  c.subscribe(DEFAULT_SIMULATED_SYMBOLS[0]); // re-subscribing does not count
  await c.barrier();
  assert.equal(c.ofType('error').length, 1, 'only the barrier error so far');
  c.subscribe(DEFAULT_SIMULATED_SYMBOLS[50]);
  await c.waitFor(() => c.ofType('error').length === 2, 'the limit error');
  assert.deepEqual(c.ofType('error')[1].json, { type: 'error', msg: 'Subscribing to too many symbols' });
  // After an unsubscribe there is room again.
  c.send({ type: 'unsubscribe', symbol: DEFAULT_SIMULATED_SYMBOLS[0] });
  c.subscribe(DEFAULT_SIMULATED_SYMBOLS[50]);
  await c.barrier();
  assert.equal(c.ofType('error').length, 3, 'no limit error after making room');

  const small = await sim(t, { rate: 100, symbolLimit: 2 });
  const d = await connect(t, small);
  d.subscribe('AAPL', 'MSFT', 'TSLA');
  await d.waitFor(() => d.ofType('error').length === 1, 'the limit error with symbolLimit 2');
  assert.equal(d.ofType('error')[0].json.msg, 'Subscribing to too many symbols');
});

test('server: bad client frames get error frames and the connection stays up', async (t) => {
  const s = await sim(t);
  const c = await connect(t, s);
  c.send('{not json');
  c.send({ type: 'hello' });
  c.send({ type: 'subscribe' });
  c.send('[]');
  c.ws.send(Buffer.from('{"type":"subscribe","symbol":"AAPL"}'), { binary: true });
  await c.waitFor(() => c.ofType('error').length === 5, 'five error frames');
  for (const e of c.ofType('error')) assert.equal(typeof e.json.msg, 'string');
  c.subscribe('AAPL');
  await c.waitFor(() => c.trades().length > 0, 'trades after the bad frames');
});

test('server: sends {"type":"ping"} heartbeats, and none with noPing', async (t) => {
  const s = await sim(t, { pingIntervalMs: 30 });
  const c = await connect(t, s);
  await c.waitFor(() => c.ofType('ping').length >= 2, 'two pings');
  assert.deepEqual(c.ofType('ping')[0].json, { type: 'ping' });
  assert.equal(c.ofType('ping')[0].text, '{"type":"ping"}');

  const quiet = await sim(t, { pingIntervalMs: 30, rate: 1000, faults: { noPing: true } });
  const d = await connect(t, quiet);
  d.subscribe('AAPL');
  // Trades flowing for 10 ping intervals without a ping.
  await d.waitFor(() => d.frames.length > 1 && d.frames.at(-1)!.at - d.frames[0].at > 300, '300 ms of trades');
  assert.equal(d.ofType('ping').length, 0);
});

test('server: dropEverySec terminates connections abruptly (1006)', async (t) => {
  const s = await sim(t, { faults: { dropEverySec: 0.15 } });
  const c = await connect(t, s);
  c.subscribe('AAPL');
  await c.waitFor(() => c.closeCode !== undefined, 'the drop');
  assert.equal(c.closeCode, 1006);
  assert.ok(s.stats().drops >= 1);
  // Reconnecting works and is dropped again.
  const d = await connect(t, s);
  await d.waitFor(() => d.closeCode !== undefined, 'the second drop');
  assert.ok(s.stats().drops >= 2);
});

function frameProblem(f: Frame, known: Set<string>): string | undefined {
  if (f.binary) return 'binary frame';
  const m: unknown = f.json;
  if (m === undefined) return 'invalid JSON';
  if (m === null || typeof m !== 'object') return 'not an object';
  const { type, data } = m as Record<string, unknown>;
  if (type === 'ping') return undefined;
  if (type !== 'trade') return `type ${String(type)}`;
  if (!Array.isArray(data) || data.length === 0) return 'data is not a non-empty array';
  for (const x of data as unknown[]) {
    if (typeof x !== 'object' || x === null) return 'trade not an object';
    const { s, p, t, v, c } = x as Record<string, unknown>;
    if (typeof s !== 'string' || !known.has(s)) return 's';
    if (typeof p !== 'number' || !Number.isFinite(p) || p <= 0) return 'p';
    if (typeof t !== 'number' || !Number.isInteger(t)) return 't';
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return 'v';
    if (c !== undefined && (!Array.isArray(c) || !c.every((y: unknown) => typeof y === 'string'))) return 'c';
  }
  return undefined;
}

test('server: malformedFraction replaces that share of frames with detectable garbage', async (t) => {
  const s = await sim(t, { rate: 0, faults: { malformedFraction: 0.5 } });
  const c = await connect(t, s);
  const symbols = ['BINANCE:BTCUSDT', 'AAPL'];
  c.subscribe(...symbols);
  await c.waitFor(() => c.frames.length >= 400, '400 frames');
  const known = new Set(symbols);
  const problems = c.frames.map((f) => frameProblem(f, known));
  const bad = problems.filter((p) => p !== undefined).length;
  const share = bad / c.frames.length;
  assert.ok(share > 0.35 && share < 0.65, `malformed share ${share}`);
  assert.ok(new Set(problems.filter(Boolean)).size >= 5, `few kinds: ${[...new Set(problems)].join(', ')}`);
  assert.ok(s.stats().malformedSent >= bad, `stats.malformedSent ${s.stats().malformedSent} < ${bad} received`);

  // With no fault every frame is valid.
  const clean = await sim(t, { rate: 0 });
  const d = await connect(t, clean);
  d.subscribe(...symbols);
  await d.waitFor(() => d.frames.length >= 200, '200 frames');
  assert.deepEqual(d.frames.map((f) => frameProblem(f, known)).filter(Boolean), []);
  assert.equal(clean.stats().malformedSent, 0);
});

test('server: rate > 0 paces trades with a token bucket and bursty frames', async (t) => {
  const s = await sim(t, { rate: 2000 });
  const c = await connect(t, s);
  c.subscribe('AAPL', 'MSFT', 'OANDA:EUR_USD');
  await c.waitFor(() => c.trades().length > 0, 'the first trade');
  const t0 = performance.now();
  const first = c.frames.length;
  await c.waitFor(() => performance.now() - t0 >= 500 && c.frames.length > first, '500 ms of trades');
  const elapsed = (c.frames.at(-1)!.at - t0) / 1000;
  const rate = c.trades(first).length / elapsed;
  // The token bucket must never let more through than the rate (plus one burst); a busy
  // machine may deliver fewer, so the lower bound only catches pacing that stalls.
  assert.ok(rate < 2800, `measured ${rate.toFixed(0)} trades/s for a 2000/s target`);
  assert.ok(rate > 200, `pacing stalled: ${rate.toFixed(0)} trades/s for a 2000/s target`);
  const sizes = new Set(c.ofType('trade').map((f) => f.json.data.length));
  assert.ok(sizes.size > 3, `frame sizes do not vary: ${[...sizes].join(',')}`);
});

test('server: maxTrades stops the trades of a connection, pings continue', async (t) => {
  const s = await sim(t, { rate: 0, maxTrades: 1234, pingIntervalMs: 20 });
  const c = await connect(t, s);
  c.subscribe('BINANCE:BTCUSDT', 'BINANCE:ETHUSDT');
  await c.waitFor(() => c.trades().length >= 1234, '1234 trades');
  const pingsBefore = c.ofType('ping').length;
  await c.waitFor(() => c.ofType('ping').length >= pingsBefore + 2, 'two more pings');
  assert.equal(c.trades().length, 1234);
  assert.equal(s.stats().tradesSent, 1234);
});

test('server: equal seeds give two connections the same trades', async (t) => {
  const s = await sim(t, { rate: 0, maxTrades: 3000 });
  const [a, b] = [await connect(t, s), await connect(t, s)];
  for (const c of [a, b]) c.subscribe('BINANCE:BTCUSDT', 'AAPL', 'OANDA:EUR_USD');
  await a.waitFor(() => a.trades().length === 3000, 'a: 3000 trades');
  await b.waitFor(() => b.trades().length === 3000, 'b: 3000 trades');
  // Each symbol has its own random stream, so its (p, v, c) sequence matches even if the
  // subscriptions reached the two connections at different moments of their streams.
  for (const sym of ['BINANCE:BTCUSDT', 'AAPL', 'OANDA:EUR_USD']) {
    const seq = (c: Client) =>
      c
        .trades()
        .filter((x) => x.s === sym)
        .map((x) => ({ p: x.p, v: x.v, c: x.c }));
    const [sa, sb] = [seq(a), seq(b)];
    const n = Math.min(sa.length, sb.length);
    assert.ok(n > 500, `${sym}: only ${n} trades`);
    assert.deepEqual(sa.slice(0, n), sb.slice(0, n), sym);
  }
});

test('server: rate 0 batches up to 500 trades a frame and is fast', async (t) => {
  const s = await sim(t, { rate: 0 });
  const c = await connect(t, s);
  c.subscribe(...DEFAULT_SIMULATED_SYMBOLS.slice(0, 10));
  await c.waitFor(() => c.trades().length > 0, 'the first trade');
  // Count without keeping frames around: measure 1 s of parsed trades.
  let trades = 0;
  const t0 = performance.now();
  const first = c.frames.length;
  await c.waitFor(
    () => {
      for (const f of c.frames.splice(first)) if (f.json?.type === 'trade') trades += f.json.data.length;
      return performance.now() - t0 >= 1000;
    },
    '1 s of trades',
    3000,
  );
  const perSec = (trades * 1000) / (performance.now() - t0);
  t.diagnostic(`rate 0, one client, same process, JSON.parse on every frame: ${Math.round(perSec)} trades/s`);
  const sizes = c.ofType('trade').map((f) => f.json.data.length);
  assert.ok(Math.max(...sizes) <= 500);
  // Speed itself is measured by `npm run bench:produce` (simulator at full speed), not here.
  assert.ok(trades > 0);
  assert.equal(s.stats().connections, 1);
});

test('server: a slow client costs bounded memory (backpressure)', async (t) => {
  const s = await sim(t, { rate: 0 });
  const c = await connect(t, s);
  c.subscribe(...DEFAULT_SIMULATED_SYMBOLS.slice(0, 5));
  await c.waitFor(() => c.trades().length > 0, 'the first trade');
  // Stop reading: the kernel buffers fill, then the server must stop producing.
  socketOf(c.ws).pause();
  const sentAt = () => s.stats().tradesSent;
  let last = sentAt();
  let stable = 0;
  for (let i = 0; i < 40 && stable < 3; i++) {
    await new Promise((r) => setTimeout(r, 25));
    const now = sentAt();
    stable = now === last ? stable + 1 : 0;
    last = now;
  }
  assert.equal(stable, 3, 'the server kept producing for a client that does not read');
  socketOf(c.ws).resume();
  const before = sentAt();
  await c.waitFor(() => sentAt() > before + 10_000, 'production resuming after the client reads again');
});

test('server: close() ends connections and leaves nothing running', async (t) => {
  const before = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length;
  const s = await startSimulator({
    port: 0,
    symbols: ['AAPL'],
    rate: 0,
    seed: 1,
    logger,
    pingIntervalMs: 10,
    faults: { dropEverySec: 100 },
  });
  const c = await connect(t, s);
  c.subscribe('AAPL');
  await c.waitFor(() => c.trades().length > 1000, 'trades');
  await s.close();
  await s.close(); // idempotent
  await c.waitFor(() => c.closeCode !== undefined, 'the client to see the close');
  assert.ok(c.closeCode === 1001 || c.closeCode === 1006, `close code ${c.closeCode}`);
  assert.equal(s.stats().connections, 0);
  await new Promise((r) => setImmediate(r));
  const after = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap');
  assert.ok(after.length <= before, `resources left: ${after.join(', ')}`);
  assert.equal(await upgradeStatus(`${s.url}?token=x`).catch(() => -1), -1, 'server still accepts connections');
});

test('server: invalid options are reported together', async () => {
  await assert.rejects(
    startSimulator({ port: -1, symbols: [], rate: -5, seed: 1, logger, faults: { malformedFraction: 2 } }),
    (err: Error) =>
      err instanceof RangeError &&
      /port/.test(err.message) &&
      /symbols/.test(err.message) &&
      /rate/.test(err.message) &&
      /malformedFraction/.test(err.message),
  );
});
