import cassandra from 'cassandra-driver';
import type { CassandraConfig } from '../../config';
import { FinpipeError, describeError } from '../../errors';
import type { Logger } from '../../log';
import { redactText } from '../../redact';
import { retry, type BackoffOptions } from '../../retry';

/**
 * How the Cassandra store talks to Cassandra: one driver Client (it keeps a connection pool
 * per node and reconnects by itself), errors sorted into three kinds, like the MySQL store's:
 *
 *   unavailable  no node answers, a node is overloaded, bootstrapping, or a write or read
 *                timed out or lacked replicas for the consistency level: retry the batch
 *                later (writes are idempotent upserts, so a retry after a partial write is safe).
 *   data         Cassandra refused this statement's values (an invalid request, or the driver
 *                could not encode a value): the row goes to the dead-letter topic.
 *   fatal        bad credentials, missing permissions, a syntax or configuration error: a
 *                setup problem or a bug; stop with a clear error.
 */
export type CassandraErrorKind = 'unavailable' | 'data' | 'fatal';

const { responseErrorCodes: CODES } = cassandra.types;
const UNAVAILABLE_RESPONSES = new Set<number>([
  CODES.serverError,
  CODES.unavailableException,
  CODES.overloaded,
  CODES.isBootstrapping,
  CODES.truncateError,
  CODES.writeTimeout,
  CODES.readTimeout,
  CODES.readFailure,
  CODES.writeFailure,
]);

export function classifyCassandraError(error: unknown): CassandraErrorKind {
  if (error instanceof FinpipeError) return error.code === 'CASSANDRA_UNAVAILABLE' ? 'unavailable' : 'fatal';
  const { errors } = cassandra;
  if (error instanceof errors.NoHostAvailableError || error instanceof errors.OperationTimedOutError) return 'unavailable';
  if (error instanceof errors.BusyConnectionError) return 'unavailable';
  if (error instanceof errors.ResponseError) {
    const code: number = error.code;
    if (UNAVAILABLE_RESPONSES.has(code)) return 'unavailable';
    return code === Number(CODES.invalid) ? 'data' : 'fatal';
  }
  // The driver refusing to encode a value (a wrong type, out of range) is about that row.
  if (error instanceof TypeError || error instanceof RangeError || error instanceof errors.ArgumentError) return 'data';
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^E(CONNREFUSED|CONNRESET|TIMEDOUT|PIPE|HOSTUNREACH|NETUNREACH|AI_AGAIN)$/.test(code))
    return 'unavailable';
  return 'fatal';
}

/** The driver's message; for "no host available" with each node's own reason, which is what a user needs. */
export function describeCassandraError(error: unknown): string {
  if (error instanceof cassandra.errors.NoHostAvailableError) {
    const inner = (error.innerErrors ?? {}) as Record<string, unknown>;
    const reasons = Object.entries(inner).map(([host, e]) => `${host}: ${describeError(e)}`);
    return reasons.length > 0 ? `no Cassandra node available (${reasons.join('; ')})` : describeError(error);
  }
  return describeError(error);
}

export function cassandraUnavailable(config: CassandraConfig, error: unknown): FinpipeError {
  return new FinpipeError(
    'CASSANDRA_UNAVAILABLE',
    redactText(`cannot reach Cassandra at ${config.contactPoints.join(',')}: ${describeCassandraError(error)}`),
    {
      cause: error,
      hint: 'start Cassandra (from a checkout: `npm run services:up -- cassandra`) or fix FINPIPE_CASSANDRA_CONTACT_POINTS; finpipe keeps retrying',
    },
  );
}

/** Unavailable errors become a retriable CASSANDRA_UNAVAILABLE; others become CASSANDRA_ERROR with a hint. */
export function toCassandraError(config: CassandraConfig, error: unknown, doing = 'refused'): FinpipeError {
  if (error instanceof FinpipeError) return error;
  if (classifyCassandraError(error) === 'unavailable') return cassandraUnavailable(config, error);
  const auth =
    error instanceof cassandra.errors.AuthenticationError ||
    (error instanceof cassandra.errors.ResponseError && [Number(CODES.badCredentials), Number(CODES.unauthorized)].includes(error.code));
  const hint = auth
    ? 'check FINPIPE_CASSANDRA_USERNAME and the password, and that the role may CREATE, ALTER, SELECT and MODIFY in the keyspace'
    : 'see the Cassandra message; rerun with --log-level debug for details';
  return new FinpipeError(
    'CASSANDRA_ERROR',
    redactText(`Cassandra at ${config.host}:${config.port} ${doing}: ${describeCassandraError(error)}`),
    {
      cause: error,
      hint,
    },
  );
}

