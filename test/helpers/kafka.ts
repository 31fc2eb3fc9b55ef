import { randomUUID } from 'node:crypto';
import type { TestContext } from 'node:test';
import { Kafka, logLevel, type Admin, type Producer, type Consumer, type KafkaMessage } from 'kafkajs';
import { installReadCommittedFix } from '../../src/core/kafka/read-committed';

/**
 * Integration-test helpers against the real local broker (`npm run services:up`).
 * Every helper that creates something registers its own cleanup on the test context.
 * The tests' own read_committed consumers skip aborted records as finpipe's do
 * (src/core/kafka/read-committed.ts; createKafka installs it for the product).
 */
installReadCommittedFix();
export const BROKERS = (process.env.FINPIPE_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export function testKafka(clientId = 'finpipe-test'): Kafka {
  return new Kafka({ clientId, brokers: BROKERS, logLevel: logLevel.NOTHING, retry: { retries: 5, initialRetryTime: 100 } });
}

/** A connected admin client, disconnected after the test. */
export async function admin(t: TestContext): Promise<Admin> {
  const a = testKafka().admin();
  await a.connect();
  t.after(() => a.disconnect());
  return a;
}

/** Creates a uniquely named topic, deleted after the test. */
export async function createTopic(t: TestContext, prefix = 'test', partitions = 1, configs: Record<string, string> = {}): Promise<string> {
  const name = uniqueName(prefix);
  const a = await admin(t);
  t.after(() => deleteTopicsQuietly([name]));
  try {
    await a.createTopics({
      topics: [{ topic: name, numPartitions: partitions, configEntries: Object.entries(configs).map(([n, v]) => ({ name: n, value: v })) }],
      waitForLeaders: true,
    });
  } catch (error) {
    // Right after creating a topic the broker may answer its metadata with
    // UNKNOWN_TOPIC_OR_PARTITION for a moment; kafkajs' wait for leaders does not retry that.
    if ((error as { type?: string }).type !== 'UNKNOWN_TOPIC_OR_PARTITION') throw error;
    await waitFor(
      `the metadata of ${name}`,
      () =>
        a.fetchTopicMetadata({ topics: [name] }).then(
          () => true,
          () => false,
        ),
      10_000,
    );
  }
  return name;
}

/** Deletes topics if they exist; never throws (cleanup must not mask a test failure). */
export async function deleteTopicsQuietly(names: string[]): Promise<void> {
  const a = testKafka().admin();
  try {
    await a.connect();
    const existing = new Set(await a.listTopics());
    const present = names.filter((n) => existing.has(n));
    if (present.length) await a.deleteTopics({ topics: present, timeout: 10_000 });
  } catch {
    // the broker may be gone already
  } finally {
    await a.disconnect().catch(() => {});
  }
}

/** A connected plain producer, disconnected after the test. */
export async function producer(t: TestContext): Promise<Producer> {
  const p = testKafka().producer({ allowAutoTopicCreation: false });
  await p.connect();
  t.after(() => p.disconnect());
  return p;
}

export interface ReadRecord {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  timestamp: string;
}

/**
 * Reads a topic from the beginning (committed records only) until `until(records)` is true
 * or `timeoutMs` passes; returns what was read. It waits for a condition, never a fixed time.
 */
export async function readTopic(
  topic: string | string[],
  until: (records: ReadRecord[]) => boolean,
  timeoutMs = 20_000,
): Promise<ReadRecord[]> {
  const consumer: Consumer = testKafka().consumer({ groupId: uniqueName('test-reader'), readUncommitted: false, maxWaitTimeInMs: 100 });
  const records: ReadRecord[] = [];
  await consumer.connect();
  try {
    for (const name of Array.isArray(topic) ? topic : [topic]) await consumer.subscribe({ topic: name, fromBeginning: true });
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    if (until(records)) resolveDone();
    await consumer.run({
      eachMessage: async ({ topic: tp, partition, message }: { topic: string; partition: number; message: KafkaMessage }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = Buffer.isBuffer(v) ? v.toString() : String(v);
        records.push({
          topic: tp,
          partition,
          offset: message.offset,
          key: message.key,
          value: message.value,
          headers,
          timestamp: message.timestamp,
        });
        if (until(records)) resolveDone();
      },
    });
    await Promise.race([done, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    return records;
  } finally {
    await consumer.disconnect().catch(() => {});
  }
}

/** Polls `check` until it returns a truthy value or the deadline passes (then throws with `what`). */
export async function waitFor<T>(what: string, check: () => Promise<T> | T, timeoutMs = 20_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
