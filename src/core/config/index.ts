import { FinpipeError } from '../errors';
import { redactText, registerSecret } from '../redact';
import { SETTINGS, LOG_LEVELS, type LogFormat, type SettingSpec } from './settings';
import { readDotenv } from './dotenv';
import { parseMysqlConfig, readSecretFile, type MysqlConfig } from './mysql';
import { parseSchemaRegistryConfig, type SchemaRegistryConfig } from './schema-registry';
import { parseCassandraConfig, type CassandraConfig } from './cassandra';
import { topicNameProblem } from '../symbols';
import { LIMITS } from '../limits';
import type { LevelWithSilent } from 'pino';
import type { ClientSettings } from '../kafka/client-settings';

export { SETTINGS } from './settings';
export type { MysqlConfig, MysqlTls, MysqlSslMode } from './mysql';
export type { SchemaRegistryConfig } from './schema-registry';
export type { CassandraConfig, CassandraConsistency } from './cassandra';

export interface KafkaConfig {
  brokers: string[];
  clientId: string;
  ssl: boolean;
  sslCaFile?: string;
  sslRejectUnauthorized: boolean;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
  /** `-X key=value` settings (kafka/client-settings.ts); applied by createKafka. */
  clientSettings?: ClientSettings;
}

export interface Config {
  kafka: KafkaConfig;
  mysql: MysqlConfig;
  /** The store `finpipe sink` writes and `status`/`demo` read: a name registered in src/core/stores/index.ts. */
  store: string;
  cassandra: CassandraConfig;
  finnhub: { token?: string; wsUrl: string; restUrl: string };
  topics: { raw: string; deadLetter: string; late: string };
  limits: { maxFutureMs: number };
  /** The metrics server (--metrics-port); port null = off. */
  metrics: { port: number | null; host: string };
  log: { level: LevelWithSilent; format: LogFormat };
  /** null: no registry, plain Avro as before. */
  schemaRegistry: SchemaRegistryConfig | null;
}

export interface LoadOptions {
  /** Values from command-line flags, keyed by setting path (`kafka.brokers`); undefined = not given. */
  flags?: Record<string, string | undefined>;
  env?: NodeJS.ProcessEnv;
  /** Path of the .env file; required to exist only when given explicitly. */
  envFile?: string;
  /** Where warnings go (a secret given on the command line); default: one line on stderr. */
  onWarning?: (message: string) => void;
}

/**
 * Precedence: flags > environment > .env file > defaults. Every problem is collected and
 * reported at once, path first (`kafka.brokers: ...`), as one CONFIG_INVALID error.
 */
export function loadConfig(options: LoadOptions = {}): Config {
  const settings = readSettings(options);
  const kafka = kafkaSettings(settings);
  const mysql = parseMysqlConfig(
    {
      url: settings.get('mysql.url') ?? '',
      passwordFile: settings.get('mysql.passwordFile') || undefined,
      sslMode: settings.get('mysql.sslMode') || undefined,
      sslCa: settings.get('mysql.sslCa') || undefined,
    },
    settings.fail,
  );
  const store = (settings.get('store.name') || 'mysql').toLowerCase();
  const cassandra = parseCassandraConfig(
    {
      contactPoints: settings.get('cassandra.contactPoints') ?? '',
      keyspace: settings.get('cassandra.keyspace') ?? '',
      localDatacenter: settings.get('cassandra.localDatacenter') ?? '',
      replication: settings.get('cassandra.replication') ?? '',
      consistency: settings.get('cassandra.consistency') ?? '',
      username: settings.get('cassandra.username') || undefined,
      password: settings.get('cassandra.password') || undefined,
      passwordFile: settings.get('cassandra.passwordFile') || undefined,
      tls: settings.bool('cassandra.tls'),
      tlsCaFile: settings.get('cassandra.tlsCaFile') || undefined,
      tlsRejectUnauthorized: settings.bool('cassandra.tlsRejectUnauthorized'),
    },
    settings.fail,
  );
  const finnhub = finnhubSettings(settings);
  const topics = topicSettings(settings);
  const limits = limitSettings(settings);
  const metrics = metricsSettings(settings);
  const log = logSettings(settings);
  const schemaRegistry = parseSchemaRegistryConfig(settings.get, settings.fail);
  if (settings.problems.length > 0) {
    throw new FinpipeError('CONFIG_INVALID', `invalid configuration:\n  ${settings.problems.join('\n  ')}`, {
      hint: 'fix the values above (flags, environment or .env); `finpipe --help` lists every setting',
    });
  }
  const warn = options.onWarning ?? ((m: string) => process.stderr.write(redactText(`finpipe: warning: ${m}\n`)));
  settings.flagSecrets.forEach(warn);
  return { kafka, mysql, store, cassandra, finnhub, topics, limits, metrics, log, schemaRegistry };
}

