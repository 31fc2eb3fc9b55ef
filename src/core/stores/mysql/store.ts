import type { RowDataPacket } from 'mysql2/promise';
import type { MysqlConfig } from '../../config';
import type { Logger } from '../../log';
import { describeError } from '../../errors';
import type { Store, StoreContext, StoreHealth, StoreWriteOptions, WriteResult } from '../types';
import { WriteBatch } from './batch';
import { MysqlSession } from './connection';
import { MysqlBatchWriter } from './writer';

/**
 * The sink's MySQL store: a pool of `maxInFlight` writers, each with its own session, so
 * MySQL runs that many transactions at once (one statement per connection runs on one core).
 */
export class MysqlStore<R> implements Store<R> {
  private readonly config: MysqlConfig;
  private readonly logger: Logger;
  private readonly sessions: MysqlSession[];
  private readonly writers: MysqlBatchWriter[];
  private readonly freeWriters: MysqlBatchWriter[];
  private writerWaiters: (() => void)[] = [];

  constructor({ config, logger }: StoreContext, { maxInFlight, chunkRows }: StoreWriteOptions) {
    this.config = config.mysql;
    this.logger = logger;
    this.sessions = Array.from({ length: Math.max(1, maxInFlight) }, () => new MysqlSession(config.mysql, logger));
    this.writers = this.sessions.map((session) => new MysqlBatchWriter(session, logger, { chunkRows }));
    this.freeWriters = [...this.writers];
  }

  get maxInFlight(): number {
    return this.writers.length;
  }

  async ensureSchema(signal: AbortSignal): Promise<void> {
    const migrated = await this.writers[0].prepare(signal);
    if (migrated.applied.length > 0)
      this.logger.info({ database: this.config.database, from: migrated.from, to: migrated.to }, 'MySQL schema migrated');
  }

  /** Holds trades as LOAD DATA lines while every writer still uses that path (each finds out for itself when the server refuses it). */
  newBatch(): WriteBatch<R> {
    return new WriteBatch<R>(this.writers.every((w) => w.usesLoadData));
  }

  async write(batch: WriteBatch<R>): Promise<WriteResult<R>> {
    const writer = await this.acquireWriter();
    try {
      return await writer.write(batch);
    } finally {
      this.releaseWriter(writer);
    }
  }

  async health(): Promise<StoreHealth> {
    const { host, port, database } = this.config;
    try {
      const version = await this.sessions[0].run(async (conn) =>
        String((await conn.query<RowDataPacket[]>('SELECT VERSION() AS v'))[0][0].v),
      );
      return { reachable: true, host, port, database, version };
    } catch (error) {
      return { reachable: false, host, port, database, error: describeError(error) };
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.sessions.map((session) => session.close()));
  }

  private async acquireWriter(): Promise<MysqlBatchWriter> {
    while (this.freeWriters.length === 0) await new Promise<void>((resolve) => this.writerWaiters.push(resolve));
    return this.freeWriters.pop()!;
  }

  private releaseWriter(writer: MysqlBatchWriter): void {
    this.freeWriters.push(writer);
    this.writerWaiters.shift()?.();
  }
}
