/**
 * The HTTP source on its own, with a sink the test controls (no Kafka here: the integration
 * tests in test/integration/produce-http.test.ts run the same cases against the real broker).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import pino from 'pino';
import { HttpSource } from '../../../src/core/sources/http';
import type { FrameSink } from '../../../src/core/sources/types';
import type { RawTrade } from '../../../src/core/serde';
import { LIMITS } from '../../../src/core/limits';

function captureLogger() {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino({ level: 'debug' }, { write: (l: string) => lines.push(JSON.parse(l) as { level: number; msg: string }) });
  return { logger, lines };
}

/** A sink whose acknowledgements the test releases (`ack()`), recording every call. */
function controlledSink() {
  const calls: { kind: 'trades' | 'deadLetter'; trades?: RawTrade[]; reason?: string }[] = [];
  let release: () => void = () => {};
  let gate = Promise.resolve();
  const sink: FrameSink = {
    limits: { maxFutureMs: LIMITS.maxFutureMs, reservedTopics: ['trades'] },
    frame: () => undefined,
    trades: (trades) => {
      calls.push({ kind: 'trades', trades });
      return gate;
    },
    deadLetter: (_value, reason) => {
      calls.push({ kind: 'deadLetter', reason });
      return gate;
    },
  };
  return {
    sink,
    calls,
    /** From now on, acknowledgements wait for ack(). */
    hold() {
      gate = new Promise((resolve) => (release = resolve));
    },
    ack: () => release(),
  };
}

async function start(t: TestContext, sink: FrameSink) {
  const { logger, lines } = captureLogger();
  let port = 0;
  const source = new HttpSource({ port: 0, logger, onListening: (p) => (port = p) });
  const stop = new AbortController();
  const running = source.run(sink, stop.signal);
  while (port === 0) await new Promise((r) => setTimeout(r, 5));
  t.after(async () => {
    stop.abort();
    await running;
  });
  return { source, lines, url: `http://127.0.0.1:${port}/trades`, port, running };
}

/** Writes raw bytes to the server and closes the socket once they are sent (a client that gives up). */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    let answer = '';
    const socket = connect(port, '127.0.0.1', () => socket.write(text, () => setImmediate(() => socket.destroy())));
    socket.on('data', (d) => (answer += d.toString()));
    socket.on('close', () => resolve(answer));
    socket.on('error', () => resolve(answer));
  });
}

const T = Date.now() - 60_000;
const body = JSON.stringify([{ s: 'AAPL', p: 190.5, t: T, v: 10 }]);
const json = { 'content-type': 'application/json' };

test('an upload aborted half-way, or with bad chunked encoding, ends that request only; the next one is accepted', async (t) => {
  const { sink, calls } = controlledSink();
  const { source, url, port, running, lines } = await start(t, sink);
  let settled = false;
  void running.then(
    () => (settled = true),
    () => (settled = true),
  );
  await rawRequest(port, `POST /trades HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[{"s":"A"`);
  await rawRequest(
    port,
    'POST /trades HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n',
  );
  while (source.clientErrors < 2) await new Promise((r) => setTimeout(r, 5));
  const ok = await fetch(url, { method: 'POST', body, headers: json });
  assert.equal(ok.status, 202);
  assert.equal(settled, false, 'the source is still running');
  assert.equal(calls.length, 1, 'nothing from the broken uploads reached the sink');
  assert.equal(source.clientErrors, 2);
  assert.ok(lines.some((l) => /HTTP request failed while reading its body/.test(l.msg)));
});

test('415 unless Content-Type is application/json; 403 for a cross-origin request; a same-origin one is fine', async (t) => {
  const { sink, calls } = controlledSink();
  const { url, port } = await start(t, sink);
  const plain = await fetch(url, { method: 'POST', body }); // fetch sends a string as text/plain
  assert.equal(plain.status, 415);
  assert.match(((await plain.json()) as { error: string }).error, /Content-Type must be application\/json, not text\/plain/);
  const cross = await fetch(url, { method: 'POST', body, headers: { ...json, origin: 'http://evil.example' } });
  assert.equal(cross.status, 403);
  assert.equal(cross.headers.get('access-control-allow-origin'), null, 'no CORS header, ever');
  const same = await fetch(url, { method: 'POST', body, headers: { ...json, origin: `http://127.0.0.1:${port}` } });
  assert.equal(same.status, 202);
  assert.equal(calls.length, 1, 'only the accepted request reached the sink');
});

test('the answer waits for the acknowledgement; a client leaving meanwhile loses only its answer: written once, logged', async (t) => {
  const control = controlledSink();
  const { source, url, lines } = await start(t, control.sink);
  control.hold();
  let answered = false;
  const pending = fetch(url, { method: 'POST', body, headers: json }).then((r) => {
    answered = true;
    return r;
  });
  while (control.calls.length === 0) await new Promise((r) => setTimeout(r, 5));
  assert.equal(answered, false, 'no answer before the acknowledgement');
  control.ack();
  assert.equal((await pending).status, 202);

  // A client that gives up while its trades wait for the acknowledgement.
  control.hold();
  const leaving = new AbortController();
  const gone = fetch(url, { method: 'POST', body, headers: json, signal: leaving.signal }).catch(() => 'aborted');
  while (control.calls.length < 2) await new Promise((r) => setTimeout(r, 5));
  leaving.abort();
  assert.equal(await gone, 'aborted');
  while (source.clientErrors === 0) await new Promise((r) => setTimeout(r, 5)); // the server saw it leave
  control.ack();
  assert.equal(control.calls.filter((c) => c.kind === 'trades').length, 2, 'handed to Kafka once, not again');
  assert.ok(lines.some((l) => /closed its connection before its answer; its 1 trades are written once all the same/.test(l.msg)));
  const next = await fetch(url, { method: 'POST', body, headers: json });
  assert.equal(next.status, 202, 'and the source goes on');
});
