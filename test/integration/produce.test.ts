/**
 * `produce` against the real broker and the real simulator over a real websocket:
 * every trade arrives and decodes, reconnects resubscribe, malformed frames are
 * dead-lettered without losing good trades, shutdown flushes everything, the symbol limit,
 * the HTTP and file sources, and the token never shows.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { startSimulator, type SimulatorOptions } from '../../src/core/simulator';
import { ProduceStage, type ProduceOptions } from '../../src/core/produce';
import { loadConfig } from '../../src/core/config';
import { codecs, type RawTrade } from '../../src/core/serde';
import { DLQ_HEADERS } from '../../src/core/kafka/dead-letter';
import { BROKERS, admin, deleteTopicsQuietly, readTopic, uniqueName, waitFor, type ReadRecord } from '../helpers/kafka';
import { runCli, startCli } from '../helpers/cli';

const SYMBOLS = ['BINANCE:BTCUSDT', 'BINANCE:ETHUSDT', 'AAPL', 'IC MARKETS:1'];
const kafka = loadConfig({ env: { FINPIPE_KAFKA_BROKERS: BROKERS.join(',') }, envFile: '/dev/null' }).kafka;
const quiet = pino({ level: 'silent' });

async function simulator(t: TestContext, opts: Partial<SimulatorOptions> = {}) {
  const sim = await startSimulator({ port: 0, symbols: SYMBOLS, rate: 0, seed: 11, logger: quiet, ...opts });
  t.after(() => sim.close());
  return sim;
}

function topicsFor(t: TestContext) {
  const topics = { raw: uniqueName('produce-raw'), deadLetter: uniqueName('produce-dlq') };
  t.after(() => deleteTopicsQuietly([topics.raw, topics.deadLetter]));
  return topics;
}

function wsSource(url: string, extra: Partial<Extract<ProduceOptions['source'], { kind: 'websocket' }>> = {}): ProduceOptions['source'] {
  return { kind: 'websocket', symbols: SYMBOLS, url, token: 'test-token', reconnectBackoff: { initialMs: 20, maxMs: 100 }, ...extra };
}

const decode = (r: ReadRecord) => codecs().raw.decode(r.value!);
const tradeCount = (records: ReadRecord[]) => records.reduce((n, r) => n + decode(r).data.length, 0);
const readTrades = async (topic: string, expected: number) => {
  const records = await readTopic(topic, (rs) => tradeCount(rs) >= expected);
  return { records, trades: records.flatMap((r) => decode(r).data) };
};
/** Runs produce until its input ends, it reaches maxTrades, or `signal` aborts. */
const produce = (opts: ProduceOptions, signal = new AbortController().signal) => new ProduceStage(opts).run(signal);
const fingerprint = (trades: RawTrade[]) => trades.map((x) => `${x.s}|${x.t}|${x.p}|${x.v}|${JSON.stringify(x.c)}`).sort();

test('simulator -> produce -> raw topic: every trade decodes, one symbol per message keyed by it; --record then --from-file replays them', async (t) => {
  const sim = await simulator(t, { maxTrades: 3000 });
  const topics = topicsFor(t);
  const record = path.join(os.tmpdir(), `${uniqueName('produce-record')}.ndjson`);
  t.after(() => rm(record, { force: true }));
  const summary = await produce({ kafka, topics, logger: quiet, source: wsSource(sim.url), record, maxTrades: 3000 });
  assert.equal(sim.stats().tradesSent, 3000);
  assert.equal(summary.tradesAcked, 3000);
  assert.equal(summary.stopReason, 'max trades');

  const { records, trades } = await readTrades(topics.raw, 3000);
  assert.equal(trades.length, 3000);
  assert.equal(records.length, summary.messagesAcked);
  for (const r of records) {
    const message = decode(r);
    assert.equal(message.type, 'trade');
    assert.ok(
      message.data.every((x) => x.s === r.key!.toString()),
      'one symbol per message, key = symbol',
    );
    assert.ok(message.data.every((x) => x.p > 0 && x.v >= 0 && Number.isInteger(x.t)));
  }
  assert.deepEqual(new Set(trades.map((x) => x.s)), new Set(SYMBOLS));
  const a = await admin(t);
  const metadata = await a.fetchTopicMetadata({ topics: [topics.raw] });
  assert.equal(metadata.topics[0].partitions.length, 6, 'the raw topic is created with 6 partitions');

  const replay = { raw: uniqueName('produce-replay'), deadLetter: topics.deadLetter };
  t.after(() => deleteTopicsQuietly([replay.raw]));
  const replayed = await produce({ kafka, topics: replay, logger: quiet, source: { kind: 'file', path: record } });
  assert.equal(replayed.stopReason, 'end of input');
  assert.equal(replayed.tradesAcked, 3000);
  assert.deepEqual(fingerprint((await readTrades(replay.raw, 3000)).trades), fingerprint(trades));
});

