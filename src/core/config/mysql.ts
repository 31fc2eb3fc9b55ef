import { readFileSync } from 'node:fs';
import { registerSecret } from '../redact';

/**
 * The MySQL settings: FINPIPE_MYSQL_URL (mysql://user:password@host:port/database with
 * optional `?ssl-mode=...&ssl-ca=...`, as MySQL's own URIs spell them), the password from a
 * file (FINPIPE_MYSQL_PASSWORD_FILE) and the TLS settings (FINPIPE_MYSQL_SSL_MODE / _SSL_CA).
 */

export const MYSQL_SSL_MODES = ['DISABLED', 'REQUIRED', 'VERIFY_CA', 'VERIFY_IDENTITY'] as const;
export type MysqlSslMode = (typeof MYSQL_SSL_MODES)[number];

/** The URL options finpipe understands; any other is refused rather than silently ignored. */
export const MYSQL_URL_OPTIONS = ['ssl-mode', 'ssl-ca'] as const;

export interface MysqlTls {
  /** REQUIRED encrypts without verifying; VERIFY_CA checks the chain; VERIFY_IDENTITY also the host name. */
  mode: Exclude<MysqlSslMode, 'DISABLED'>;
  /** PEM text of the CA file (read once, here, so an unreadable file is a configuration error). */
  ca?: string;
  caFile?: string;
}

export interface MysqlConfig {
  url: string;
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
  /** Absent: plain TCP (ssl-mode DISABLED, the default). */
  tls?: MysqlTls;
}

export interface MysqlInputs {
  url: string;
  passwordFile?: string;
  sslMode?: string;
  sslCa?: string;
}

/** Reads a secret from a file: one line, a trailing newline ignored (as `echo secret > file` writes it). */
export function readSecretFile(file: string, what: string, fail: (message: string) => void): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    fail(`cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'}); it must be a readable file holding the ${what}`);
    return undefined;
  }
  const value = text.replace(/\r?\n$/, '');
  if (!value || /[\r\n]/.test(value)) {
    fail(`${file} must hold the ${what} on one line`);
    return undefined;
  }
  registerSecret(value);
  return value;
}

/** `fail(path, message)` records a problem with the setting at `path` (mysql.url, mysql.sslMode...). */
export function parseMysqlConfig(inputs: MysqlInputs, fail: (path: string, message: string) => void): MysqlConfig {
  const { url } = inputs;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    fail('mysql.url', 'is not a URL; expected mysql://user:password@host:port/database');
    return { url, host: '', port: 3306, user: '', database: '' };
  }
  const urlFail = (m: string) => fail('mysql.url', m);
  if (parsed.protocol !== 'mysql:' && parsed.protocol !== 'mariadb:') urlFail(`scheme must be mysql://, not ${parsed.protocol}//`);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!database) urlFail('names no database; add /finpipe (or another name) after the host');
  else if (!/^[A-Za-z0-9_$]{1,64}$/.test(database)) urlFail(`database "${database}" must match [A-Za-z0-9_$]{1,64}`);
  let password = parsed.password ? decodeURIComponent(parsed.password) : undefined;
  registerSecret(password);
  if (inputs.passwordFile) {
    if (password !== undefined) fail('mysql.passwordFile', 'is set, but FINPIPE_MYSQL_URL has a password too; give it once');
    password = readSecretFile(inputs.passwordFile, 'MySQL password', (m) => fail('mysql.passwordFile', m));
  }
  return {
    url,
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 3306,
    user: decodeURIComponent(parsed.username || 'root'),
    password,
    database,
    tls: parseTls(parsed.searchParams, inputs, fail),
  };
}

function parseTls(query: URLSearchParams, inputs: MysqlInputs, fail: (path: string, message: string) => void): MysqlTls | undefined {
  for (const key of new Set(query.keys())) {
    if (!(MYSQL_URL_OPTIONS as readonly string[]).includes(key)) {
      fail('mysql.url', `unknown option "${key}"; the known options are ${MYSQL_URL_OPTIONS.join(', ')}`);
    }
  }
  // Given both in the URL and as a setting, the two must agree: neither silently wins.
  const pick = (option: string, path: string, setting: string | undefined): string | undefined => {
    const inUrl = query.get(option) ?? undefined;
    if (inUrl !== undefined && setting && inUrl.toUpperCase() !== setting.toUpperCase()) {
      fail(path, `"${setting}" differs from the URL's ${option}=${inUrl}; give it once`);
    }
    return inUrl ?? setting;
  };
  const modeText = (pick('ssl-mode', 'mysql.sslMode', inputs.sslMode) ?? 'DISABLED').toUpperCase();
  const caFile = pick('ssl-ca', 'mysql.sslCa', inputs.sslCa) || undefined;
  if (!(MYSQL_SSL_MODES as readonly string[]).includes(modeText)) {
    fail('mysql.sslMode', `"${modeText}" is not one of ${MYSQL_SSL_MODES.join(', ')}`);
    return undefined;
  }
  const mode = modeText as MysqlSslMode;
  if (mode === 'DISABLED') {
    if (caFile) fail('mysql.sslCa', 'is set, but ssl-mode is DISABLED; set ssl-mode VERIFY_CA or VERIFY_IDENTITY to use it');
    return undefined;
  }
  let ca: string | undefined;
  if (caFile) {
    try {
      ca = readFileSync(caFile, 'utf8');
    } catch (error) {
      fail('mysql.sslCa', `cannot read ${caFile} (${(error as NodeJS.ErrnoException).code ?? 'error'}); point it at a readable PEM file`);
    }
  }
  return { mode, ca, caFile };
}
