import { randomUUID } from 'node:crypto';
import type { Admin, Consumer, Kafka, KafkaMessage } from 'kafkajs';
import type { Config } from '../config';
import { describeError } from '../errors';
import { createKafka } from '../kafka/client';
import type { Logger } from '../log';
import { redactText } from '../redact';
import { notASymbolTopic, wholeNamePattern } from '../sink/topics';
import { decodeRecord } from '../stores/records';
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
 */
export class LiveFeed {
  readonly groupId = `${DASHBOARD_GROUP_PREFIX}${randomUUID()}`;
  private readonly kafka: Kafka;
  private readonly pattern: RegExp;
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
    await consumer.run({ autoCommit: false, eachMessage: async ({ message }) => this.onMessage(message) });
    this.logger.info({ topics: names.length, groupId: this.groupId }, 'live feed subscribed');
  }

  private onMessage(message: KafkaMessage): void {
    this.counters.records++;
    let row: ReturnType<typeof decodeRecord>;
    try {
      row = decodeRecord({ key: message.key, value: message.value, headers: message.headers });
    } catch {
      this.counters.undecodable++;
      return;
    }
    if (row.kind === 'candle') this.hub.candle(liveCandle(row.candle, Number(message.timestamp)));
    else this.hub.trade(liveTrade(row.trade));
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
