/**
 * Every setting finpipe reads, with its environment variable, default and meaning.
 * This table is the single source for loading, validation, `.env.example` and the README.
 */
export interface SettingSpec {
  /** Path in the config object, also used in error messages: `kafka.brokers`. */
  path: string;
  env: string;
  default?: string;
  secret?: boolean;
  doc: string;
}

export const SETTINGS: SettingSpec[] = [
  {
    path: 'kafka.brokers',
    env: 'FINPIPE_KAFKA_BROKERS',
    default: '127.0.0.1:9092',
    doc: 'Comma-separated Kafka bootstrap servers (host:port).',
  },
  {
    path: 'kafka.clientId',
    env: 'FINPIPE_KAFKA_CLIENT_ID',
    default: 'finpipe',
    doc: 'Kafka client id prefix (a stage suffix is appended).',
  },
  { path: 'kafka.ssl', env: 'FINPIPE_KAFKA_SSL', default: 'false', doc: 'Use TLS to reach Kafka (true/false).' },
  {
    path: 'kafka.sslCaFile',
    env: 'FINPIPE_KAFKA_SSL_CA_FILE',
    doc: "PEM file with the CA that signed the brokers' certificates (implies TLS).",
  },
  {
    path: 'kafka.sslRejectUnauthorized',
    env: 'FINPIPE_KAFKA_SSL_REJECT_UNAUTHORIZED',
    default: 'true',
    doc: 'Verify broker certificates (set false only for testing).',
  },
  {
    path: 'kafka.saslMechanism',
    env: 'FINPIPE_KAFKA_SASL_MECHANISM',
    doc: 'SASL mechanism: plain, scram-sha-256 or scram-sha-512 (empty = no SASL).',
  },
  { path: 'kafka.saslUsername', env: 'FINPIPE_KAFKA_SASL_USERNAME', doc: 'SASL user name.' },
  { path: 'kafka.saslPassword', env: 'FINPIPE_KAFKA_SASL_PASSWORD', secret: true, doc: 'SASL password (never logged).' },
  {
    path: 'mysql.url',
    env: 'FINPIPE_MYSQL_URL',
    default: 'mysql://root@127.0.0.1:3306/finpipe',
    secret: true,
    doc: 'MySQL/MariaDB URL mysql://user:password@host:port/database[?ssl-mode=...&ssl-ca=...] (password never logged).',
  },
  {
    path: 'mysql.passwordFile',
    env: 'FINPIPE_MYSQL_PASSWORD_FILE',
    doc: 'File holding the MySQL password (one line), for a URL without one: keeps it out of `ps` and the environment.',
  },
  {
    path: 'mysql.sslMode',
    env: 'FINPIPE_MYSQL_SSL_MODE',
    doc: 'TLS to MySQL: DISABLED (when unset), REQUIRED (encrypted, unverified), VERIFY_CA or VERIFY_IDENTITY (also checks the host name).',
  },
  {
    path: 'mysql.sslCa',
    env: 'FINPIPE_MYSQL_SSL_CA',
    doc: "PEM file with the CA that signed the server's certificate (default: the system's CAs).",
  },
  {
    path: 'store.name',
    env: 'FINPIPE_STORE',
    default: 'mysql',
    doc: 'Where `finpipe sink` writes and `status`/`demo` read: mysql or cassandra.',
  },
  {
    path: 'cassandra.contactPoints',
    env: 'FINPIPE_CASSANDRA_CONTACT_POINTS',
    default: '127.0.0.1:9042',
    doc: 'Comma-separated Cassandra nodes to connect to first (host:port); the driver finds the others.',
  },
  {
    path: 'cassandra.keyspace',
    env: 'FINPIPE_CASSANDRA_KEYSPACE',
    default: 'finpipe',
    doc: 'Cassandra keyspace of the trades and candles tables (created when missing).',
  },
  {
    path: 'cassandra.localDatacenter',
    env: 'FINPIPE_CASSANDRA_LOCAL_DATACENTER',
    default: 'datacenter1',
    doc: 'The Cassandra datacenter finpipe is in: LOCAL_* consistency levels and load balancing use its nodes.',
  },
  {
    path: 'cassandra.replication',
    env: 'FINPIPE_CASSANDRA_REPLICATION',
    default: 'SimpleStrategy:1',
    doc: 'Replication of a keyspace finpipe creates: SimpleStrategy:<n> (one local node) or NetworkTopologyStrategy:<dc>=<n>[,<dc>=<n>...].',
  },
  {
    path: 'cassandra.consistency',
    env: 'FINPIPE_CASSANDRA_CONSISTENCY',
    default: 'LOCAL_QUORUM',
    doc: 'Consistency level of writes and reads: LOCAL_QUORUM, LOCAL_ONE, QUORUM, EACH_QUORUM, ONE or ALL.',
  },
  {
    path: 'cassandra.username',
    env: 'FINPIPE_CASSANDRA_USERNAME',
    doc: 'Cassandra user (PasswordAuthenticator); empty = no authentication.',
  },
  { path: 'cassandra.password', env: 'FINPIPE_CASSANDRA_PASSWORD', secret: true, doc: 'Cassandra password (never logged).' },
  {
    path: 'cassandra.passwordFile',
    env: 'FINPIPE_CASSANDRA_PASSWORD_FILE',
    doc: 'File holding the Cassandra password (one line), instead of FINPIPE_CASSANDRA_PASSWORD.',
  },
  { path: 'cassandra.tls', env: 'FINPIPE_CASSANDRA_TLS', default: 'false', doc: 'Use TLS to reach Cassandra (true/false).' },
  {
    path: 'cassandra.tlsCaFile',
    env: 'FINPIPE_CASSANDRA_TLS_CA_FILE',
    doc: "PEM file with the CA that signed the nodes' certificates (implies TLS; default: the system's CAs).",
  },
  {
    path: 'cassandra.tlsRejectUnauthorized',
    env: 'FINPIPE_CASSANDRA_TLS_REJECT_UNAUTHORIZED',
    default: 'true',
    doc: 'Verify Cassandra node certificates (set false only for testing).',
  },
  {
    path: 'finnhub.token',
    env: 'FINNHUB_TOKEN',
    secret: true,
    doc: 'Finnhub API token (never logged). Required by produce against the real service.',
  },
  {
    path: 'finnhub.tokenFile',
    env: 'FINNHUB_TOKEN_FILE',
    doc: 'File holding the Finnhub API token (one line), instead of FINNHUB_TOKEN.',
  },
  {
    path: 'finnhub.wsUrl',
    env: 'FINNHUB_WS_URL',
    default: 'wss://ws.finnhub.io',
    doc: 'Finnhub websocket URL (point it at `finpipe simulate` for local runs).',
  },
  {
    path: 'finnhub.restUrl',
    env: 'FINNHUB_REST_URL',
    default: 'https://finnhub.io/api/v1',
    doc: 'Finnhub REST base URL, used by produce --validate.',
  },
  {
    path: 'topics.raw',
    env: 'FINPIPE_RAW_TOPIC',
    default: 'trades',
    doc: 'Raw trades topic (plain Avro, trades.avsc, compatible with Spark from_avro).',
  },
  {
    path: 'topics.deadLetter',
    env: 'FINPIPE_DLQ_TOPIC',
    default: 'finpipe.dlq',
    doc: 'Dead-letter topic for malformed frames and poison records.',
  },
  {
    path: 'topics.late',
    env: 'FINPIPE_LATE_TOPIC',
    default: 'trades.late',
    doc: 'Topic for trades that arrive later than the allowed lateness.',
  },
  {
    path: 'schemaRegistry.url',
    env: 'FINPIPE_SCHEMA_REGISTRY_URL',
    doc:
      'Schema Registry (Confluent API) base URL, e.g. http://127.0.0.1:8081/apis/ccompat/v7; empty = plain Avro, no framing. ' +
      'A password in it (user:password@) is never logged.',
  },
  { path: 'schemaRegistry.username', env: 'FINPIPE_SCHEMA_REGISTRY_USERNAME', doc: 'Schema Registry basic-auth user name.' },
  {
    path: 'schemaRegistry.password',
    env: 'FINPIPE_SCHEMA_REGISTRY_PASSWORD',
    secret: true,
    doc: 'Schema Registry basic-auth password (never logged).',
  },
  {
    path: 'limits.maxFuture',
    env: 'FINPIPE_MAX_FUTURE',
    default: '1m',
    doc: "How far ahead of the wall clock a trade's time may be (e.g. 30s, 1m); produce and process refuse later trades.",
  },
  {
    path: 'metrics.port',
    env: 'FINPIPE_METRICS_PORT',
    doc: 'Serve /metrics (Prometheus), /healthz and /readyz on this port (0 = any free port; empty = off). Same as --metrics-port.',
  },
  {
    path: 'metrics.host',
    env: 'FINPIPE_METRICS_HOST',
    default: '127.0.0.1',
    doc: 'Interface the metrics server listens on (0.0.0.0 in a container, so Prometheus and probes reach it).',
  },
  { path: 'log.level', env: 'FINPIPE_LOG_LEVEL', default: 'info', doc: 'fatal, error, warn, info, debug, trace or silent.' },
  { path: 'log.format', env: 'FINPIPE_LOG_FORMAT', default: 'auto', doc: 'auto (pretty on a terminal, JSON otherwise), json or pretty.' },
];

export const SETTINGS_BY_PATH = new Map(SETTINGS.map((s) => [s.path, s]));

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogFormat = 'auto' | 'json' | 'pretty';