export interface ClientOptions {
  connectTimeoutMs?: number;
  /** Per-request timeout: a node that stops answering counts as unavailable. */
  readTimeoutMs?: number;
  /** Connections per node (each carries up to 2048 requests at once on protocol v4+). */
  connectionsPerHost?: number;
}

export function createClient(config: CassandraConfig, options: ClientOptions = {}): cassandra.Client {
  const { policies, auth, types } = cassandra;
  const client = new cassandra.Client({
    contactPoints: config.contactPoints,
    localDataCenter: config.localDatacenter,
    ...(config.username ? { authProvider: new auth.PlainTextAuthProvider(config.username, config.password ?? '') } : {}),
    ...(config.tls
      ? { sslOptions: { ...(config.tls.ca ? { ca: [config.tls.ca] } : {}), rejectUnauthorized: config.tls.rejectUnauthorized } }
      : {}),
    socketOptions: { connectTimeout: options.connectTimeoutMs ?? 5_000, readTimeout: options.readTimeoutMs ?? 12_000 },
    pooling: { coreConnectionsPerHost: { [types.distance.local]: options.connectionsPerHost ?? 1, [types.distance.remote]: 1 } },
    // The driver's default waits up to 10 minutes between reconnection attempts; a sink
    // waiting out an outage should notice a node that is back within seconds.
    policies: { reconnection: new policies.reconnection.ExponentialReconnectionPolicy(500, 5_000, false) },
    queryOptions: { consistency: types.consistencies[config.consistency as keyof typeof types.consistencies], prepare: true },
  });
  closeReplacedHosts(client);
  return client;
}

/**
 * Works around a connection leak of cassandra-driver 4.x after every node was down at once
 * (a single-node cluster restarted). While no node is up, the driver's control connection
 * reconnects through its first-connection path, which puts a NEW Host object for the node's
 * address into `client.hosts`. The Host it replaces is only dropped from the map: its pool
 * keeps its own reconnection timer, reconnects when the node is back, and then holds that
 * socket (with heartbeats) for good. `client.shutdown()` closes only the hosts in the map, so
 * it resolves, but the process never exits by itself (the sink hung after its summary).
 * Whether it happens depends on which of the two reconnection timers fires first once the
 * node listens again. Here a replaced Host's pool is closed as soon as it is replaced.
 * (A host removed from the cluster is not in the map any more and was shut down by the
 * driver already; only a host replaced under the same address is closed here.)
 */
export function closeReplacedHosts(client: cassandra.Client): void {
  client.hosts.on('remove', (old: cassandra.Host) => {
    const current = client.hosts.get(old.address) as cassandra.Host | undefined;
    if (!current || current === old) return;
    // Host#shutdown is internal to the driver (not in its typings); false: close without draining.
    const host = old as cassandra.Host & { shutdown?: (waitForPending: boolean) => Promise<void> };
    void host.shutdown?.(false).catch(() => {});
  });
}

/**
 * A connected client, created and connected anew until Cassandra answers (with backoff,
 * until `signal` aborts); then it is reused: the driver reconnects by itself after outages.
 */
export async function connectWithRetry(
  config: CassandraConfig,
  logger: Logger,
  options: ClientOptions & { signal?: AbortSignal; backoff?: BackoffOptions } = {},
): Promise<cassandra.Client> {
  return retry(() => connectOnce(config, options), {
    ...(options.backoff ?? { initialMs: 250, maxMs: 10_000 }),
    signal: options.signal,
    onRetry: (error, attempt, delayMs) =>
      logger.warn(
        { attempt: attempt + 1, retryInMs: delayMs, err: describeError(error) },
        `waiting for Cassandra at ${config.contactPoints.join(',')}`,
      ),
  });
}

/**
 * Closes a client, waiting at most `timeoutMs`, so that a driver problem can never keep a
 * finpipe command from finishing. (The hang once seen at exit after a node restart was not
 * shutdown() itself but the replaced Host's socket: see closeReplacedHosts.)
 */
export async function shutdownClient(client: cassandra.Client | null | undefined, timeoutMs = 5_000): Promise<void> {
  if (!client) return;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs).unref()));
  await Promise.race([client.shutdown().catch(() => {}), timeout]);
  clearTimeout(timer);
}

/** Connects once, no retry: throws CASSANDRA_UNAVAILABLE (retriable) or CASSANDRA_ERROR. */
export async function connectOnce(config: CassandraConfig, options: ClientOptions = {}): Promise<cassandra.Client> {
  const client = createClient(config, options);
  try {
    await client.connect();
    return client;
  } catch (error) {
    await shutdownClient(client);
    throw toCassandraError(config, error);
  }
}

/** The server version of the node the driver asks, e.g. "5.0.6". */
export async function releaseVersion(client: cassandra.Client): Promise<string> {
  const rs = await client.execute('SELECT release_version FROM system.local');
  return String(rs.first()?.release_version ?? 'unknown');
}
