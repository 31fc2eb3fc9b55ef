import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, type LoadOptions } from '../../../src/core/config';
import { FinpipeError } from '../../../src/core/errors';
import { redactText } from '../../../src/core/redact';
import { mysqlSslOptions } from '../../../src/core/stores/mysql/connection';

function file(name: string, text: string): string {
  const p = path.join(mkdtempSync(path.join(tmpdir(), 'finpipe-secret-')), name);
  writeFileSync(p, text);
  return p;
}

function load(env: Record<string, string>, more: Omit<LoadOptions, 'env' | 'envFile'> = {}) {
  return loadConfig({ envFile: '/dev/null', env, ...more });
}

function configError(env: Record<string, string>): string {
  try {
    load(env);
  } catch (error) {
    assert.ok(error instanceof FinpipeError && error.code === 'CONFIG_INVALID', String(error));
    return error.message;
  }
  assert.fail('expected a configuration error');
}

test('MySQL URL options: ssl-mode and ssl-ca become the TLS setting', () => {
  const ca = file('ca.pem', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  const c = load({ FINPIPE_MYSQL_URL: `mysql://app@db.example:3306/market?ssl-mode=verify_ca&ssl-ca=${encodeURIComponent(ca)}` });
  assert.equal(c.mysql.database, 'market');
  assert.deepEqual(c.mysql.tls, { mode: 'VERIFY_CA', ca: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', caFile: ca });
  assert.equal(load({ FINPIPE_MYSQL_URL: 'mysql://app@db/market?ssl-mode=REQUIRED' }).mysql.tls?.mode, 'REQUIRED');
  assert.equal(load({ FINPIPE_MYSQL_URL: 'mysql://app@db/market?ssl-mode=DISABLED' }).mysql.tls, undefined);
  assert.equal(load({}).mysql.tls, undefined, 'no TLS unless asked for, as before');
});

test('FINPIPE_MYSQL_SSL_MODE / FINPIPE_MYSQL_SSL_CA are the same setting without the URL', () => {
  const ca = file('ca.pem', 'PEM');
  const c = load({ FINPIPE_MYSQL_SSL_MODE: 'verify_identity', FINPIPE_MYSQL_SSL_CA: ca });
  assert.deepEqual(c.mysql.tls, { mode: 'VERIFY_IDENTITY', ca: 'PEM', caFile: ca });
});

test('unknown MySQL URL options, bad modes, unreadable CAs and contradictions are refused, naming what is known', () => {
  assert.match(
    configError({ FINPIPE_MYSQL_URL: 'mysql://root@h/db?sslmode=require' }),
    /mysql\.url: unknown option "sslmode"; the known options are ssl-mode, ssl-ca/,
  );
  assert.match(
    configError({ FINPIPE_MYSQL_URL: 'mysql://root@h/db?ssl-mode=PREFERRED' }),
    /mysql\.sslMode: "PREFERRED" is not one of DISABLED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY/,
  );
  assert.match(
    configError({ FINPIPE_MYSQL_URL: 'mysql://root@h/db?ssl-mode=VERIFY_CA&ssl-ca=/nonexistent/ca.pem' }),
    /mysql\.sslCa: cannot read \/nonexistent\/ca\.pem \(ENOENT\)/,
  );
  assert.match(
    configError({ FINPIPE_MYSQL_URL: 'mysql://root@h/db?ssl-mode=REQUIRED', FINPIPE_MYSQL_SSL_MODE: 'VERIFY_IDENTITY' }),
    /mysql\.sslMode: "VERIFY_IDENTITY" differs from the URL's ssl-mode=REQUIRED; give it once/,
  );
  assert.match(configError({ FINPIPE_MYSQL_SSL_CA: '/x.pem' }), /mysql\.sslCa: is set, but ssl-mode is DISABLED/);
});

test('mysql2 gets the TLS options each ssl-mode means', () => {
  assert.equal(mysqlSslOptions(undefined), undefined);
  assert.deepEqual(mysqlSslOptions({ mode: 'REQUIRED' }), { rejectUnauthorized: false });
  assert.deepEqual(mysqlSslOptions({ mode: 'VERIFY_CA', ca: 'PEM' }), { ca: 'PEM', rejectUnauthorized: true, verifyIdentity: false });
  assert.deepEqual(mysqlSslOptions({ mode: 'VERIFY_IDENTITY' }), { rejectUnauthorized: true, verifyIdentity: true });
});

test('FINPIPE_MYSQL_PASSWORD_FILE: the password comes from the file (newline dropped) and is redacted', () => {
  const secret = file('mysql-password', 'file-pass-7431\n');
  const c = load({ FINPIPE_MYSQL_URL: 'mysql://app@db/market', FINPIPE_MYSQL_PASSWORD_FILE: secret });
  assert.equal(c.mysql.password, 'file-pass-7431');
  assert.equal(c.mysql.user, 'app');
  assert.equal(redactText('login with file-pass-7431 failed'), 'login with *** failed');
  assert.match(
    configError({ FINPIPE_MYSQL_PASSWORD_FILE: '/nonexistent/pw' }),
    /mysql\.passwordFile: cannot read \/nonexistent\/pw \(ENOENT\)/,
  );
  assert.match(
    configError({ FINPIPE_MYSQL_URL: 'mysql://app:inline-pass@db/market', FINPIPE_MYSQL_PASSWORD_FILE: secret }),
    /mysql\.passwordFile: is set, but FINPIPE_MYSQL_URL has a password too; give it once/,
  );
  assert.match(configError({ FINPIPE_MYSQL_PASSWORD_FILE: file('two-lines', 'a\nb\n') }), /must hold the MySQL password on one line/);
});

test('FINNHUB_TOKEN_FILE: the token comes from the file and is redacted; not together with FINNHUB_TOKEN', () => {
  const tokenFile = file('finnhub-token', 'tok-from-file-9911\r\n');
  assert.equal(load({ FINNHUB_TOKEN_FILE: tokenFile }).finnhub.token, 'tok-from-file-9911');
  assert.equal(redactText('token tok-from-file-9911'), 'token ***');
  assert.match(
    configError({ FINNHUB_TOKEN_FILE: tokenFile, FINNHUB_TOKEN: 'other-token' }),
    /finnhub\.tokenFile: is set, but FINNHUB_TOKEN is set too/,
  );
  assert.match(configError({ FINNHUB_TOKEN_FILE: file('empty', '') }), /finnhub\.tokenFile: .* must hold the Finnhub token on one line/);
});

test('a secret given on the command line is a warning naming the safer form, without the secret', () => {
  const warnings: string[] = [];
  const onWarning = (m: string) => warnings.push(m);
  load({}, { flags: { 'mysql.url': 'mysql://app:flag-pass-5521@db/market' }, onWarning });
  load({}, { flags: { 'finnhub.wsUrl': 'ws://127.0.0.1:8765/?token=flag-token-3381' }, onWarning });
  assert.equal(warnings.length, 2, warnings.join('\n'));
  assert.match(warnings[0], /mysql\.url was given on the command line with a password/);
  assert.match(warnings[0], /process list \(ps\); use FINPIPE_MYSQL_URL .* FINPIPE_MYSQL_PASSWORD_FILE instead/);
  assert.match(warnings[1], /finnhub\.wsUrl was given on the command line with a token= parameter.*FINNHUB_TOKEN or FINNHUB_TOKEN_FILE/);
  assert.ok(!warnings.join('\n').includes('flag-pass-5521') && !warnings.join('\n').includes('flag-token-3381'));

  // The same values from the environment, or a flag without a secret: no warning.
  load({ FINPIPE_MYSQL_URL: 'mysql://app:env-pass-1234@db/market' }, { onWarning });
  load({}, { flags: { 'mysql.url': 'mysql://app@db/market', 'finnhub.wsUrl': 'ws://127.0.0.1:8765' }, onWarning });
  assert.equal(warnings.length, 2, warnings.join('\n'));
});
