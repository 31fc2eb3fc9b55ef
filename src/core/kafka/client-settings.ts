import type { ConsumerConfig, KafkaConfig as KafkaJsConfig, RetryOptions } from 'kafkajs';
import { FinpipeError } from '../errors';

/**
 * `-X key=value`: Kafka client settings the flags do not cover, in the Java client's (and
 * librdkafka's, kcat's, rpk's) names, mapped onto kafkajs. The list is closed: kafkajs has
 * no equivalent for most Java settings, and silently ignoring one a user typed would be
 * worse than refusing it.
 *
 * Client-wide settings apply to every connection (admin, producers, consumers); consumer
 * settings to every consumer finpipe creates (process, sink, dashboard, consume), on top of
 * the values the stage chose itself (including flags such as --session-timeout).
 * Producer settings are deliberately absent: the transactional producers' timeouts are
 * part of process's exactly-once design.
 */
export interface ClientSettings {
  clientId?: string;
  client: Pick<KafkaJsConfig, 'requestTimeout' | 'connectionTimeout' | 'authenticationTimeout'>;
  retry: Pick<RetryOptions, 'retries' | 'initialRetryTime' | 'maxRetryTime'>;
  consumer: Pick<
    ConsumerConfig,
    | 'sessionTimeout'
    | 'heartbeatInterval'
    | 'rebalanceTimeout'
    | 'minBytes'
    | 'maxBytes'
    | 'maxBytesPerPartition'
    | 'maxWaitTimeInMs'
    | 'metadataMaxAge'
  >;
}

interface SettingSpec {
  /** What the value means, for the error listing and the README. */
  doc: string;
  parse(value: string): string | number;
  apply(settings: ClientSettings, value: string | number): void;
}

const DAY_MS = 86_400_000;

function integer(min: number, max: number, unit: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max)
      throw new Error(`must be a whole number of ${unit} from ${min} to ${max}`);
    return n;
  };
}

const ms = (min: number, max: number) => integer(min, max, 'milliseconds');
const bytes = (min: number, max: number) => integer(min, max, 'bytes');

/** The supported keys, in the order they are listed to a user. */
export const CLIENT_SETTINGS: Record<string, SettingSpec> = {
  'client.id': {
    doc: 'client id prefix (the stage is appended, e.g. <id>-consume); overrides FINPIPE_KAFKA_CLIENT_ID',
    parse(value) {
      if (!/^[A-Za-z0-9._-]{1,200}$/.test(value)) throw new Error('must be 1-200 letters, digits, ".", "_" or "-"');
      return value;
    },
    apply: (s, v) => (s.clientId = String(v)),
  },
  'request.timeout.ms': {
    doc: 'how long to wait for a broker to answer a request',
    parse: ms(100, DAY_MS),
    apply: (s, v) => (s.client.requestTimeout = +v),
  },
  'socket.connection.setup.timeout.ms': {
    doc: 'how long to wait for a TCP (and TLS) connection to a broker',
    parse: ms(100, 600_000),
    apply: (s, v) => (s.client.connectionTimeout = +v),
  },
  'sasl.authentication.timeout.ms': {
    doc: 'how long to wait for SASL authentication',
    parse: ms(100, 600_000),
    apply: (s, v) => (s.client.authenticationTimeout = +v),
  },
  retries: { doc: 'how often a failed request is retried', parse: integer(0, 100, 'retries'), apply: (s, v) => (s.retry.retries = +v) },
  'retry.backoff.ms': { doc: 'the first wait before a retry', parse: ms(1, 600_000), apply: (s, v) => (s.retry.initialRetryTime = +v) },
  'retry.backoff.max.ms': {
    doc: 'the longest wait between retries',
    parse: ms(1, 3_600_000),
    apply: (s, v) => (s.retry.maxRetryTime = +v),
  },
  'session.timeout.ms': {
    doc: 'consumers: how soon the group notices a dead member (the broker allows 6000-1800000 by default)',
    parse: ms(1_000, 3_600_000),
    apply: (s, v) => (s.consumer.sessionTimeout = +v),
  },
  'heartbeat.interval.ms': {
    doc: 'consumers: heartbeat interval; must be below session.timeout.ms',
    parse: ms(100, 3_600_000),
    apply: (s, v) => (s.consumer.heartbeatInterval = +v),
  },
  'max.poll.interval.ms': {
    doc: 'consumers: the rebalance timeout (kafkajs rebalanceTimeout; the Java client sends max.poll.interval.ms)',
    parse: ms(1_000, DAY_MS),
    apply: (s, v) => (s.consumer.rebalanceTimeout = +v),
  },
  'fetch.min.bytes': {
    doc: 'consumers: least data a fetch waits for',
    parse: bytes(1, 104_857_600),
    apply: (s, v) => (s.consumer.minBytes = +v),
  },
  'fetch.max.bytes': {
    doc: 'consumers: most data one fetch returns',
    parse: bytes(1_024, 1_073_741_824),
    apply: (s, v) => (s.consumer.maxBytes = +v),
  },
  'max.partition.fetch.bytes': {
    doc: 'consumers: most data one fetch returns per partition',
    parse: bytes(1_024, 1_073_741_824),
    apply: (s, v) => (s.consumer.maxBytesPerPartition = +v),
  },
  'fetch.max.wait.ms': {
    doc: 'consumers: longest a fetch waits for fetch.min.bytes',
    parse: ms(0, 60_000),
    apply: (s, v) => (s.consumer.maxWaitTimeInMs = +v),
  },
  'metadata.max.age.ms': {
    doc: 'consumers: how often topic metadata is refreshed',
    parse: ms(1_000, DAY_MS),
    apply: (s, v) => (s.consumer.metadataMaxAge = +v),
  },
};

