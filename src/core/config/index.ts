import { FinpipeError } from '../errors';
import { registerSecret } from '../redact';
import { SETTINGS, LOG_LEVELS, type LogFormat, type SettingSpec } from './settings';
import { readDotenv } from './dotenv';
import { topicNameProblem } from '../symbols';
import { LIMITS } from '../limits';
import type { LevelWithSilent } from 'pino';

export { SETTINGS } from './settings';

export interface KafkaConfig {
  brokers: string[];
  clientId: string;
  ssl: boolean;
  sslCaFile?: string;
  sslRejectUnauthorized: boolean;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
}

export interface MysqlConfig {
  url: string;
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
}

export interface Config {
  kafka: KafkaConfig;
  mysql: MysqlConfig;
  finnhub: { token?: string; wsUrl: string; restUrl: string };
  topics: { raw: string; deadLetter: string; late: string };
  limits: { maxFutureMs: number };
  log: { level: LevelWithSilent; format: LogFormat };
}

export interface LoadOptions {
  /** Values from command-line flags, keyed by setting path (`kafka.brokers`); undefined = not given. */
  flags?: Record<string, string | undefined>;
  env?: NodeJS.ProcessEnv;
  /** Path of the .env file; required to exist only when given explicitly. */
  envFile?: string;
}

/**
 * Precedence: flags > environment > .env file > defaults. Every problem is collected and
 * reported at once, path first (`kafka.brokers: ...`), as one CONFIG_INVALID error.
 */
export function loadConfig(options: LoadOptions = {}): Config {
  const settings = readSettings(options);
  const kafka = kafkaSettings(settings);
  const mysql = parseMysqlUrl(settings.get('mysql.url') ?? '', (m) => settings.fail('mysql.url', m));
  const finnhub = finnhubSettings(settings);
  const topics = topicSettings(settings);
  const limits = limitSettings(settings);
  const log = logSettings(settings);
  if (settings.problems.length > 0) {
    throw new FinpipeError('CONFIG_INVALID', `invalid configuration:\n  ${settings.problems.join('\n  ')}`, {
      hint: 'fix the values above (flags, environment or .env); see .env.example for every setting',
    });
  }
  return { kafka, mysql, finnhub, topics, limits, log };
}

/** Every setting's raw value with where it came from, and the problems found so far. */
interface SettingValues {
  get: (path: string) => string | undefined;
  /** Records a problem with the setting, naming where its value came from. */
  fail: (path: string, message: string) => void;
  bool: (path: string) => boolean;
  problems: string[];
}

function readSettings(options: LoadOptions): SettingValues {
  const env = options.env ?? process.env;
  const envFile = options.envFile ?? env.FINPIPE_ENV_FILE;
  const dotenv = readDotenv(envFile ?? '.env', envFile !== undefined);
  const problems = [...dotenv.problems];
  const raw = (spec: SettingSpec): { value?: string; source: string } => {
    const flag = options.flags?.[spec.path];
    if (flag !== undefined) return { value: flag, source: 'flag' };
    if (env[spec.env] !== undefined && env[spec.env] !== '') return { value: env[spec.env], source: spec.env };
    if (dotenv.values[spec.env] !== undefined && dotenv.values[spec.env] !== '') {
      return { value: dotenv.values[spec.env], source: `${envFile ?? '.env'}:${spec.env}` };
    }
    return { value: spec.default, source: 'default' };
  };
  const values = new Map<string, { value?: string; source: string }>();
  for (const spec of SETTINGS) {
    const v = raw(spec);
    values.set(spec.path, v);
    if (spec.secret) registerSecret(v.value);
  }
  const get = (path: string) => values.get(path)?.value;
  const fail = (path: string, message: string) => problems.push(`${path}: ${message} (from ${values.get(path)?.source ?? 'flag'})`);
  const bool = (path: string): boolean => {
    const v = (get(path) ?? '').toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(v)) return true;
    if (['false', '0', 'no', 'off', ''].includes(v)) return false;
    fail(path, `"${get(path)}" is not a boolean; use true or false`);
    return false;
  };
  return { get, fail, bool, problems };
}

