/**
 * `finpipe produce --http` (the real executable, the real broker) against clients that
 * misbehave or are not who they should be: an upload aborted half-way and bad chunked
 * encoding end that request only; bodies larger than a Kafka record are split (valid) or
 * dead-lettered cut to the limit (invalid); text/plain is refused (415), a cross-origin
 * request too (403); and 202 comes only once the records are on the raw topic.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { codecs } from '../../src/core/serde';
import { DLQ_HEADERS } from '../../src/core/kafka/dead-letter';
import { LIMITS } from '../../src/core/limits';
import { BROKERS, admin, deleteTopicsQuietly, readTopic, uniqueName, waitFor, type ReadRecord } from '../helpers/kafka';
import { startCli } from '../helpers/cli';

const JSON_TYPE = { 'content-type': 'application/json' };
const decode = (r: ReadRecord) => codecs().raw.decode(r.value!);
const tradeCount = (records: ReadRecord[]) => records.reduce((n, r) => n + decode(r).data.length, 0);

/** Starts `finpipe produce --http 0` on fresh topics; resolves once it listens. */
async function startProduce(t: TestContext, extra: string[] = []) {
  const topics = { raw: uniqueName('produce-http-raw'), deadLetter: uniqueName('produce-http-dlq') };
  t.after(() => deleteTopicsQuietly([topics.raw, topics.deadLetter]));
  const cli = startCli(t, ['produce', '--http', '0', ...extra], {
    FINPIPE_RAW_TOPIC: topics.raw,
    FINPIPE_DLQ_TOPIC: topics.deadLetter,
    FINPIPE_KAFKA_BROKERS: BROKERS.join(','),
  });
  const url: string = await waitFor(
    'produce to listen',
    () => {
      if (cli.child.exitCode !== null) throw new Error(`produce exited: ${cli.output().stderr.slice(-1500)}`);
      return /accepting POST (http:\/\/127\.0\.0\.1:\d+\/trades)/.exec(cli.output().stderr)?.[1] ?? '';
    },
    30_000,
  );
  return { cli, topics, url, port: Number(new URL(url).port) };
}

/** Sends raw bytes, then closes the socket: a client that gives up half-way. */
function sendAndHangUp(port: number, text: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text, () => socket.destroy()));
    socket.on('close', () => resolve());
    socket.on('error', () => resolve());
  });
}

const now = Date.now();
const trade = (i: number, s = 'AAPL') => ({ s, p: 190 + (i % 100) / 100, t: now - 60_000 + (i % 1000), v: i + 1 });

test('an aborted upload and bad chunked encoding end that request only: produce keeps running and the next request reaches Kafka', async (t) => {
  const { cli, topics, url, port } = await startProduce(t);
  // The repros of the issue: 100 bytes announced, 9 sent; a chunk size that is not hex.
  await sendAndHangUp(port, 'POST /trades HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[{"s":"A"');
  await sendAndHangUp(
    port,
    'POST /trades HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n',
  );
  await sendAndHangUp(port, 'POST /trades HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n[{"s":"A"'); // and without the header
  await waitFor(
    'both failed requests logged',
    () => (cli.output().stderr.match(/HTTP request failed while reading its body/g) ?? []).length >= 2,
  );
  const good = [trade(1), trade(2)];
  const ok = await fetch(url, { method: 'POST', body: JSON.stringify(good), headers: JSON_TYPE });
  assert.equal(ok.status, 202);
  assert.equal(cli.child.exitCode, null, 'produce is still running');
  const records = await readTopic(topics.raw, (rs) => tradeCount(rs) >= 2);
  assert.equal(tradeCount(records), 2);
  const result = await cli.stop('SIGTERM');
  assert.equal(result.code, 0, result.stderr.slice(-2000));
  assert.doesNotMatch(result.stderr, /unexpected error/);
});

