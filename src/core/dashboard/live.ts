import { randomUUID } from 'node:crypto';
import type { Admin, Consumer, Kafka, KafkaMessage } from 'kafkajs';
import type { Config } from '../config';
import { describeError } from '../errors';
import { createKafka } from '../kafka/client';
import type { Logger } from '../log';
import { redactText } from '../redact';
import { notASymbolTopic, wholeNamePattern } from '../sink/topics';
import type { Candle, Trade } from '../serde';
import { valueCodecs, type ValueReader } from '../serde/registry';
import { recordKind, validateCandle, validateTrade, type SinkRow } from '../stores/records';
import { liveCandle, liveTrade, type ClientHub } from './clients';

export const DASHBOARD_GROUP_PREFIX = 'finpipe-dashboard-';

export interface LiveStats {
  topics: number;
  records: number;
  undecodable: number;
  /** Why the feed is not reading now (the broker is down, say); null while it reads. */
  error: string | null;
}

/**
 * The live feed: reads the per-symbol topics with read_committed in a consumer group of its
 * own (`finpipe-dashboard-<uuid>`), from the latest offsets, never committing, and hands
 * every decoded trade and candle to the hub. The topic list is read every few seconds; when
 * new per-symbol topics appear the consumer is recreated for the larger set. The group is
 * deleted on stop.
 *
 * Values are read like the sink reads them: through the Schema Registry reader when a
 * registry is configured (--schema-registry: framed values decoded with their writer's schema,
 * plain ones as before), plain Avro otherwise. A value that cannot be read counts as
 * undecodable (the page shows the count); the feed goes on.
 */
export class LiveFeed {
  readonly groupId = `${DASHBOARD_GROUP_PREFIX}${randomUUID()}`;
  private readonly kafka: Kafka;
  private readonly pattern: RegExp;
  private readonly values: ValueReader;
  private consumer: Consumer | null = null;
  private topics = new Set<string>();
  private crashed = false;
  private readonly counters: LiveStats = { topics: 0, records: 0, undecodable: 0, error: null };

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly hub: ClientHub,
    pattern: string,
  ) {
    this.kafka = createKafka(config.kafka, logger, 'dashboard', { retries: 2 });
    this.pattern = wholeNamePattern(new RegExp(pattern));
    this.values = valueCodecs(config.schemaRegistry).reader;
  }

  stats(): LiveStats {
    return { ...this.counters, topics: this.topics.size };
  }

  /** Reads the topic list and (re)subscribes when it grew or the consumer crashed. Never throws. */
  async refresh(): Promise<void> {
    const admin: Admin = this.kafka.admin();
    try {
      await admin.connect();
      const names = (await admin.listTopics()).filter((t) => this.pattern.test(t) && !notASymbolTopic(this.config, t));
      const grew = names.some((t) => !this.topics.has(t));
      if (grew || this.crashed || (!this.consumer && names.length > 0)) await this.resubscribe(names);
      if (this.counters.error) this.logger.info('live feed: reading from Kafka again');
      this.counters.error = null;
    } catch (error) {
      const reason = `Kafka: ${redactText(describeError(error))}`;
      // Once per distinct problem, not every poll.
      if (reason !== this.counters.error) this.logger.warn({ err: reason }, 'live feed: cannot read from Kafka; retrying');
      this.counters.error = reason;
      this.crashed = true;
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  private async resubscribe(names: string[]): Promise<void> {
    await this.stopConsumer();
    this.crashed = false;
    this.topics = new Set(names);
    if (names.length === 0) return;
    const consumer = this.kafka.consumer({ groupId: this.groupId, readUncommitted: false, allowAutoTopicCreation: false });
    this.consumer = consumer;
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.crashed = true;
      this.counters.error = `Kafka: ${redactText(describeError(payload.error))}`;
    });
    await consumer.connect();
    await consumer.subscribe({ topics: names, fromBeginning: false });
    await consumer.run({ autoCommit: false, eachMessage: ({ topic, partition, message }) => this.onMessage(topic, partition, message) });
    this.logger.info({ topics: names.length, groupId: this.groupId }, 'live feed subscribed');
  }

  private async onMessage(topic: string, partition: number, message: KafkaMessage): Promise<void> {
    this.counters.records++;
    let row: SinkRow;
    try {
      row = await this.decode(topic, partition, message);
    } catch (error) {
      this.counters.undecodable++;
      this.logger.debug(
        { err: redactText(describeError(error)), topic, partition, offset: message.offset },
        'live feed: record not decodable',
      );
      return;
    }
    if (row.kind === 'candle') this.hub.candle(liveCandle(row.candle, Number(message.timestamp)));
    else this.hub.trade(liveTrade(row.trade));
  }

  /** A trade or candle, framed or plain (see the class comment); throws why not. */
  private async decode(topic: string, partition: number, message: KafkaMessage): Promise<SinkRow> {
    const kind = recordKind(message);
    const value = message.value!;
    // Looks up a framed value's schema id unless cached (no request for plain values or known ids).
    if (this.values.framed) await this.values.prepare([message]);
    return kind === 'trade'
      ? { kind, trade: validateTrade(this.values.decode<Trade>('trade', value, topic, partition)) }
      : { kind, candle: validateCandle(this.values.decode<Candle>('candle', value, topic, partition)) };
  }

  private async stopConsumer(): Promise<void> {
    const consumer = this.consumer;
    this.consumer = null;
    if (consumer) await consumer.disconnect().catch(() => {});
  }

  async stop(): Promise<void> {
    await this.stopConsumer();
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      await admin.deleteGroups([this.groupId]);
    } catch {
      // a group never joined, or the broker is gone: nothing to clean up
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }
}