test('reconnect after the simulator drops connections: every symbol is resubscribed and trades keep flowing', async (t) => {
  const sim = await simulator(t, { rate: 2000, faults: { dropEverySec: 0.4 } });
  const topics = topicsFor(t);
  const stop = new AbortController();
  let secondReconnectAt = 0;
  const stage = new ProduceStage({ kafka, topics, logger: quiet, source: wsSource(sim.url) });
  const watch = setInterval(() => {
    const s = stage.snapshot();
    if (s.reconnects >= 2 && secondReconnectAt === 0) secondReconnectAt = Date.now();
    if (s.reconnects >= 4) stop.abort();
  }, 50);
  const summary = await stage.run(stop.signal).finally(() => clearInterval(watch));
  assert.ok(summary.reconnects >= 4);
  assert.ok(sim.stats().drops >= 4);
  const { trades } = await readTrades(topics.raw, summary.tradesAcked);
  assert.equal(trades.length, summary.tradesAcked);
  // The simulator stamps trades with its clock when it sends them, so a trade stamped after
  // the second reconnect came over a connection opened by a reconnect.
  for (const symbol of SYMBOLS) {
    assert.ok(
      trades.some((x) => x.s === symbol && x.t > secondReconnectAt),
      `${symbol} flows again after reconnecting`,
    );
  }
});