export function emptyClientSettings(): ClientSettings {
  return { client: {}, retry: {}, consumer: {} };
}

function supportedKeys(): string {
  return Object.keys(CLIENT_SETTINGS).join(', ');
}

/**
 * `["request.timeout.ms=5000", ...]` -> settings. Every problem is reported at once, as a
 * usage error that lists the supported keys.
 */
export function parseClientSettings(pairs: string[]): ClientSettings {
  const settings = emptyClientSettings();
  const problems: string[] = [];
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = (eq < 0 ? pair : pair.slice(0, eq)).trim();
    const spec = Object.hasOwn(CLIENT_SETTINGS, key) ? CLIENT_SETTINGS[key] : undefined;
    if (eq <= 0) problems.push(`-X "${pair}" is not key=value`);
    else if (!spec) problems.push(`-X ${key}: not a supported setting`);
    else {
      try {
        spec.apply(settings, spec.parse(pair.slice(eq + 1).trim()));
      } catch (error) {
        problems.push(`-X ${key}: "${pair.slice(eq + 1).trim()}" ${(error as Error).message}`);
      }
    }
  }
  const { sessionTimeout, heartbeatInterval } = settings.consumer;
  if (sessionTimeout !== undefined && heartbeatInterval !== undefined && heartbeatInterval >= sessionTimeout)
    problems.push(`-X heartbeat.interval.ms (${heartbeatInterval}) must be below session.timeout.ms (${sessionTimeout})`);
  if (problems.length > 0) {
    throw new FinpipeError('USAGE', `invalid Kafka client setting${problems.length > 1 ? 's' : ''}: ${problems.join('; ')}`, {
      hint: `supported -X keys: ${supportedKeys()} (README: Kafka client settings)`,
    });
  }
  return settings;
}

/**
 * A stage's consumer config with the -X consumer settings on top. A session timeout given
 * alone keeps the stage's heartbeat below it (a heartbeat at or above the session timeout
 * would get the member thrown out of its group).
 */
export function withConsumerSettings<T extends ConsumerConfig>(config: T, settings: ClientSettings | undefined): T {
  if (!settings) return config;
  const merged = { ...config, ...settings.consumer };
  const session = settings.consumer.sessionTimeout;
  if (session !== undefined && settings.consumer.heartbeatInterval === undefined && (merged.heartbeatInterval ?? 3_000) >= session / 3)
    merged.heartbeatInterval = Math.max(100, Math.floor(session / 3));
  return merged;
}
