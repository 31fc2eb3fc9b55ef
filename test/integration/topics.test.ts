import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/cli';
import { admin, deleteTopicsQuietly, uniqueName } from '../helpers/kafka';

test('topics create is idempotent and list --format json shows the partitions', async (t) => {
  const raw = uniqueName('raw');
  t.after(() => deleteTopicsQuietly([raw]));
  const env = { FINPIPE_RAW_TOPIC: raw };

  const first = await runCli(['topics', 'create'], env);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, new RegExp(`created ${raw} \\(6 partitions\\)`));

  const second = await runCli(['topics', 'create'], env);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, new RegExp(`exists\\s+${raw} \\(6 partitions\\)`));

  const list = await runCli(['topics', 'list', '--format', 'json'], env);
  assert.equal(list.code, 0, list.stderr);
  const topics = JSON.parse(list.stdout) as { name: string; partitions: number; replicationFactor: number }[];
  assert.deepEqual(
    topics.find((x) => x.name === raw),
    { name: raw, partitions: 6, replicationFactor: 1 },
  );
  assert.ok(!topics.some((x) => x.name.startsWith('__')), 'internal topics hidden without --all');
});

test('creating an existing topic with another partition count is a clear error', async (t) => {
  const name = uniqueName('conflict');
  t.after(() => deleteTopicsQuietly([name]));
  assert.equal((await runCli(['topics', 'create', name, '--partitions', '2'])).code, 0);
  const again = await runCli(['topics', 'create', name, '--partitions', '3']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, new RegExp(`topic ${name} already exists with 2 partitions, not 3 \\(hint: use --partitions 2`));
});

test('topic configs are applied and shown by describe', async (t) => {
  const name = uniqueName('described');
  t.after(() => deleteTopicsQuietly([name]));
  const created = await runCli([
    'topics',
    'create',
    name,
    '-p',
    '2',
    '--config',
    'retention.ms=3600000',
    '--config',
    'cleanup.policy=compact',
  ]);
  assert.equal(created.code, 0, created.stderr);

  const described = await runCli(['topics', 'describe', name, '--format', 'json']);
  assert.equal(described.code, 0, described.stderr);
  const d = JSON.parse(described.stdout) as {
    partitions: { partition: number; leader: number; replicas: number[] }[];
    configs: { name: string; value: string; isDefault: boolean }[];
  };
  assert.deepEqual(
    d.partitions.map((p) => p.partition),
    [0, 1],
  );
  assert.ok(d.partitions.every((p) => p.replicas.length === 1 && p.leader === p.replicas[0]));
  const config = (key: string) => d.configs.find((c) => c.name === key);
  assert.deepEqual([config('retention.ms')?.value, config('retention.ms')?.isDefault], ['3600000', false]);
  assert.equal(config('cleanup.policy')?.value, 'compact');

  const table = await runCli(['topics', 'describe', name]);
  assert.match(table.stdout, /PARTITION\s+LEADER\s+REPLICAS\s+ISR/);
  assert.match(table.stdout, /retention\.ms\s+3600000\s+topic/);
});

test('delete requires --yes and removes the topic', async (t) => {
  const name = uniqueName('doomed');
  t.after(() => deleteTopicsQuietly([name]));
  assert.equal((await runCli(['topics', 'create', name, '-p', '1'])).code, 0);

  const refused = await runCli(['topics', 'delete', name]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /without --yes/);

  const deleted = await runCli(['topics', 'delete', name, '--yes']);
  assert.equal(deleted.code, 0, deleted.stderr);
  const a = await admin(t);
  assert.ok(!(await a.listTopics()).includes(name));

  const missing = await runCli(['topics', 'describe', name]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /does not exist/);
});

test('bad topic names and bad flags exit 2 with one line, before touching Kafka', async () => {
  // An unreachable broker proves the name is checked first.
  const env = { FINPIPE_KAFKA_BROKERS: '127.0.0.1:1' };
  for (const [args, pattern] of [
    [['topics', 'create', 'bad name'], /topic name "bad name" contains " "/],
    [['topics', 'create', '..'], /reserved/],
    [['topics', 'create', 'x'.repeat(250)], /at most 249/],
    [['topics', 'create', 'ok', '--partitions', '0'], /not a positive integer/],
    [['topics', 'create', 'ok', '--config', 'novalue'], /is not key=value/],
    [['topics', 'list', '--format', 'xml'], /Allowed choices are table, json/],
  ] as const) {
    const r = await runCli([...args], env);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  }
});

test('an invalid configuration lists every problem and exits 2', async () => {
  const r = await runCli(['topics', 'list'], { FINPIPE_KAFKA_BROKERS: 'nope', FINPIPE_LOG_LEVEL: 'loud' });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /kafka\.brokers: "nope" is not host:port/);
  assert.match(r.stderr, /log\.level: "loud"/);
});

test('an unreachable broker is a clear runtime error (exit 1) naming the brokers', async () => {
  const r = await runCli(['topics', 'list'], { FINPIPE_KAFKA_BROKERS: '127.0.0.1:1' }, 90_000);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot reach Kafka at 127\.0\.0\.1:1/);
  assert.match(r.stderr, /services:up/);
});

test('SASL/PLAIN settings reach the broker and the password never appears in output', async (t) => {
  const name = uniqueName('sasl');
  t.after(() => deleteTopicsQuietly([name]));
  const env = {
    FINPIPE_KAFKA_BROKERS: '127.0.0.1:9094',
    FINPIPE_KAFKA_SASL_MECHANISM: 'plain',
    FINPIPE_KAFKA_SASL_USERNAME: 'finpipe',
    FINPIPE_KAFKA_SASL_PASSWORD: 'finpipe-secret',
    FINPIPE_LOG_LEVEL: 'debug',
  };
  const ok = await runCli(['topics', 'create', name, '-p', '1'], env);
  assert.equal(ok.code, 0, ok.stderr);
  assert.ok(!(ok.stdout + ok.stderr).includes('finpipe-secret'));

  const wrong = await runCli(['topics', 'list'], { ...env, FINPIPE_KAFKA_SASL_PASSWORD: 'wrong-password-123' }, 90_000);
  assert.notEqual(wrong.code, 0);
  assert.ok(!(wrong.stdout + wrong.stderr).includes('wrong-password-123'), wrong.stderr);
});

test('--help lists every command with examples; --version prints the version', async () => {
  const help = await runCli(['--help']);
  assert.equal(help.code, 0);
  for (const cmd of ['topics', 'produce', 'process', 'sink']) assert.match(help.stdout, new RegExp(`\\n  ${cmd}\\b`));
  for (const sub of ['create', 'list', 'describe', 'delete']) {
    const r = await runCli(['topics', sub, '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Examples:\n {2}\$ finpipe topics/);
  }
  const version = await runCli(['--version']);
  assert.equal(version.stdout.trim(), (require('../../../package.json') as { version: string }).version);
});
