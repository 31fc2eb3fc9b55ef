import type { Consumer, Kafka, Producer } from 'kafkajs';
import type { Config } from '../config';
import { FinpipeError, describeError } from '../errors';
import { deadLetterMessage } from '../kafka/dead-letter';
import { toKafkaError } from '../kafka/errors';
import { ensureTopics } from '../kafka/topics';
import type { Logger } from '../log';
import { retry } from '../retry';
import { sourceString } from '../stores/records';
import type { WriteResult } from '../stores/types';
import { partitionKey, type DeadLetter, type Pending, type Position, type Ref } from './buffer';
import type { SinkCounters } from './stats';

export interface KafkaRetryContext {
  config: Config;
  logger: Logger;
  stopping: () => boolean;
}

/**
 * Kafka operations the sink cannot skip (a dead letter must exist before its offset is
 * committed): retried, whatever the error, until they work; once the sink is stopping,
 * given up after a few attempts (the records are read again on restart).
 */
export function retryKafka(what: string, fn: () => Promise<unknown>, { config, logger, stopping }: KafkaRetryContext): Promise<unknown> {
  return retry(fn, {
    initialMs: 500,
    maxMs: 10_000,
    retriable: () => true,
    giveUp: (error, attempt) =>
      stopping() && attempt >= 3
        ? new FinpipeError(
            'KAFKA_UNAVAILABLE',
            `could not ${what} while stopping: ${describeError(toKafkaError(error, config.kafka.brokers))}`,
            {
              cause: error,
              hint: 'the affected records were not committed and will be read again on restart',
            },
          )
        : false,
    onRetry: (error, attempt, delayMs) =>
      logger.warn({ attempt: attempt + 1, retryInMs: delayMs, err: describeError(error) }, `could not ${what}; retrying`),
  });
}

/**
 * What follows a batch's write, in batch order: its dead letters go to the dead-letter
 * topic, then its offsets are committed, then the counters move. So offsets only ever move
 * past records that are in the store or in the dead-letter topic.
 */
export class Committer {
  private producer: Producer | null = null;

  constructor(
    private readonly kafka: Kafka,
    private readonly counters: SinkCounters,
    private readonly consumer: () => Consumer | null,
    private readonly retryContext: KafkaRetryContext,
  ) {}

  async commitBatch(batch: Pending, result: WriteResult<Ref>, started: number, wroteMs: number): Promise<void> {
    const letters = [...batch.poison, ...result.rejected];
    if (letters.length > 0) await this.sendDeadLetters(letters);
    await this.commitOffsets([...batch.positions.values()]);
    this.count(batch, result, letters);
    this.retryContext.logger.debug(
      {
        records: batch.rows.size,
        trades: result.trades,
        candles: result.candles,
        deadLetters: letters.length,
        wroteMs,
        totalMs: Date.now() - started,
        ageMs: started - batch.firstAt,
      },
      'batch committed',
    );
  }

  async close(): Promise<void> {
    await this.producer?.disconnect().catch(() => {});
  }

  private count(batch: Pending, result: WriteResult<Ref>, letters: DeadLetter[]): void {
    const { stats } = this.counters;
    stats.transactions++;
    stats.lastCommitAt = Date.now();
    stats.trades += result.trades;
    stats.tradesInserted += result.tradesInserted;
    stats.candles += result.candles;
    stats.deadLetters += letters.length;
    stats.records += batch.rows.size - result.rejected.length;
    // Rows written = records read - dead letters, per topic.
    for (const [topic, n] of batch.perTopic) this.counters.topic(topic).rows += n;
    for (const l of letters) {
      const s = this.counters.topic(l.ref.topic);
      s.rows--;
      s.deadLetters++;
    }
  }

  private async sendDeadLetters(letters: DeadLetter[]): Promise<void> {
    const { config, logger } = this.retryContext;
    const topic = config.topics.deadLetter;
    const producer = this.producer ?? (this.producer = await this.connectProducer());
    for (const l of letters) {
      logger.warn({ source: sourceString(l.ref), reason: l.reason, deadLetterTopic: topic }, 'record sent to the dead-letter topic');
    }
    const messages = letters.map(({ ref, reason }) =>
      deadLetterMessage({
        stage: 'sink',
        reason,
        source: sourceString(ref),
        value: ref.value ?? Buffer.alloc(0),
        key: ref.key,
        headers: ref.headers,
      }),
    );
    await retryKafka('send dead letters', () => producer.send({ topic, messages, acks: -1 }), this.retryContext);
  }

  private async connectProducer(): Promise<Producer> {
    const topic = this.retryContext.config.topics.deadLetter;
    await retryKafka(
      'create the dead-letter topic',
      async () => {
        const admin = this.kafka.admin();
        await admin.connect();
        try {
          // -1: the broker's default partitions and replication factor.
          await ensureTopics(admin, [{ name: topic, partitions: -1, replicationFactor: -1 }]);
        } finally {
          await admin.disconnect().catch(() => {});
        }
      },
      this.retryContext,
    );
    // Not idempotent: a dead letter duplicated by a retry is harmless, and kafkajs warns about
    // idempotence with the limited retries finpipe's client uses.
    const producer = this.kafka.producer({ allowAutoTopicCreation: false });
    await retryKafka('connect the dead-letter producer', () => producer.connect(), this.retryContext);
    return producer;
  }

  private async commitOffsets(positions: Position[]): Promise<void> {
    const consumer = this.consumer();
    if (positions.length === 0 || !consumer) return;
    try {
      await consumer.commitOffsets(positions);
      for (const p of positions) this.counters.committed.set(partitionKey(p.topic, p.partition), BigInt(p.offset));
    } catch (error) {
      // Typically a rebalance moved the partition elsewhere. The rows are in the store;
      // whoever owns the partition now re-reads them from the previous commit, and the
      // idempotent writes make that a no-op. So this costs time, never correctness.
      this.retryContext.logger.warn(
        { err: describeError(error), positions },
        'could not commit offsets (rebalance?); those records will be read again and rewritten idempotently',
      );
    }
  }
}
