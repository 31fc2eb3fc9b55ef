/**
 * The acceptance test of "no single input may stop a stage": 10,000 generated frames and
 * HTTP bodies, about half of them hostile, through the real `finpipe produce` (a websocket
 * server here sends the frames; a second produce takes POST /trades), `finpipe process` and
 * `finpipe sink` against the real broker and MariaDB. It asserts that no stage exits, that
 * every valid trade reaches MySQL exactly once (against the oracle of fuzz-inputs.ts), that
 * every invalid input is in the dead-letter topic with a reason, and that each stage's RSS
 * stays bounded. FUZZ_SEED reproduces a run (default fixed).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { QueryOptions, RowDataPacket } from 'mysql2/promise';
import { WebSocketServer, type WebSocket } from 'ws';
import { DLQ_HEADERS } from '../../src/core/kafka/dead-letter';
import { admin, deleteTopicsQuietly, testKafka, uniqueName, waitFor } from '../helpers/kafka';
import { createDatabase } from '../helpers/mysql';
import { startCli, type RunningCli } from '../helpers/cli';
import { FuzzInputs, identity, prng, shuffle, type HttpBody, type WsFrame } from './fuzz-inputs';

const SEED = Number(process.env.FUZZ_SEED ?? 20_241_126);
const RSS_LIMIT_MB = 400;
const MARKER = /FZM\d{6}/g;

/** The VmRSS of a process in MB (0 once it is gone). */
function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The Finnhub stand-in: sends the frames in order to whichever produce connection is open, with backpressure. */
class FrameServer {
  readonly wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  /** Connections after the first: produce dropped one (a reconnect may lose frames in flight). */
  readonly drops: string[] = [];
  private socket: WebSocket | null = null;
  private connected: () => void = () => {};
  private next = 0;
  private pinger: NodeJS.Timeout | undefined;

  constructor() {
    this.wss.on('connection', (ws) => {
      if (this.socket) this.drops.push(`produce reconnected at frame ${this.next}`);
      this.socket = ws;
      ws.on('error', () => {});
      this.connected();
    });
  }

  get port(): number {
    return (this.wss.address() as { port: number }).port;
  }

  /** Sends the frames, then a ping every 5 s like Finnhub (or produce's watchdog would reconnect), until closed. */
  async send(frames: WsFrame[]): Promise<void> {
    while (this.next < frames.length) {
      const ws = this.socket;
      if (!ws || ws.readyState !== ws.OPEN) {
        await new Promise<void>((resolve) => (this.connected = resolve));
        continue;
      }
      const { data, binary } = frames[this.next++];
      await new Promise<void>((resolve) => ws.send(data, { binary }, () => resolve()));
      while (ws.bufferedAmount > 4 * 1024 * 1024) await new Promise((r) => setTimeout(r, 5));
    }
    this.pinger = setInterval(() => this.socket?.send('{"type":"ping"}'), 5_000);
  }

  close(): Promise<void> {
    clearInterval(this.pinger);
    for (const ws of this.wss.clients) ws.terminate();
    return new Promise((resolve) => this.wss.close(() => resolve()));
  }
}

/** POSTs the bodies, a few at a time; returns the problems (a status the intended behaviour does not give). */
async function postBodies(url: string, bodies: HttpBody[]): Promise<string[]> {
  const problems: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < bodies.length) {
      const body = bodies[next++];
      let status: number;
      try {
        status = (await fetch(url, { method: 'POST', body: body.data, headers: { 'content-type': 'application/json' } })).status;
      } catch (error) {
        problems.push(`${body.kind}: request failed (${(error as Error).message})`);
        continue;
      }
      const ok = status === 202;
      const refused = status >= 400 && status < 500;
      if ((body.expect === 'accepted' && !ok) || (body.expect === 'refused' && !refused) || (!ok && !refused)) {
        problems.push(`${body.kind}: HTTP ${status}`);
      }
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return problems;
}

/** Reads the dead-letter topic as it fills: the markers seen (with their reasons), blank values, counts per stage and source. */
async function watchDeadLetters(t: TestContext, topic: string) {
  const seen = new Map<string, string>();
  const bySource = new Map<string, number>();
  let blank = 0;
  const consumer = testKafka('fuzz-dlq').consumer({ groupId: uniqueName('fuzz-dlq'), maxWaitTimeInMs: 200 });
  await consumer.connect();
  t.after(() => consumer.disconnect());
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const header = (name: string) => message.headers?.[name]?.toString() ?? '';
      const reason = header(DLQ_HEADERS.reason);
      const source = `${header(DLQ_HEADERS.stage)} ${header(DLQ_HEADERS.source)
        .replace(/\/\d+\/\d+$/, '')
        .replace(/^ws:.*/, 'websocket')}`;
      bySource.set(source, (bySource.get(source) ?? 0) + 1);
      const text = message.value?.toString('latin1') ?? '';
      if (text.trim() === '') blank++;
      for (const m of text.match(MARKER) ?? []) if (!seen.has(m) || reason) seen.set(m, reason);
      await Promise.resolve();
    },
  });
  return { seen, bySource, blank: () => blank };
}