function kafkaSettings({ get, fail, bool }: SettingValues): KafkaConfig {
  const brokers = (get('kafka.brokers') ?? '')
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  if (brokers.length === 0) fail('kafka.brokers', 'must not be empty; give host:port[,host:port...]');
  for (const broker of brokers) {
    const m = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5})$/.exec(broker);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) fail('kafka.brokers', `"${broker}" is not host:port`);
  }
  const sslCaFile = get('kafka.sslCaFile') || undefined;
  const kafka: KafkaConfig = {
    brokers,
    clientId: get('kafka.clientId') || 'finpipe',
    ssl: bool('kafka.ssl') || sslCaFile !== undefined,
    sslCaFile,
    sslRejectUnauthorized: bool('kafka.sslRejectUnauthorized'),
  };
  const mechanism = (get('kafka.saslMechanism') ?? '').toLowerCase();
  if (mechanism) {
    if (mechanism !== 'plain' && mechanism !== 'scram-sha-256' && mechanism !== 'scram-sha-512') {
      fail('kafka.saslMechanism', `"${mechanism}" is not supported; use plain, scram-sha-256 or scram-sha-512`);
    }
    const username = get('kafka.saslUsername');
    const password = get('kafka.saslPassword');
    if (!username) fail('kafka.saslUsername', 'is required when FINPIPE_KAFKA_SASL_MECHANISM is set');
    if (!password) fail('kafka.saslPassword', 'is required when FINPIPE_KAFKA_SASL_MECHANISM is set');
    kafka.sasl = { mechanism: mechanism as 'plain', username: username ?? '', password: password ?? '' };
  }
  return kafka;
}

function finnhubSettings({ get, fail }: SettingValues): Config['finnhub'] {
  const wsUrl = get('finnhub.wsUrl') ?? '';
  if (!/^wss?:\/\/[^\s/]+/.test(wsUrl)) fail('finnhub.wsUrl', 'must be a ws:// or wss:// URL');
  const restUrl = get('finnhub.restUrl') ?? '';
  if (!/^https?:\/\/[^\s/]+/.test(restUrl)) fail('finnhub.restUrl', 'must be an http:// or https:// URL');
  return { token: get('finnhub.token') || undefined, wsUrl, restUrl: restUrl.replace(/\/+$/, '') };
}

function topicSettings({ get, fail }: SettingValues): Config['topics'] {
  const topics = { raw: get('topics.raw') ?? '', deadLetter: get('topics.deadLetter') ?? '', late: get('topics.late') ?? '' };
  for (const [key, name] of Object.entries(topics)) {
    const problem = topicNameProblem(name);
    if (problem) fail(`topics.${key}`, problem);
  }
  return topics;
}

function limitSettings({ get, fail }: SettingValues): Config['limits'] {
  const value = get('limits.maxFuture') ?? '';
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value.trim());
  if (!m) fail('limits.maxFuture', `"${value}" is not a duration; use e.g. 30s, 1m or 500ms`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m?.[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h'];
  return { maxFutureMs: m ? Math.round(Number(m[1]) * unit) : LIMITS.maxFutureMs };
}

function logSettings({ get, fail }: SettingValues): Config['log'] {
  const level = (get('log.level') ?? 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) fail('log.level', `"${level}" is not one of ${LOG_LEVELS.join(', ')}`);
  const format = (get('log.format') ?? 'auto').toLowerCase();
  if (!['auto', 'json', 'pretty'].includes(format)) fail('log.format', `"${format}" is not one of auto, json, pretty`);
  return { level: level as LevelWithSilent, format: format as LogFormat };
}

function parseMysqlUrl(url: string, fail: (message: string) => void): MysqlConfig {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    fail('is not a URL; expected mysql://user:password@host:port/database');
    return { url, host: '', port: 3306, user: '', database: '' };
  }
  if (parsed.protocol !== 'mysql:' && parsed.protocol !== 'mariadb:') fail(`scheme must be mysql://, not ${parsed.protocol}//`);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!database) fail('names no database; add /finpipe (or another name) after the host');
  else if (!/^[A-Za-z0-9_$]{1,64}$/.test(database)) fail(`database "${database}" must match [A-Za-z0-9_$]{1,64}`);
  const password = parsed.password ? decodeURIComponent(parsed.password) : undefined;
  registerSecret(password);
  return {
    url,
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 3306,
    user: decodeURIComponent(parsed.username || 'root'),
    password,
    database,
  };
}
