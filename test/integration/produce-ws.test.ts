/**
 * The Finnhub websocket source and REST symbol validation against the real simulator
 * (real sockets; no Kafka needed here — see produce.test.ts for the whole path).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import pino from 'pino';
import { startSimulator, type SimulatorOptions } from '../../src/core/simulator';
import { FinnhubWebSocketSource } from '../../src/core/sources/finnhub-ws';
import { validateSymbols } from '../../src/core/sources/symbol-check';
import type { FrameSink } from '../../src/core/sources/types';
import { FinpipeError } from '../../src/core/errors';
import { waitFor } from '../helpers/kafka';
import { LIMITS } from '../../src/core/limits';

function captureLogger() {
  const lines: { level: string; msg: string }[] = [];
  const logger = pino(
    { level: 'info', formatters: { level: (label) => ({ level: label }) } },
    { write: (l: string) => lines.push(JSON.parse(l) as { level: string; msg: string }) },
  );
  return { logger, lines };
}

async function simulator(t: TestContext, opts: Partial<SimulatorOptions> = {}) {
  const sim = await startSimulator({
    port: 0,
    symbols: ['BINANCE:BTCUSDT', 'AAPL'],
    rate: 500,
    seed: 7,
    logger: pino({ level: 'silent' }),
    ...opts,
  });
  t.after(() => sim.close());
  return sim;
}

const nullSink: FrameSink = {
  frame: () => undefined,
  trades: () => Promise.resolve(),
  deadLetter: () => Promise.resolve(),
  limits: { maxFutureMs: LIMITS.maxFutureMs, reservedTopics: [] },
};

test('watchdog: no frame at all for watchdogMs reconnects and resubscribes', async (t) => {
  const sim = await simulator(t, { faults: { noPing: true } });
  const { logger, lines } = captureLogger();
  // A symbol the simulator does not trade stays silent, like an untraded Finnhub symbol.
  const source = new FinnhubWebSocketSource({
    url: sim.url,
    token: 'x',
    symbols: ['NOT:TRADED'],
    logger,
    watchdogMs: 200,
    backoff: { initialMs: 20, maxMs: 50 },
  });
  const stop = new AbortController();
  const running = source.run(nullSink, stop.signal);
  await waitFor('two watchdog reconnects', () => source.reconnects >= 2, 10_000);
  stop.abort();
  await running;
  assert.ok(lines.some((l) => l.level === 'warn' && /no frame \(trade or ping\) for 200 ms; reconnecting/.test(l.msg)));
  await waitFor('the old sockets to close', () => sim.stats().connections === 0, 5000);
});

test('a refused token (HTTP 401) is fatal with a clear message that does not contain the token', async (t) => {
  const sim = await simulator(t, { tokens: ['the-right-token'] });
  const { logger, lines } = captureLogger();
  const source = new FinnhubWebSocketSource({ url: sim.url, token: 'wrong-token-1234', symbols: ['AAPL'], logger });
  await assert.rejects(source.run(nullSink, new AbortController().signal), (e: FinpipeError) => {
    assert.equal(e.code, 'SOURCE_ERROR');
    assert.match(e.message, /refused the websocket at ws:\/\/127\.0\.0\.1:\d+: HTTP 401/);
    assert.match(e.hint!, /FINNHUB_TOKEN/);
    assert.ok(!e.message.includes('wrong-token-1234'));
    return true;
  });
  assert.ok(!JSON.stringify(lines).includes('wrong-token-1234'));
});

test('HTTP 429 on the upgrade is logged with what it means, and the client backs off', async (t) => {
  let upgrades = 0;
  const server = createServer();
  server.on('upgrade', (_req, socket) => {
    upgrades++;
    socket.end(
      'HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n' +
        'Content-Length: 40\r\nConnection: close\r\n\r\n{"error":"API limit reached. Try later"}',
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as { port: number }).port;
  const { logger, lines } = captureLogger();
  const source = new FinnhubWebSocketSource({
    url: `ws://127.0.0.1:${port}`,
    token: 'x',
    symbols: ['AAPL'],
    logger,
    backoff: { initialMs: 10, maxMs: 10 },
  });
  const stop = new AbortController();
  const running = source.run(nullSink, stop.signal);
  await waitFor(
    'the 429 error log',
    () =>
      lines.some(
        (l) => l.level === 'error' && /HTTP 429 Too Many Requests: .*API limit reached/.test(l.msg) && /one websocket per key/.test(l.msg),
      ),
    5000,
  );
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(upgrades, 1, 'no hammering: it waits at least 15 s after a 429');
  stop.abort();
  await running; // the backoff sleep ends on abort
});

test('--validate: known symbols pass (even when /search hides them); unknown ones are refused with the closest matches', async (t) => {
  const sim = await simulator(t, {
    symbols: ['BINANCE:BTCUSDT', 'BINANCE:ETHUSDT', 'AAPL', 'MSFT', 'OANDA:EUR_USD'],
    faults: { hiddenFromSearch: ['MSFT'] },
  });
  const { logger } = captureLogger();
  await validateSymbols(['BINANCE:BTCUSDT', 'AAPL', 'MSFT', 'OANDA:EUR_USD'], { restUrl: sim.restUrl, token: 'x', logger });
  await assert.rejects(
    validateSymbols(['BINANCE:BTCUSD', 'AAPLE', 'AAPL', 'NOPE:ZZZZZZ'], { restUrl: sim.restUrl, token: 'x', logger }),
    (e: FinpipeError) => {
      assert.equal(e.code, 'SYMBOL_UNKNOWN');
      assert.match(e.message, /BINANCE:BTCUSD \(closest: BINANCE:BTCUSDT/);
      assert.match(e.message, /AAPLE \(closest: AAPL\)/);
      assert.match(e.message, /NOPE:ZZZZZZ \(no similar symbol\)/);
      assert.doesNotMatch(e.message, /AAPL \(/);
      return true;
    },
  );
});
