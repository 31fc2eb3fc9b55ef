import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../../src/core/config';
import { parseDotenv } from '../../../src/core/config/dotenv';
import { SETTINGS } from '../../../src/core/config/settings';
import { FinpipeError } from '../../../src/core/errors';
import { redactText } from '../../../src/core/redact';

function envFile(text: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'finpipe-cfg-')), '.env');
  writeFileSync(file, text);
  return file;
}

test('defaults apply when nothing is set', () => {
  const c = loadConfig({ env: {}, envFile: '/dev/null' });
  assert.deepEqual(c.kafka.brokers, ['127.0.0.1:9092']);
  assert.equal(c.mysql.url, 'mysql://root@127.0.0.1:3306/finpipe');
  assert.equal(c.mysql.database, 'finpipe');
  assert.equal(c.finnhub.wsUrl, 'wss://ws.finnhub.io');
  assert.equal(c.topics.raw, 'trades');
  assert.equal(c.log.level, 'info');
  assert.equal(c.kafka.sasl, undefined);
  assert.equal(c.kafka.ssl, false);
});

test('precedence is flags > environment > .env file > defaults', () => {
  const file = envFile('FINPIPE_RAW_TOPIC=from-file\nFINPIPE_DLQ_TOPIC=dlq-file\nFINPIPE_LATE_TOPIC=late-file\n');
  const c = loadConfig({
    envFile: file,
    env: { FINPIPE_RAW_TOPIC: 'from-env', FINPIPE_DLQ_TOPIC: 'dlq-env' },
    flags: { 'topics.raw': 'from-flag' },
  });
  assert.equal(c.topics.raw, 'from-flag');
  assert.equal(c.topics.deadLetter, 'dlq-env');
  assert.equal(c.topics.late, 'late-file');
});

test('every problem is reported at once, path first, with its source', () => {
  let error: unknown;
  try {
    loadConfig({
      env: {
        FINPIPE_KAFKA_BROKERS: 'nohost',
        FINPIPE_LOG_LEVEL: 'loud',
        FINPIPE_MYSQL_URL: 'http://x/db',
        FINPIPE_RAW_TOPIC: 'bad topic',
        FINPIPE_KAFKA_SASL_MECHANISM: 'kerberos',
      },
      envFile: '/dev/null',
    });
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof FinpipeError);
  assert.equal(error.code, 'CONFIG_INVALID');
  assert.equal(error.exitCode, 2);
  for (const expected of [
    'kafka.brokers: "nohost" is not host:port (from FINPIPE_KAFKA_BROKERS)',
    'log.level: "loud"',
    'mysql.url: scheme must be mysql://',
    'topics.raw: topic name "bad topic"',
    'kafka.saslMechanism: "kerberos" is not supported',
    'kafka.saslUsername: is required',
    'kafka.saslPassword: is required',
  ]) {
    assert.ok(error.message.includes(expected), `missing "${expected}" in:\n${error.message}`);
  }
});

test('SASL and TLS settings are passed through; the password is registered as a secret', () => {
  const c = loadConfig({
    envFile: '/dev/null',
    env: {
      FINPIPE_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256',
      FINPIPE_KAFKA_SASL_USERNAME: 'alice',
      FINPIPE_KAFKA_SASL_PASSWORD: 's3cret-pass',
      FINPIPE_KAFKA_SSL: 'true',
      FINPIPE_KAFKA_SSL_REJECT_UNAUTHORIZED: 'false',
    },
  });
  assert.deepEqual(c.kafka.sasl, { mechanism: 'scram-sha-256', username: 'alice', password: 's3cret-pass' });
  assert.equal(c.kafka.ssl, true);
  assert.equal(c.kafka.sslRejectUnauthorized, false);
  assert.equal(redactText('login failed for alice with s3cret-pass'), 'login failed for alice with ***');
});

test('the MySQL URL is parsed and its password redacted wherever it appears', () => {
  const c = loadConfig({ envFile: '/dev/null', env: { FINPIPE_MYSQL_URL: 'mysql://app:p%40ss-word@db.example:3307/market' } });
  assert.equal(c.mysql.host, 'db.example');
  assert.equal(c.mysql.port, 3307);
  assert.equal(c.mysql.user, 'app');
  assert.equal(c.mysql.password, 'p@ss-word');
  assert.equal(c.mysql.database, 'market');
  assert.equal(
    redactText('connect mysql://app:p%40ss-word@db.example:3307/market failed'),
    'connect mysql://app:***@db.example:3307/market failed',
  );
  assert.equal(redactText('password was p@ss-word'), 'password was ***');
});

test('an explicitly named .env file must exist', () => {
  assert.throws(() => loadConfig({ env: {}, envFile: '/nonexistent/finpipe.env' }), /env file \/nonexistent\/finpipe.env: cannot read it/);
});

test('parseDotenv understands comments, quotes, export and reports bad lines', () => {
  const { values, problems } = parseDotenv(
    '# comment\nA=1\nexport B="two words"\nC=\'x # y\'\nD=plain # trailing\nnot a pair\nE="line\\nbreak"\n',
    'f.env',
  );
  assert.deepEqual(values, { A: '1', B: 'two words', C: 'x # y', D: 'plain', E: 'line\nbreak' });
  assert.deepEqual(problems, ['f.env:6: expected KEY=VALUE']);
});

test('every setting has a distinct env var and a doc', () => {
  const envs = SETTINGS.map((s) => s.env);
  assert.equal(new Set(envs).size, envs.length);
  for (const s of SETTINGS) assert.ok(s.doc.length > 10, s.env);
});