/** Every trade in the database: identity -> count, and the markers found in conditions. */
async function tradesInDb(db: Awaited<ReturnType<typeof createDatabase>>) {
  const [rows] = await db.connection.query<RowDataPacket[]>({
    sql: `SELECT symbol, price, volume, trade_timestamp, trade_conditions FROM \`${db.name}\`.trades`,
    timezone: 'Z',
  } as QueryOptions);
  const counts = new Map<string, number>();
  const markers = new Set<string>();
  for (const r of rows) {
    const key = identity({ s: r.symbol, p: r.price, v: r.volume, t: (r.trade_timestamp as Date).getTime() });
    counts.set(key, (counts.get(key) ?? 0) + 1);
    for (const m of String(r.trade_conditions).match(MARKER) ?? []) markers.add(m);
  }
  return { counts, markers };
}

test('fuzz: 10,000 hostile and valid frames and bodies through produce, process and sink; nothing stops, nothing lost, nothing twice', async (t) => {
  const run = `q${randomBytes(4).toString('hex')}`;
  t.after(async () => {
    const a = testKafka().admin();
    await a.connect();
    await deleteTopicsQuietly((await a.listTopics()).filter((name) => name.includes(run)));
    await a.disconnect();
  });
  const topics = { raw: `${run}-raw`, deadLetter: `${run}.dlq`, late: `${run}.late`, state: `${run}-process-state` };
  const db = await createDatabase(t, 'fp_fuzz');
  const a = await admin(t);
  await a.createTopics({
    topics: [
      { topic: topics.raw, numPartitions: 3 },
      { topic: topics.deadLetter, numPartitions: 1 },
    ],
    waitForLeaders: true,
  });

  const inputs = new FuzzInputs(prng(SEED), run, topics, Date.now());
  for (let i = 0; i < 8_000; i++) inputs.addFrame();
  for (let i = 0; i < 2_000; i++) inputs.addBody();
  inputs.addLiteralFrames();
  inputs.addBigFrames();
  inputs.addBigBodies();
  shuffle(inputs.frames, inputs.rnd);
  shuffle(inputs.bodies, inputs.rnd);
  const { oracle } = inputs;
  t.diagnostic(
    `seed ${SEED}: ${inputs.frames.length} frames, ${inputs.bodies.length} bodies; ${oracle.valid.size} valid trades, ` +
      `${oracle.deadLetter.size} marked invalid inputs, ${oracle.either.size} too big or colliding, ${oracle.blank} blank`,
  );

  const server = new FrameServer();
  t.after(() => server.close());
  const httpPort = await freePort();
  const env = {
    FINPIPE_RAW_TOPIC: topics.raw,
    FINPIPE_DLQ_TOPIC: topics.deadLetter,
    FINPIPE_LATE_TOPIC: topics.late,
    FINPIPE_MYSQL_URL: db.url,
    FINNHUB_WS_URL: `ws://127.0.0.1:${server.port}`,
  };
  const stages: [string, RunningCli][] = [
    ['sink', startCli(t, ['sink', '--pattern', `.*${run}.*`, '--group', `${run}-sink`], env)],
    ['process', startCli(t, ['process', '--group', `${run}-process`], env)],
    ['produce (websocket)', startCli(t, ['produce', `FZ${run}:AAPL`, '--watchdog', '60s'], env)],
    ['produce (http)', startCli(t, ['produce', '--http', String(httpPort)], env)],
  ];
  const peakRss = new Map<string, number>();
  const exited: string[] = [];
  let stopping = false;
  const sampler = setInterval(() => {
    if (stopping) return;
    for (const [name, stage] of stages) {
      peakRss.set(name, Math.max(peakRss.get(name) ?? 0, rssMb(stage.child.pid!)));
      if (stage.child.exitCode !== null && !exited.includes(name)) {
        exited.push(name);
        t.diagnostic(`${name} exited with ${stage.child.exitCode}: ${stage.output().stderr.split('\n').slice(-6).join('\n')}`);
      }
    }
  }, 250);
  t.after(() => clearInterval(sampler));
  const letters = await watchDeadLetters(t, topics.deadLetter);

  const feeding = server.send(inputs.frames);
  await waitFor('produce --http to listen', () => fetch(`http://127.0.0.1:${httpPort}/trades`).then(() => true), 30_000, 200);
  const httpProblems = await postBodies(`http://127.0.0.1:${httpPort}/trades`, inputs.bodies);
  await Promise.race([feeding, new Promise((resolve) => setTimeout(resolve, 120_000).unref())]);

  // Until everything arrived, a stage exited, or 2 minutes without progress.
  let db_ = await tradesInDb(db);
  let rowsSeen = -1;
  const settled = () =>
    [...oracle.valid].every((k) => db_.counts.get(k) === 1) &&
    [...oracle.deadLetter.keys()].every((m) => letters.seen.has(m)) &&
    [...oracle.either].every(([m, e]) => letters.seen.has(m) || e.identities.every((k) => db_.counts.get(k) === 1)) &&
    letters.blank() >= oracle.blank;
  await waitFor(
    'every trade in MySQL and every invalid input dead-lettered',
    async () => {
      // Read every row again only when there are new ones.
      const [[{ n }]] = await db.connection.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${db.name}\`.trades`);
      if (Number(n) !== rowsSeen) {
        rowsSeen = Number(n);
        db_ = await tradesInDb(db);
      }
      return settled() || exited.length > 0;
    },
    120_000,
    2_000,
  ).catch(() => {});
  stopping = true;
  clearInterval(sampler);
  const results = await Promise.all(stages.map(([, s]) => s.stop('SIGTERM')));
  for (const [i, r] of results.entries()) {
    const trouble = r.stderr.split('\n').filter((l) => /"level":"(error|fatal)"|reconnect|^finpipe:/.test(l));
    if (trouble.length > 0) t.diagnostic(`${stages[i][0]}: ${trouble.slice(0, 4).join('\n')}`);
  }

  const missing = [...oracle.valid].filter((k) => !db_.counts.has(k));
  const twice = [...db_.counts].filter(([, n]) => n > 1).map(([k]) => k);
  const notDeadLettered = [...oracle.deadLetter].filter(([m]) => !letters.seen.has(m));
  const withoutReason = [...letters.seen].filter(([m, reason]) => oracle.deadLetter.has(m) && !reason);
  const invalidInDb = [...db_.markers].filter((m) => oracle.deadLetter.has(m));
  const eitherLost = [...oracle.either].filter(([m, e]) => !letters.seen.has(m) && !e.identities.every((k) => db_.counts.get(k) === 1));
  const byKind = (xs: [string, string][]) => {
    const counts = new Map<string, number>();
    for (const [, kind] of xs) counts.set(kind, (counts.get(kind) ?? 0) + 1);
    return [...counts].map(([kind, n]) => `${kind}: ${n}`);
  };
  t.diagnostic(`dead letters by stage and source: ${JSON.stringify(Object.fromEntries(letters.bySource))}`);
  t.diagnostic(`peak RSS (MB): ${JSON.stringify(Object.fromEntries([...peakRss].map(([k, v]) => [k, Math.round(v)])))}`);

  // Every check, so that one run reports every remaining problem at once.
  const failures: string[] = [];
  const check = (ok: boolean, problem: () => string) => ok || failures.push(problem());
  check(exited.length === 0, () => `stages exited before they were stopped: ${exited.join(', ')}`);
  check(server.drops.length === 0, () => `produce lost its websocket connection: ${server.drops.join('; ')}`);
  check(
    httpProblems.length === 0,
    () => `${httpProblems.length} HTTP bodies got an unexpected answer, e.g. ${httpProblems.slice(0, 5).join('; ')}`,
  );
  for (const [i, r] of results.entries()) check(r.code === 0, () => `${stages[i][0]} exited with ${r.code} when stopped`);
  check(
    missing.length === 0,
    () => `${missing.length} of ${oracle.valid.size} valid trades missing in MySQL, e.g. ${missing.slice(0, 3).join(' | ')}`,
  );
  check(twice.length === 0, () => `${twice.length} trades in MySQL more than once, e.g. ${twice.slice(0, 3).join(' | ')}`);
  check(
    notDeadLettered.length === 0,
    () => `invalid inputs missing from the dead-letter topic, by kind: ${byKind(notDeadLettered).join(', ')}`,
  );
  check(withoutReason.length === 0, () => `${withoutReason.length} dead letters without a reason`);
  check(
    invalidInDb.length === 0,
    () => `invalid trades in MySQL, by kind: ${byKind(invalidInDb.map((m) => [m, oracle.deadLetter.get(m)!])).join(', ')}`,
  );
  check(
    eitherLost.length === 0,
    () => `too big or colliding inputs neither written whole nor dead-lettered: ${eitherLost.map(([m, e]) => `${m} ${e.kind}`).join(', ')}`,
  );
  check(letters.blank() >= oracle.blank, () => `${oracle.blank} blank inputs sent, ${letters.blank()} blank dead letters`);
  const twiceLiteral = [...oracle.atMostOnce].filter((k) => (db_.counts.get(k) ?? 0) > 1);
  check(
    twiceLiteral.length === 0,
    () => `trades of symbols named like Kafka's or finpipe's topics written twice: ${twiceLiteral.join(' | ')}`,
  );
  for (const [name, mb] of peakRss) check(mb < RSS_LIMIT_MB, () => `${name} peaked at ${Math.round(mb)} MB RSS (limit ${RSS_LIMIT_MB})`);
  assert.deepEqual(failures, []);
});
