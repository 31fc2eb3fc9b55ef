import { randomUUID } from 'node:crypto';
import type { Admin, Consumer, Kafka, Message } from 'kafkajs';
import { FinpipeError } from '../errors';
import type { Logger } from '../log';
import { partitionRange } from '../kafka/partition-offsets';
import { sleep } from '../retry';
import type { SymbolSnapshot } from './windows';

/**
 * The state store: open windows and watermarks, kept in a compacted changelog topic that is
 * written in the same Kafka transaction as the outputs and the consumer offsets.
 *
 * Layout of the changelog topic (`<group>-state`, cleanup.policy=compact, at least as many
 * partitions as the raw topic). Changelog partition p holds the state of raw partition p, and
 * only raw partition p's transactional producer writes it:
 *
 *   key `<raw topic>/<p>/<symbol>`  value JSON SymbolSnapshot { symbol, maxEventTime, windows[] }
 *                                   — written whenever the symbol's state changed in a transaction
 *   key `<raw topic>/<p>`           value JSON { nextOffset } — written last in every transaction;
 *                                   equals the raw offset committed for the group in that same
 *                                   transaction
 *
 * Restoring raw partition p after a (re)assignment or a crash:
 *   1. the new owner's transactional producer initialises (fencing the previous owner and
 *      completing or aborting its open transaction);
 *   2. it reads the group's committed offset for p — stable now, nothing is in flight;
 *   3. it waits until the changelog reader has seen the `<raw>/<p>` record with that exact
 *      nextOffset. The changelog is read with isolation read_committed, and a transaction's
 *      records are all visible together, so at that point every symbol record of p written up
 *      to that commit has been read; their latest values are the state matching the offset.
 * Matching on the offset (rather than "read to the end") needs no end-of-log detection, which
 * transaction markers make awkward. If the reader reaches the end of partition p without
 * finding it (the changelog was deleted while the group kept its offsets) that is an error
 * with a hint, never a silent empty state.
 *
 * Every instance runs one reader that tails the whole changelog and keeps only the latest
 * value per key (a few hundred bytes per symbol), so a handover on rebalance is usually
 * immediate: the new owner has already read the state its predecessor wrote.
 */

export function positionKey(rawTopic: string, partition: number): string {
  return `${rawTopic}/${partition}`;
}

export function symbolKey(rawTopic: string, partition: number, symbol: string): string {
  return `${rawTopic}/${partition}/${symbol}`;
}

export function changelogTopicName(groupId: string): string {
  return `${groupId}-state`;
}

/** The changelog records for one transaction of raw partition p (position last). */
export function changelogMessages(rawTopic: string, partition: number, changed: SymbolSnapshot[], nextOffset: string): Message[] {
  const messages: Message[] = changed.map((s) => ({ partition, key: symbolKey(rawTopic, partition, s.symbol), value: JSON.stringify(s) }));
  messages.push({ partition, key: positionKey(rawTopic, partition), value: JSON.stringify({ nextOffset }) });
  return messages;
}

interface PartitionLog {
  nextOffset: string | null;
  symbols: Map<string, Buffer>;
  /** Offset after the last record (data or marker) read from this changelog partition. */
  position: bigint;
}

