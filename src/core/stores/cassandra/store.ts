import type cassandra from 'cassandra-driver';
import type { CassandraConfig } from '../../config';
import { FinpipeError } from '../../errors';
import type { Logger } from '../../log';
import { redactText } from '../../redact';
import { retry } from '../../retry';
import type { Store, StoreContext, StoreHealth, StoreWriteOptions, WriteResult } from '../types';
import { CassandraBatch } from './batch';
import {
  classifyCassandraError,
  connectWithRetry,
  describeCassandraError,
  releaseVersion,
  shutdownClient,
  toCassandraError,
} from './client';
import { migrate } from './schema';
import { cql, partitionWrites, type Cql, type PartitionWrite } from './statements';

/**
 * Requests in flight per write() call. The driver multiplexes them over one connection per
 * node; enough of them keep every core of a node busy without queueing for long.
 */
export const WRITE_CONCURRENCY = 48;

/**
 * The sink's Cassandra store. A write sends every partition's rows as one unlogged batch,
 * `WRITE_CONCURRENCY` of them at a time, and resolves only once Cassandra acknowledged all of
 * them at the configured consistency level: only then does the sink commit the offsets.
 *
 * Cassandra has no transaction over several partitions, so a batch is not atomic: an outage
 * can leave part of it written. That is safe because every write is idempotent (trades by
 * their primary key, candles by their version as the write timestamp): the sink retries the
 * whole batch, and what was written already is written again unchanged.
 *
 * Errors: an unreachable or overloaded cluster is a retriable CASSANDRA_UNAVAILABLE (the sink
 * pauses and retries); a partition batch Cassandra refuses as invalid is retried row by row
 * and the rows it still refuses are returned in `rejected`; anything else is CASSANDRA_ERROR.
 */
export class CassandraStore<R> implements Store<R> {
  readonly maxInFlight: number;
  private readonly config: CassandraConfig;
  private readonly logger: Logger;
  private readonly statements: Cql;
  private client: cassandra.Client | null = null;

  constructor({ config, logger }: StoreContext, { maxInFlight }: StoreWriteOptions) {
    this.config = config.cassandra;
    this.logger = logger;
    this.maxInFlight = Math.max(1, maxInFlight);
    this.statements = cql(this.config.keyspace);
  }

  async ensureSchema(signal: AbortSignal): Promise<void> {
    this.client ??= await connectWithRetry(this.config, this.logger, { signal });
    const client = this.client;
    // Cassandra may go away between connecting and migrating: that is waited out too.
    const result = await retry(
      () =>
        migrate(client, this.config, this.logger).catch((error: unknown) => {
          throw toCassandraError(this.config, error, 'refused to create the schema');
        }),
      { initialMs: 250, maxMs: 10_000, signal },
    );
    if (result.applied.length > 0) {
      this.logger.info({ keyspace: this.config.keyspace, from: result.from, to: result.to }, 'Cassandra schema migrated');
    }
  }

  newBatch(): CassandraBatch<R> {
    return new CassandraBatch<R>();
  }

  async write(batch: CassandraBatch<R>): Promise<WriteResult<R>> {
    const client = this.client;
    if (!client) throw new FinpipeError('INTERNAL', 'CassandraStore.write() called before ensureSchema()');
    const trades = batch.uniqueTrades();
    const candles = batch.latestCandles();
    const writes = partitionWrites(this.statements, trades, candles);
    const rejected: { ref: R; reason: string }[] = [];
    await runBounded(writes, WRITE_CONCURRENCY, (w) => this.writePartition(client, w, rejected));
    const refused = new Set(rejected.map((r) => r.ref));
    const tradesWritten = trades.filter((t) => !refused.has(t.ref)).length;
    return {
      trades: tradesWritten,
      // Cassandra writes are blind upserts: a replayed trade cannot be told from a new one
      // without a read (or a lightweight transaction) per row, so every trade written counts.
      tradesInserted: tradesWritten,
      candles: candles.filter((c) => !refused.has(c.ref)).length,
      rejected,
    };
  }

  /** One partition's rows; when Cassandra refuses the batch as invalid, row by row to find the rows it refuses. */
  private async writePartition(client: cassandra.Client, w: PartitionWrite<R>, rejected: { ref: R; reason: string }[]): Promise<void> {
    try {
      await this.send(client, w.queries);
      return;
    } catch (error) {
      if (classifyCassandraError(error) !== 'data' || w.queries.length === 1) {
        this.refuseOrThrow(error, w.refs[0], rejected);
        return;
      }
      this.logger.warn(
        { err: describeCassandraError(error), rows: w.queries.length },
        'Cassandra refused a batch; writing its rows one by one to isolate the bad one',
      );
    }
    for (let i = 0; i < w.queries.length; i++) {
      try {
        await this.send(client, [w.queries[i]]);
      } catch (error) {
        this.refuseOrThrow(error, w.refs[i], rejected);
      }
    }
  }

  private refuseOrThrow(error: unknown, ref: R | null, rejected: { ref: R; reason: string }[]): void {
    const kind = classifyCassandraError(error);
    if (kind === 'data' && ref !== null) {
      rejected.push({ ref, reason: redactText(`rejected by Cassandra: ${describeCassandraError(error)}`) });
      return;
    }
    if (kind === 'unavailable') throw toCassandraError(this.config, error);
    throw new FinpipeError('CASSANDRA_ERROR', redactText(`Cassandra refused a write: ${describeCassandraError(error)}`), {
      cause: error,
      hint:
        `this is not a data problem of one row; check the tables of keyspace ${this.config.keyspace} and the role's permissions, ` +
        'then restart the sink — nothing was committed for the batch',
    });
  }

  private async send(client: cassandra.Client, queries: { query: string; params: unknown[] }[]): Promise<void> {
    if (queries.length === 1) await client.execute(queries[0].query, queries[0].params, { prepare: true, isIdempotent: true });
    else await client.batch(queries, { prepare: true, logged: false, isIdempotent: true });
  }

  async health(): Promise<StoreHealth> {
    const { host, port, keyspace } = this.config;
    try {
      if (!this.client) throw new Error('not connected yet');
      return { reachable: true, host, port, database: keyspace, version: await releaseVersion(this.client) };
    } catch (error) {
      return { reachable: false, host, port, database: keyspace, error: redactText(describeCassandraError(error)) };
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = null;
    await shutdownClient(client);
  }
}

/**
 * Runs `fn` over `items` with at most `limit` running at once. On the first failure no new
 * item is started; the ones running are waited for, then that failure is thrown (so no
 * request of this batch is still in flight when the caller retries it).
 */
export async function runBounded<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | null = null;
  const worker = async () => {
    while (!failure && next < items.length) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw (failure as { error: unknown }).error;
}
