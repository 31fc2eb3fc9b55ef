import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import avro from 'avsc';
import { loadConfig } from '../../src/core/config';
import { configureLogging } from '../../src/core/log';
import { DLQ_HEADERS } from '../../src/core/kafka/dead-letter';
import { RECORD_TYPE_HEADER, codecs, readSchema, type Trade } from '../../src/core/serde';
import { RegistryClient, valueCodecs } from '../../src/core/serde/registry';
import { Sink } from '../../src/core/sink/sink';
import { symbolToTopic } from '../../src/core/symbols';
import { runCli, startCli } from '../helpers/cli';
import { BROKERS, admin, createTopic, deleteTopicsQuietly, producer, readTopic, uniqueName, waitFor } from '../helpers/kafka';
import { createDatabase } from '../helpers/mysql';
import { makeTrades, readTrades, sortTrades } from './sink-fixtures';

/**
 * Schema Registry framing against the real registry started by `npm run services:up
 * registry` (Apicurio, Confluent API) and the real broker and MariaDB. The registry keeps
 * everything in memory, so every test uses fresh topic names (subjects) and assumes nothing
 * registered before it.
 */
const REGISTRY_URL = process.env.FINPIPE_TEST_SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';
const registryConfig = { url: REGISTRY_URL };

function frameLines(symbols: string[], perSymbol: number, start: number): { lines: string; count: number } {
  const lines: string[] = [];
  for (let i = 0; i < perSymbol; i++) {
    for (const [k, s] of symbols.entries()) {
      const c = i % 3 === 0 ? ['1', '12'] : null;
      lines.push(JSON.stringify({ type: 'trade', data: [{ s, p: 100 + k + i / 8, t: start + i * 37, v: 0.25 + i, c }] }));
    }
  }
  return { lines: `${lines.join('\n')}\n`, count: lines.length };
}

function finpipeEnv(id: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    FINPIPE_RAW_TOPIC: `sr-raw-${id}`,
    FINPIPE_DLQ_TOPIC: `sr-dlq-${id}`,
    FINPIPE_LATE_TOPIC: `sr-late-${id}`,
    FINPIPE_SCHEMA_REGISTRY_URL: REGISTRY_URL,
    ...extra,
  };
}

/** The Apache Avro jars of the natively built registry (docker/services/registry.mjs), for the Java reader. */
function avroClasspath(): string | null {
  const cache = process.env.FINPIPE_CACHE_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'finpipe');
  const home = existsSync(cache) ? readdirSync(cache).find((d) => d.startsWith('apicurio-registry-')) : undefined;
  const lib = home && path.join(cache, home, 'target', 'lib');
  if (!lib || !existsSync(lib)) return null;
  const jars = readdirSync(lib).filter((j) => /^(org\.apache\.avro\.avro-|com\.fasterxml\.jackson\.core\.|org\.slf4j\.slf4j-api)/.test(j));
  return jars.map((j) => path.join(lib, j)).join(':');
}

