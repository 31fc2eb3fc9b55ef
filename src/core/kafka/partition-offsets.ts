import type { Admin } from 'kafkajs';
import { FinpipeError } from '../errors';
import { retry } from '../retry';

/**
 * One partition's committed offset or log range, never silently missing.
 *
 * A kafkajs admin client keeps one metadata cache, and a call about some topics
 * (`fetchTopicMetadata({ topics: [t] })`, as when a symbol topic is checked) replaces the
 * whole cache with those topics alone (kafkajs 2.2.4, cluster/brokerPool.js refreshMetadata).
 * A `fetchOffsets` or `fetchTopicOffsets` for another topic running at the same moment then
 * finds that topic without partitions, asks the broker about none, and returns an empty list
 * rather than an error (`fetchTopicOffsets` fails with a TypeError instead). `process` once
 * read such an empty answer as "this group has no committed offset" and started a partition
 * from an empty state while its output already held candles: the kill -9 recovery test,
 * under load, saw a candle version go backwards.
 *
 * So these helpers insist on an answer for the partition asked about: a missing one is asked
 * again (the next call refreshes the cache), and if it is still missing the error is
 * retriable: the caller's retry takes over.
 */

const ATTEMPTS = 5;
const PAUSE_MS = 50;

/** An answer without the partition asked about. Retriable: the caller's own retry takes over. */
class PartitionMissing extends FinpipeError {
  constructor(what: string) {
    super('KAFKA_ERROR', `Kafka's answer about ${what} did not include that partition (${ATTEMPTS} tries)`, {
      retriable: true,
      hint: 'the topic metadata may be changing (a partition being added or the topic re-created); this is retried',
    });
  }
}

/** `ask()` until its answer is there; only a missing answer is asked again here. */
function answerFor<T>(what: string, ask: () => Promise<T | undefined>, signal?: AbortSignal): Promise<T> {
  return retry(
    async () => {
      const answer = await ask();
      if (answer === undefined) throw new PartitionMissing(what);
      return answer;
    },
    {
      attempts: ATTEMPTS,
      initialMs: PAUSE_MS,
      maxMs: PAUSE_MS,
      jitter: 0,
      signal,
      retriable: (error) => error instanceof PartitionMissing,
    },
  );
}

/** The group's committed offset of topic/partition; null only when Kafka says there is none. */
export async function committedOffset(
  admin: Admin,
  groupId: string,
  topic: string,
  partition: number,
  signal?: AbortSignal,
): Promise<bigint | null> {
  const offset = await answerFor(
    `the offset group ${groupId} committed for ${topic}/${partition}`,
    async () => {
      const answer = await admin.fetchOffsets({ groupId, topics: [topic] });
      return answer.find((t) => t.topic === topic)?.partitions.find((p) => p.partition === partition)?.offset;
    },
    signal,
  );
  return offset === '-1' || offset === '' ? null : BigInt(offset);
}

/** The first offset and the end (high watermark) of topic/partition. */
export async function partitionRange(
  admin: Admin,
  topic: string,
  partition: number,
  signal?: AbortSignal,
): Promise<{ low: bigint; high: bigint }> {
  const range = await answerFor(
    `the offsets of ${topic}/${partition}`,
    async () => {
      try {
        return (await admin.fetchTopicOffsets(topic)).find((o) => o.partition === partition);
      } catch (error) {
        // The same race inside kafkajs: with no partitions it destructures an empty answer.
        if (error instanceof TypeError) return undefined;
        throw error;
      }
    },
    signal,
  );
  return { low: BigInt(range.low), high: BigInt(range.high) };
}