test('malformed frames land in the dead-letter topic with a reason while every good trade arrives', async (t) => {
  const sim = await simulator(t, { rate: 2000, maxTrades: 2000, faults: { malformedFraction: 0.25 } });
  const topics = topicsFor(t);
  const summary = await produce({ kafka, topics, logger: quiet, source: wsSource(sim.url), maxTrades: 2000 });
  const stats = sim.stats();
  assert.ok(stats.malformedSent > 10, `enough malformed frames (${stats.malformedSent})`);
  assert.equal(summary.tradesAcked, 2000);
  assert.equal(summary.deadLettersAcked, stats.malformedSent, 'one dead letter per malformed frame');
  assert.equal((await readTrades(topics.raw, 2000)).trades.length, 2000, 'every good trade arrives');
  const letters = await readTopic(topics.deadLetter, (rs) => rs.length >= stats.malformedSent);
  assert.equal(letters.length, stats.malformedSent);
  for (const letter of letters) {
    assert.match(letter.headers[DLQ_HEADERS.reason], /^(frame|type|data)[[.:]?/);
    assert.equal(letter.headers[DLQ_HEADERS.stage], 'produce');
    assert.equal(letter.headers[DLQ_HEADERS.source], sim.url);
  }
});

test('more symbols than the server allows: the error frame is counted and logged', async (t) => {
  const sim = await simulator(t, { symbolLimit: 2, maxTrades: 200 });
  const topics = topicsFor(t);
  const summary = await produce({
    kafka,
    topics,
    logger: quiet,
    source: wsSource(sim.url, { symbols: SYMBOLS.slice(0, 3) }),
    maxTrades: 200,
  });
  assert.equal(summary.errorFrames, 1);
  assert.equal(summary.tradesAcked >= 200, true);
});

test('the HTTP source: 202 for valid trades, 400 with every reason (and a dead letter) for invalid ones', async (t) => {
  const topics = topicsFor(t);
  const stop = new AbortController();
  let port = 0;
  const running = produce({ kafka, topics, logger: quiet, source: { kind: 'http', port: 0, onListening: (p) => (port = p) } }, stop.signal);
  await waitFor('the HTTP source to listen', () => port > 0);
  const url = `http://127.0.0.1:${port}/trades`;
  const t0 = 1_718_000_000_000;
  const good = [
    { s: 'AAPL', p: 190.5, t: t0, v: 10 },
    { s: 'MSFT', p: 420, t: t0 + 1, v: 0, c: ['12'] },
    { s: 'AAPL', p: 190.6, t: t0 + 2, v: 3 },
  ];
  const ok = await fetch(url, { method: 'POST', body: JSON.stringify(good), headers: { 'content-type': 'application/json' } });
  assert.equal(ok.status, 202);
  assert.deepEqual(await ok.json(), { accepted: 3 });
  const badBody = JSON.stringify([good[0], { s: 'AAPL', p: -1, t: t0, v: 'lots' }]);
  const json = { 'content-type': 'application/json' };
  const bad = await fetch(url, { method: 'POST', body: badBody, headers: json });
  assert.equal(bad.status, 400);
  assert.deepEqual(((await bad.json()) as { reasons: string[] }).reasons, [
    '[1].p: must be a finite number > 0, not -1',
    '[1].v: must be a finite number >= 0, not "lots" (a string)',
  ]);
  const notJson = await fetch(url, { method: 'POST', body: '{oops', headers: json });
  assert.equal(notJson.status, 400);
  assert.equal((await fetch(url)).status, 405);
  stop.abort();
  const summary = await running;
  assert.equal(summary.tradesAcked, 3, 'nothing from a rejected request is written');
  assert.deepEqual(fingerprint((await readTrades(topics.raw, 3)).trades), fingerprint(good.map((x) => ({ c: null, ...x }))));
  const letters = await readTopic(topics.deadLetter, (rs) => rs.length >= 2);
  assert.equal(letters.length, 2);
  assert.equal(letters[0].value!.toString(), badBody);
  assert.equal(letters[0].headers[DLQ_HEADERS.source], 'http');
});

test('CLI: SIGTERM stops reading, flushes everything received, prints a summary and exits 0; the token never appears', async (t) => {
  const SECRET = 'sekret-finnhub-token-81723';
  const sim = await simulator(t, { rate: 3000, tokens: [SECRET] });
  const topics = topicsFor(t);
  const cli = startCli(
    t,
    ['produce', 'BINANCE:BTCUSDT', 'IC MARKETS:1', '--url', sim.url, '--stats-interval', '200ms', '--log-level', 'debug'],
    {
      FINNHUB_TOKEN: SECRET,
      FINPIPE_RAW_TOPIC: topics.raw,
      FINPIPE_DLQ_TOPIC: topics.deadLetter,
      FINPIPE_KAFKA_BROKERS: BROKERS.join(','),
    },
  );
  await waitFor('acknowledged trades in the stats log', () => /"tradesAcked":[1-9]/.test(cli.output().stderr), 30_000);
  const result = await cli.stop('SIGTERM');
  assert.equal(result.code, 0, result.stderr.slice(-2000));
  assert.match(result.stdout, /^produce stopped \(signal\) after [\d.]+ s: [\d,]+ trades in [\d,]+ messages to /);
  const summaryLine = result.stderr.split('\n').find((l) => l.includes('"msg":"summary"'));
  const { summary } = JSON.parse(summaryLine!) as { summary: { trades: number; tradesAcked: number } };
  assert.ok(summary.trades > 0);
  assert.equal(summary.tradesAcked, summary.trades, 'everything received was acknowledged');
  assert.equal((await readTrades(topics.raw, summary.trades)).trades.length, summary.trades, 'and is in the topic');
  assert.ok(!result.stdout.includes(SECRET) && !result.stderr.includes(SECRET), 'the token never appears in any output');
});

test('CLI: more symbols than --symbol-limit are refused before connecting to anything', async () => {
  const symbols = Array.from({ length: 51 }, (_, i) => `BINANCE:COIN${i}USDT`);
  // Nothing listens on port 1: reaching Kafka or the websocket would fail differently.
  const result = await runCli(['produce', ...symbols, '--url', 'ws://127.0.0.1:1'], { FINPIPE_KAFKA_BROKERS: '127.0.0.1:1' });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /51 symbols is more than the 50 one Finnhub connection allows \(hint: subscribe to at most 50/);
  const usage = await runCli(['produce'], { FINPIPE_KAFKA_BROKERS: '127.0.0.1:1' });
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /nothing to produce from: give symbols, --from-file or --http/);
});