/** Decodes framed values with the Java reader (test/interop/ConfluentAvroDecode.java); one parsed JSON object per value. */
function decodeWithJava(values: Buffer[], classpath: string): Record<string, unknown>[] {
  const source = path.resolve(__dirname, '../../../test/interop/ConfluentAvroDecode.java');
  const r = spawnSync('java', ['-cp', classpath, source, REGISTRY_URL], {
    input: values.map((v) => v.toString('hex')).join('\n'),
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(r.status, 0, `java reader failed: ${r.stderr}`);
  return r.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

test('framed round trip: produce -> process -> sink with --schema-registry; every value framed; Java reads the same records', async (t: TestContext) => {
  const id = randomUUID().slice(0, 8);
  const tag = id.toUpperCase();
  const symbols = [`SR${tag}:BTC`, `SR${tag}:ETH`];
  const outputs = symbols.map(symbolToTopic);
  const db = await createDatabase(t, 'fp_sr');
  const env = finpipeEnv(id, { FINPIPE_MYSQL_URL: db.url, FINNHUB_TOKEN: 'unused' });
  const group = `sr-process-${id}`;
  t.after(() => deleteTopicsQuietly([env.FINPIPE_RAW_TOPIC, env.FINPIPE_DLQ_TOPIC, env.FINPIPE_LATE_TOPIC, `${group}-state`, ...outputs]));
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'finpipe-sr-')), 'frames.ndjson');
  const { lines, count } = frameLines(symbols, 150, Date.now() - 120_000);
  writeFileSync(file, lines);

  const produced = await runCli(['produce', '--from-file', file], env);
  assert.equal(produced.code, 0, produced.stderr);
  const stages = [
    startCli(t, ['process', '--group', group, '--windows', '1s'], env),
    startCli(t, ['sink', ...outputs, '--group', `sr-sink-${id}`], env),
  ];
  const trades = async () => {
    const [[row]] = await db.connection.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${db.name}\`.trades`);
    return Number(row.n);
  };
  await waitFor(`${count} trades in MySQL`, async () => (await trades().catch(() => 0)) >= count, 90_000, 200).catch((error: Error) => {
    throw new Error(`${error.message}\n${stages.map((s) => s.output().stderr.slice(-2000)).join('\n---\n')}`);
  });

  // Exact rows: what the frames held, as the sink wrote them.
  const rows = await readTrades(db.connection, db.name);
  const expected = lines
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { data: { s: string; p: number; t: number; v: number; c: string[] | null }[] }).data[0]);
  const key = (s: string, t0: number, p: number) => `${s}|${t0}|${p}`;
  assert.deepEqual(
    rows.map((r) => `${key(r.symbol, r.trade_timestamp, r.price)}|${r.volume}|${r.trade_conditions.join(',')}`).sort(),
    expected.map((e) => `${key(e.s, e.t, e.p)}|${e.v}|${(e.c ?? []).join(',')}`).sort(),
  );

  // Every value on the raw and symbol topics is framed; finpipe's reader and Java's agree.
  const raw = await readTopic(env.FINPIPE_RAW_TOPIC, (r) => r.length >= count);
  assert.ok(raw.length >= count && raw.every((r) => r.value![0] === 0), 'raw values start with magic byte 0');
  const out = await readTopic(
    outputs[0],
    (r) =>
      r.filter((x) => x.headers[RECORD_TYPE_HEADER] === 'trade').length >= 150 && r.some((x) => x.headers[RECORD_TYPE_HEADER] === 'candle'),
  );
  assert.ok(
    out.every((r) => r.value![0] === 0),
    'symbol-topic values start with magic byte 0',
  );
  const { reader } = valueCodecs(registryConfig);
  await reader.prepare(out);
  const ours = out.map((r) =>
    reader.decode<Record<string, unknown>>(r.headers[RECORD_TYPE_HEADER] as 'trade', r.value!, r.topic, r.partition),
  );
  const classpath = avroClasspath();
  assert.ok(classpath, 'the natively built registry (npm run services:up registry) provides the Apache Avro jars');
  assert.deepEqual(
    decodeWithJava(
      out.map((r) => r.value!),
      classpath,
    ),
    JSON.parse(JSON.stringify(ours)),
  );
  assert.ok(ours.some((r) => 'is_final' in r) && ours.some((r) => 'trade_conditions' in r), 'both trades and candles were compared');
});