/** The private group of one run's changelog reader (see ChangelogReader.start). */
export function readerGroupPattern(groupId: string): RegExp {
  const escaped = groupId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${escaped}-state-reader-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`);
}

/**
 * Deletes reader groups that runs of this group left behind: a run killed before its clean
 * stop (and every run of versions whose reader auto-committed) leaves `<group>-state-reader-*`
 * with committed offsets, which `finpipe status` then lists for ever. Only empty groups go:
 * a group with members is another instance's live reader. Best effort: a failure is logged,
 * never fatal.
 */
export async function deleteLeftoverReaderGroups(admin: Admin, groupId: string, logger: Logger): Promise<string[]> {
  try {
    const pattern = readerGroupPattern(groupId);
    const candidates = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => pattern.test(g));
    if (candidates.length === 0) return [];
    const { groups } = await admin.describeGroups(candidates);
    const empty = groups.filter((g) => g.state === 'Empty' && g.members.length === 0).map((g) => g.groupId);
    if (empty.length === 0) return [];
    let failed = new Set<string>();
    try {
      await admin.deleteGroups(empty);
    } catch (error) {
      // kafkajs rejects the whole call when one group fails (e.g. another instance deleted
      // it first) and lists only the failed ones; the others were deleted.
      const groupsFailed = (error as { groups?: { groupId: string }[] }).groups;
      if (!groupsFailed) throw error;
      failed = new Set(groupsFailed.map((g) => g.groupId));
    }
    const deleted = empty.filter((g) => !failed.has(g));
    if (deleted.length > 0) logger.info({ groups: deleted }, 'deleted state-reader groups left behind by earlier runs');
    return deleted;
  } catch (error) {
    logger.warn(
      { err: error },
      'could not clean up state-reader groups of earlier runs; they are harmless, delete them with kafka-consumer-groups --delete',
    );
    return [];
  }
}

export class ChangelogReader {
  private consumer: Consumer | null = null;
  private groupId: string | null = null;
  private readonly partitions = new Map<number, PartitionLog>();
  private failed: Error | null = null;

  constructor(
    private readonly kafka: Kafka,
    private readonly admin: Admin,
    private readonly topic: string,
    private readonly rawTopic: string,
    private readonly logger: Logger,
  ) {}

  private log(partition: number): PartitionLog {
    let log = this.partitions.get(partition);
    if (!log) {
      log = { nextOffset: null, symbols: new Map(), position: -1n };
      this.partitions.set(partition, log);
    }
    return log;
  }

  async start(groupId: string): Promise<void> {
    // A private group per reader: every instance reads every changelog partition and never
    // commits (the changelog itself is the state, positions are rebuilt on each start), and
    // stop() deletes it, so no group is left behind per run.
    this.groupId = `${groupId}-state-reader-${randomUUID()}`;
    const consumer = this.kafka.consumer({
      groupId: this.groupId,
      readUncommitted: false,
      maxWaitTimeInMs: 50,
      sessionTimeout: 30_000,
      allowAutoTopicCreation: false,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      const log = this.log(payload.partition);
      const after = BigInt(payload.lastOffset) + 1n;
      if (after > log.position) log.position = after;
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) this.failed = payload.error;
    });
    await consumer.connect();
    await consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await consumer.run({
      // Off: kafkajs' default would commit the reader's positions, keeping its group alive.
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const log = this.log(batch.partition);
        const prefix = `${this.rawTopic}/${batch.partition}`;
        for (const m of batch.messages) {
          const key = m.key?.toString('utf8');
          if (!key || !m.value) continue;
          if (key === prefix) {
            log.nextOffset = (JSON.parse(m.value.toString('utf8')) as { nextOffset: string }).nextOffset;
          } else if (key.startsWith(`${prefix}/`)) {
            log.symbols.set(key.slice(prefix.length + 1), m.value);
          }
        }
      },
    });
  }

  /**
   * The state of raw partition `partition` as of committed offset `committed` (see the
   * module comment). Call only after this partition's producer has fenced its predecessor.
   */
  async restore(partition: number, committed: string, signal: AbortSignal, timeoutMs = 120_000): Promise<SymbolSnapshot[]> {
    const started = Date.now();
    let lastEndCheck = 0;
    for (;;) {
      if (this.failed)
        throw new FinpipeError('KAFKA_ERROR', `the state changelog reader stopped: ${this.failed.message}`, { cause: this.failed });
      const log = this.partitions.get(partition);
      if (log?.nextOffset === committed) {
        return [...log.symbols.values()].map((b) => JSON.parse(b.toString('utf8')) as SymbolSnapshot);
      }
      if (signal.aborted) throw new FinpipeError('INTERNAL', 'shutting down while restoring state', { retriable: true });
      const now = Date.now();
      if (now - lastEndCheck > 1_000) {
        lastEndCheck = now;
        const end = (await partitionRange(this.admin, this.topic, partition, signal)).high;
        if ((log?.position ?? 0n) >= end && now - started > 1_000) {
          throw new FinpipeError(
            'STATE_MISSING',
            `no saved state in ${this.topic} partition ${partition} matches the committed offset ${committed} of ${this.rawTopic}/${partition} ` +
              `(the changelog was read to offset ${end}; last saved position: ${log?.nextOffset ?? 'none'})`,
            {
              hint:
                'the state topic was probably deleted or recreated; reprocess with a new --group, ' +
                `or reset this group's offsets to the earliest and delete ${this.topic}`,
              context: { topic: this.topic, partition },
            },
          );
        }
      }
      if (now - started > timeoutMs) {
        throw new FinpipeError(
          'STATE_MISSING',
          `timed out after ${timeoutMs} ms restoring the state of ${this.rawTopic}/${partition} from ${this.topic}`,
          {
            retriable: true,
            hint: 'check the broker; the changelog may be very large if compaction is not keeping up',
          },
        );
      }
      await sleep(5, signal);
    }
  }

  async stop(): Promise<void> {
    if (!this.consumer) return;
    await this.consumer.disconnect().catch(() => {});
    this.consumer = null;
    const groupId = this.groupId;
    // Once its member has left, the group is empty and deletable. Best effort: what is left
    // (the broker was gone) is deleted by the next start (deleteLeftoverReaderGroups).
    try {
      await this.admin.deleteGroups([groupId!]);
    } catch (error) {
      this.logger.debug({ err: error, groupId }, 'state-reader group not deleted; the next start will');
    }
  }
}