test('bodies over a Kafka record: valid trades are split into records under the limit (202 after the ack), invalid ones dead-lettered cut to it', async (t) => {
  const { cli, topics, url } = await startProduce(t);
  // 3.5 MB, 60,000 valid trades of one symbol: answered 202 before, while Kafka refused the record.
  const many = Array.from({ length: 60_000 }, (_, i) => trade(i, 'BIG:ONE'));
  const body = JSON.stringify(many);
  assert.ok(body.length > 3_000_000);
  const ok = await fetch(url, { method: 'POST', body, headers: JSON_TYPE });
  assert.equal(ok.status, 202);
  assert.deepEqual(await ok.json(), { accepted: 60_000 });
  // 2 MiB of garbage: 400, and a dead letter that fits.
  const garbage = Buffer.alloc(2 * 1024 * 1024, 'g');
  const bad = await fetch(url, { method: 'POST', body: garbage, headers: JSON_TYPE });
  assert.equal(bad.status, 400);
  const records = await readTopic(topics.raw, (rs) => tradeCount(rs) >= 60_000, 30_000);
  assert.ok(records.length >= 2, `split into ${records.length} records`);
  for (const r of records) {
    assert.ok(r.value!.length <= LIMITS.recordMaxBytes, `${r.value!.length} bytes`);
    assert.equal(r.key!.toString(), 'BIG:ONE');
    assert.equal(r.partition, records[0].partition, 'one key, one partition');
  }
  const sent = records.sort((a, b) => Number(a.offset) - Number(b.offset)).flatMap((r) => decode(r).data);
  assert.deepEqual(
    sent.map((x) => x.v),
    many.map((x) => x.v),
    'every trade once, in the order sent',
  );
  const [letter] = await readTopic(topics.deadLetter, (rs) => rs.length >= 1);
  assert.equal(letter.value!.length, LIMITS.recordMaxBytes);
  assert.equal(letter.headers[DLQ_HEADERS.truncated], 'true');
  assert.equal(letter.headers[DLQ_HEADERS.originalBytes], String(garbage.length));
  assert.equal(letter.headers[DLQ_HEADERS.originalSha256], createHash('sha256').update(garbage).digest('hex'));
  assert.match(letter.headers[DLQ_HEADERS.reason], /^body: invalid JSON/);
  assert.equal(cli.child.exitCode, null, 'produce is still running');
  assert.equal((await cli.stop('SIGTERM')).code, 0);
});

test('415 for text/plain, 403 for a cross-origin request, and 202 only once the records are on the raw topic', async (t) => {
  // A long linger: an answer sent when the records are merely queued would come before they are on the topic.
  const { cli, topics, url, port } = await startProduce(t, ['--linger', '5s']);
  const body = JSON.stringify([trade(1), trade(2, 'MSFT')]);
  const plain = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'text/plain' } });
  assert.equal(plain.status, 415);
  assert.match(((await plain.json()) as { error: string }).error, /Content-Type must be application\/json/);
  const cross = await fetch(url, { method: 'POST', body, headers: { ...JSON_TYPE, origin: 'http://evil.example' } });
  assert.equal(cross.status, 403);
  assert.equal(cross.headers.get('access-control-allow-origin'), null);
  const preflight = await fetch(url, { method: 'OPTIONS', headers: { origin: `http://127.0.0.1:${port}` } });
  assert.equal(preflight.headers.get('access-control-allow-origin'), null, 'no CORS header, ever');

  const started = Date.now();
  const ok = await fetch(url, { method: 'POST', body, headers: JSON_TYPE });
  assert.equal(ok.status, 202);
  const a = await admin(t);
  const offsets = await a.fetchTopicOffsets(topics.raw);
  assert.equal(
    offsets.reduce((n, p) => n + Number(p.high), 0),
    2,
    'both records (one per symbol) are on the topic when the answer arrives',
  );
  assert.ok(Date.now() - started < 5000, 'and the answer did not wait out the linger');
  assert.equal(tradeCount(await readTopic(topics.raw, (rs) => rs.length >= 2)), 2, 'nothing from the refused requests');
  assert.equal((await cli.stop('SIGTERM')).code, 0);
});

test('a body over the --http limit: 413, its head dead-lettered with the size in the reason; 404 and 405 for other paths and methods', async (t) => {
  const { cli, topics, url } = await startProduce(t);
  const huge = Buffer.alloc(9 * 1024 * 1024, 'x'); // over the 8 MiB request limit
  const tooLarge = await fetch(url, { method: 'POST', body: huge, headers: JSON_TYPE });
  assert.equal(tooLarge.status, 413);
  const [letter] = await readTopic(topics.deadLetter, (rs) => rs.length >= 1);
  assert.match(letter.headers[DLQ_HEADERS.reason], new RegExp(`^request body of ${huge.length} bytes is over the \\d+-byte limit`));
  assert.ok(letter.value!.length <= LIMITS.recordMaxBytes, 'only the head is kept');
  assert.ok(letter.value!.equals(huge.subarray(0, letter.value!.length)), 'the head of what was sent');

  assert.equal((await fetch(new URL('/other', url), { method: 'POST', body: '[]', headers: JSON_TYPE })).status, 404);
  assert.equal((await fetch(url, { method: 'GET' })).status, 405);
  assert.equal(cli.child.exitCode, null, 'produce is still running');
  const result = await cli.stop('SIGTERM');
  assert.equal(result.code, 0, result.stderr.slice(-2000));
});