test('evolution, unknown ids and plain-on-framed: old and new Trade schemas both read; the rest dead-lettered with the reason', async (t) => {
  const db = await createDatabase(t, 'fp_sr_evo');
  const topic = await createTopic(t, 'SR_EVO');
  const dlq = await createTopic(t, 'sr-dlq');
  const client = new RegistryClient(registryConfig);
  // The old Trade: no trade_conditions yet. Registered first, as an older finpipe would have.
  const current = readSchema('trade') as { fields: { name: string }[] };
  const oldSchema = { ...current, fields: current.fields.filter((f) => f.name !== 'trade_conditions') } as avro.Schema;
  const oldId = await client.register(`${topic}-finpipe.Trade`, oldSchema);
  const oldType = avro.Type.forSchema(oldSchema);
  const header = (schemaId: number) => {
    const h = Buffer.alloc(5); // magic byte 0, then the id
    h.writeUInt32BE(schemaId, 1);
    return h;
  };
  const frameWith = (schemaId: number, body: Buffer) => Buffer.concat([header(schemaId), body]);
  const all = makeTrades('SR:EVO', 40).map((x, i) => ({ ...x, trade_conditions: i < 20 ? [] : ['7'] }));
  const oldTrades = all.slice(0, 20);
  const newTrades = all.slice(20);
  // The new schema, as today's finpipe registers it: adding a field with a default is compatible.
  const { writer } = valueCodecs(registryConfig);
  await writer.prepare(topic, ['trade', 'candle']);
  const headers = { [RECORD_TYPE_HEADER]: 'trade' };
  const p = await producer(t);
  await p.send({
    topic,
    messages: [
      ...oldTrades.map((x) => ({ key: x.symbol, value: frameWith(oldId, oldType.toBuffer(x)), headers })),
      ...newTrades.map((x) => ({ key: x.symbol, value: writer.encode(topic, 'trade', x), headers })),
      { key: 'SR:EVO', value: Buffer.concat([header(987_654), codecs().trade.encode(newTrades[0])]), headers },
      { key: 'SR:EVO', value: codecs().trade.encode({ ...newTrades[0], id: 'plain-after-framed' }), headers },
    ],
  });

  const config = loadConfig({
    env: {
      FINPIPE_KAFKA_BROKERS: BROKERS.join(','),
      FINPIPE_MYSQL_URL: db.url,
      FINPIPE_DLQ_TOPIC: dlq,
      FINPIPE_SCHEMA_REGISTRY_URL: REGISTRY_URL,
    },
    envFile: '/dev/null',
  });
  const controller = new AbortController();
  const sink = new Sink({
    config,
    logger: configureLogging('silent', 'json'),
    topics: [topic],
    groupId: uniqueName('sr-sink'),
    flushMs: 100,
  });
  const done = sink.run(controller.signal);
  t.after(async () => {
    controller.abort();
    await done.catch(() => {});
  });
  const dead = await readTopic(dlq, (r) => r.length >= 2, 60_000);
  await waitFor('40 trades in MySQL', async () => (await readTrades(db.connection, db.name)).length >= 40, 60_000, 200);
  const rows = sortTrades(await readTrades(db.connection, db.name));
  assert.deepEqual(rows, sortTrades(all as Trade[]), 'old records read with trade_conditions = [] (the default), new ones as written');
  const reasons = dead.map((d) => d.headers[DLQ_HEADERS.reason]);
  assert.equal(dead.length, 2);
  assert.match(reasons[0], /schema id 987654, which the Schema Registry .* does not know/);
  assert.match(reasons[1], /plain Avro value \(no Schema Registry framing\) on .*whose earlier values are framed/);

  // `finpipe consume` with the registry prints the same topic: old and new schemas resolved,
  // the unknown id undecodable with its reason, the plain value (migration) decoded as plain.
  const consumed = await runCli(['consume', topic, '--format', 'json', '--schema-registry', REGISTRY_URL], {
    FINPIPE_KAFKA_BROKERS: BROKERS.join(','),
  });
  assert.equal(consumed.code, 0, consumed.stderr);
  const printed = consumed.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; value: Record<string, unknown> })
    .map(({ type, value }) => ({ type, value }));
  assert.equal(printed.length, all.length + 2);
  assert.deepEqual(
    sortTrades(printed.slice(0, all.length).map((d) => d.value as unknown as Trade)),
    sortTrades(all as Trade[]),
    'consume resolves the old and the new schema like the sink',
  );
  assert.equal(printed[all.length].type, 'undecodable');
  assert.match(String(printed[all.length].value.reason), /schema id 987654.*does not know/);
  assert.deepEqual(printed[all.length + 1], { type: 'trade', value: { ...newTrades[0], id: 'plain-after-framed' } });
});

test('an incompatible schema is refused before anything is written', async (t) => {
  const id = randomUUID().slice(0, 8);
  const env = finpipeEnv(id, { FINNHUB_TOKEN: 'unused' });
  t.after(() => deleteTopicsQuietly([env.FINPIPE_RAW_TOPIC, env.FINPIPE_DLQ_TOPIC]));
  // Someone else's schema under the raw topic's subject, with a required field finpipe does not write.
  const client = new RegistryClient(registryConfig);
  await client.register(`${env.FINPIPE_RAW_TOPIC}-value`, {
    type: 'record',
    name: 'message',
    namespace: 'FinnhubProducer',
    fields: [{ name: 'exchange', type: 'string' }],
  });
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'finpipe-sr-')), 'frames.ndjson');
  writeFileSync(file, frameLines([`SRX${id}:BTC`], 5, Date.now() - 60_000).lines);
  const produced = await runCli(['produce', '--from-file', file], env);
  assert.notEqual(produced.code, 0);
  assert.match(produced.stderr, /not compatible with the latest version of subject sr-raw-[0-9a-f]+-value/);
  assert.match(produced.stderr, /nothing was written/);
  const topics = await (await admin(t)).listTopics();
  assert.ok(!topics.includes(env.FINPIPE_RAW_TOPIC), 'the raw topic was not even created');
});