/** Every setting's raw value with where it came from, and the problems found so far. */
interface SettingValues {
  get: (path: string) => string | undefined;
  /** Records a problem with the setting, naming where its value came from. */
  fail: (path: string, message: string) => void;
  bool: (path: string) => boolean;
  problems: string[];
  /** Warnings for secrets given as command-line flags, where every user of the machine sees them (`ps`). */
  flagSecrets: string[];
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
  const flagSecrets: string[] = [];
  for (const spec of SETTINGS) {
    const v = raw(spec);
    values.set(spec.path, v);
    if (spec.secret) registerSecret(v.value);
    const secret = v.source === 'flag' ? secretIn(v.value ?? '') : undefined;
    if (secret) flagSecrets.push(`${spec.path} was given on the command line with a ${secret}, which ${secretAdvice(spec)}`);
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
  return { get, fail, bool, problems, flagSecrets };
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

/** What kind of credential a value carries, if any: a URL password or a token query parameter. */
function secretIn(value: string): string | undefined {
  try {
    const url = new URL(value);
    if (url.password) return 'password';
    for (const key of url.searchParams.keys()) if (/^(?:token|api_?key|password|secret)$/i.test(key)) return `${key}= parameter`;
  } catch {
    // not a URL: nothing to look for
  }
  return undefined;
}

const SAFER_FORMS: Record<string, string> = {
  'mysql.url': 'FINPIPE_MYSQL_URL (environment or .env), with the password in FINPIPE_MYSQL_PASSWORD_FILE',
  'finnhub.wsUrl': 'FINNHUB_TOKEN or FINNHUB_TOKEN_FILE, and the URL without the token',
};

function secretAdvice(spec: SettingSpec): string {
  return `every user of this machine can read in the process list (ps); use ${SAFER_FORMS[spec.path] ?? `${spec.env} (environment or .env)`} instead`;
}

function finnhubSettings({ get, fail }: SettingValues): Config['finnhub'] {
  const wsUrl = get('finnhub.wsUrl') ?? '';
  if (!/^wss?:\/\/[^\s/]+/.test(wsUrl)) fail('finnhub.wsUrl', 'must be a ws:// or wss:// URL');
  const restUrl = get('finnhub.restUrl') ?? '';
  if (!/^https?:\/\/[^\s/]+/.test(restUrl)) fail('finnhub.restUrl', 'must be an http:// or https:// URL');
  let token = get('finnhub.token') || undefined;
  const tokenFile = get('finnhub.tokenFile');
  if (tokenFile) {
    if (token) fail('finnhub.tokenFile', 'is set, but FINNHUB_TOKEN is set too; give the token once');
    token = readSecretFile(tokenFile, 'Finnhub token', (m) => fail('finnhub.tokenFile', m));
  }
  return { token, wsUrl, restUrl: restUrl.replace(/\/+$/, '') };
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

function metricsSettings({ get, fail }: SettingValues): Config['metrics'] {
  const value = (get('metrics.port') ?? '').trim();
  const port = value === '' ? null : Number(value);
  if (port !== null && (!Number.isInteger(port) || port < 0 || port > 65535))
    fail('metrics.port', `"${value}" is not a port; use 0 to 65535 (0 = any free port), or leave it empty for no metrics server`);
  const host = (get('metrics.host') ?? '').trim() || '127.0.0.1';
  return { port: port !== null && Number.isInteger(port) ? port : null, host };
}