test('40 new subjects at once: the registrations go one at a time, each sent once; every subject resolves to its schema', async () => {
  // Apicurio refuses some concurrent creations of different new subjects with a spurious 409
  // "already exists", which cost a retry after a backoff each (RegistryClient.register).
  const client = new RegistryClient(registryConfig);
  const subjectApi = (client as unknown as { api: { Subject: { register: (args: unknown) => Promise<unknown> } } }).api.Subject;
  const send = subjectApi.register.bind(subjectApi);
  let calls = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  subjectApi.register = async (args) => {
    calls++;
    maxInFlight = Math.max(maxInFlight, ++inFlight);
    try {
      return await send(args);
    } finally {
      inFlight--;
    }
  };
  const id = randomUUID().slice(0, 8);
  const subjects = Array.from({ length: 20 }, (_, i) => [
    { subject: `sr-many-${id}-${i}-finpipe.Trade`, schema: readSchema('trade') },
    { subject: `sr-many-${id}-${i}-finpipe.Candle`, schema: readSchema('candle') },
  ]).flat();
  const ids = await Promise.all(subjects.map(({ subject, schema }) => client.register(subject, schema)));
  assert.equal(maxInFlight, 1, 'one registration request at a time');
  assert.equal(calls, subjects.length, 'each registration sent once: none refused and repeated');
  for (const [i, { schema }] of subjects.entries()) {
    const type = await client.schema(ids[i]);
    assert.ok(type?.equals(avro.Type.forSchema(schema)), `${subjects[i].subject}: id ${ids[i]} is its schema`);
  }
});

test('topics create --schema-registry registers the raw and late subjects with the compatibility check; none for other topics', async (t) => {
  const id = randomUUID().slice(0, 8);
  const env = finpipeEnv(id);
  const other = `sr-other-${id}`;
  const names = [env.FINPIPE_RAW_TOPIC, env.FINPIPE_LATE_TOPIC, env.FINPIPE_DLQ_TOPIC, other];
  t.after(() => deleteTopicsQuietly(names));
  const { FINPIPE_SCHEMA_REGISTRY_URL: _url, ...noEnvRegistry } = env;
  const created = await runCli(['topics', 'create', ...names, '--partitions', '2', '--schema-registry', REGISTRY_URL], noEnvRegistry);
  assert.equal(created.code, 0, created.stderr);

  const get = async (p: string) => {
    const res = await fetch(`${REGISTRY_URL}${p}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  for (const [topic, schemaFile] of [
    [env.FINPIPE_RAW_TOPIC, 'trades'],
    [env.FINPIPE_LATE_TOPIC, 'trade'],
  ] as const) {
    const latest = await get(`/subjects/${topic}-value/versions/latest`);
    assert.equal(latest.status, 200, `${topic}-value is registered`);
    assert.ok(
      avro.Type.forSchema(JSON.parse(String(latest.body.schema)) as avro.Schema).equals(avro.Type.forSchema(readSchema(schemaFile))),
      `${topic}-value holds finpipe's ${schemaFile}.avsc`,
    );
    assert.match(created.stdout, new RegExp(`schema ${topic}-value \\(id ${String(latest.body.id)}\\)`));
    assert.equal((await get(`/config/${topic}-value`)).body.compatibilityLevel, 'BACKWARD');
  }
  // Asked subject by subject: Apicurio lists at most 1,000 subjects, and a registry that
  // benchmarks have used holds more.
  for (const topic of [env.FINPIPE_DLQ_TOPIC, other]) {
    for (const subject of [`${topic}-value`, `${topic}-finpipe.Trade`, `${topic}-finpipe.Candle`])
      assert.equal((await get(`/subjects/${subject}/versions`)).status, 404, `no subject ${subject}`);
  }
  assert.match(created.stdout, /none registered \(dead letters keep/);
  assert.match(
    created.stdout,
    /none registered \(not the raw or late-trades topic; a per-symbol topic gets its subjects from finpipe process\)/,
  );

  // Again: idempotent, same ids.
  const again = await runCli(['topics', 'create', env.FINPIPE_RAW_TOPIC, '--partitions', '2'], env);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`schema ${env.FINPIPE_RAW_TOPIC}-value \\(id \\d+\\)`));

  // An incompatible schema under a topic's subject: refused, and the topic is not created.
  const late = `sr-late2-${id}`;
  t.after(() => deleteTopicsQuietly([late]));
  await new RegistryClient(registryConfig).register(`${late}-value`, {
    type: 'record',
    name: 'Trade',
    namespace: 'finpipe',
    fields: [{ name: 'venue', type: 'string' }],
  });
  const refused = await runCli(['topics', 'create', late], { ...env, FINPIPE_LATE_TOPIC: late });
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, new RegExp(`not compatible with the latest version of subject ${late}-value`));
  assert.ok(!(await (await admin(t)).listTopics()).includes(late), 'the topic was not created');
});
