import { Partitioners, type Admin, type Kafka, type Producer } from 'kafkajs';
import { committedOffset } from '../kafka/partition-offsets';
import type { ProcessOptions } from './options';
import type { ChangelogReader } from './state-store';
import { SymbolWindows, type SymbolSnapshot } from './windows';

/** This instance's ownership of one raw partition: its producer and its in-memory state. */
export interface PartitionTask {
  partition: number;
  producer: Producer;
  /** Consumer-group generation in which this task was last verified as current. */
  generation: number;
  /** Next raw offset to process (= the committed offset); null when the group has none yet. */
  nextOffset: bigint | null;
  symbols: Map<string, SymbolWindows>;
}

/**
 * Which raw partitions this instance owns, and a PartitionTask for each one it has processed
 * in the current group generation. A task is (re)verified on the first batch after every
 * rebalance; taking a partition over fences its previous owner and restores its state.
 */
export class PartitionTasks {
  private readonly tasks = new Map<number, PartitionTask>();
  /** Every producer ever created, so shutdown disconnects even ones dropped mid-retry. */
  private readonly producers = new Set<Producer>();
  private generation = 0;
  private assigned = new Set<number>();

  constructor(
    private readonly kafka: Kafka,
    private readonly admin: Admin,
    private readonly reader: ChangelogReader,
    private readonly options: ProcessOptions,
    private readonly signal: AbortSignal,
  ) {}

  /** GROUP_JOIN: a new generation with these partitions; tasks of partitions lost are dropped. */
  join(partitions: number[]): void {
    this.generation++;
    this.assigned = new Set(partitions);
    for (const task of this.tasks.values()) if (!this.assigned.has(task.partition)) void this.drop(task);
    this.options.logger.info({ generation: this.generation, partitions }, 'joined the group');
  }

  owns(partition: number): boolean {
    return this.assigned.has(partition);
  }

  /** The partition's task for the current generation: the one it has, or a new one. */
  async task(partition: number): Promise<PartitionTask> {
    const previous = this.tasks.get(partition);
    if (previous && previous.generation === this.generation) return previous;
    try {
      return await this.acquire(partition, previous);
    } catch (error) {
      if (previous) await this.drop(previous);
      throw error;
    }
  }

  async drop(task: PartitionTask): Promise<void> {
    if (this.tasks.get(task.partition) === task) this.tasks.delete(task.partition);
    await task.producer.disconnect().catch(() => {});
  }

  async close(): Promise<void> {
    await Promise.all([...this.producers].map((p) => p.disconnect().catch(() => {})));
  }

  private committedOffset(partition: number): Promise<bigint | null> {
    return committedOffset(this.admin, this.options.groupId, this.options.topics.raw, partition, this.signal);
  }

  private async acquire(partition: number, previous: PartitionTask | undefined): Promise<PartitionTask> {
    const generation = this.generation;
    if (previous) {
      // Still ours after a rebalance: keep the state if nobody else committed meanwhile (if
      // someone did and fenced us, our next commit fails and the partition is restored).
      if ((await this.committedOffset(partition)) === previous.nextOffset) {
        previous.generation = generation;
        return previous;
      }
      await this.drop(previous);
    }
    const producer = this.producer(partition);
    await producer.connect();
    try {
      // kafkajs runs InitProducerId on the first transaction(): that fences the previous
      // owner and waits for its open transaction to be committed or aborted. An empty
      // transaction ends locally, without a request.
      await (await producer.transaction()).abort();
      const committed = await this.committedOffset(partition);
      const snapshots: SymbolSnapshot[] = committed === null ? [] : await this.reader.restore(partition, committed.toString(), this.signal);
      const symbols = new Map<string, SymbolWindows>();
      for (const s of snapshots) symbols.set(s.symbol, new SymbolWindows(s.symbol, this.options.windows, s));
      const task: PartitionTask = { partition, producer, generation, nextOffset: committed, symbols };
      this.tasks.set(partition, task);
      this.options.logger.info(
        { partition, nextOffset: committed?.toString() ?? null, symbols: symbols.size },
        'partition assigned: state restored',
      );
      return task;
    } catch (error) {
      await producer.disconnect().catch(() => {});
      throw error;
    }
  }

  private producer(partition: number): Producer {
    const { groupId, topics } = this.options;
    const producer = this.kafka.producer({
      transactionalId: `${groupId}-${topics.raw}-${partition}`,
      // Transactions are always idempotent in kafkajs; `idempotent` only concerns plain
      // send() (never used here) and would add a second producer-id request on connect.
      idempotent: false,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
      // Right after a commit the coordinator is still writing the markers and answers the
      // next transaction's AddPartitionsToTxn with CONCURRENT_TRANSACTIONS for a few ms;
      // kafkajs' default first retry (200 ms) would then dominate the latency. From 3 ms
      // (10 ms before: p99 at 1,000 trades/s 21-23 -> 17-20 ms, 2 alternating pairs), doubling
      // up to 2 s: about 7 s in all before the batch fails and is retried by the processor.
      retry: { initialRetryTime: 3, maxRetryTime: 2_000, retries: 12 },
      transactionTimeout: 30_000,
      allowAutoTopicCreation: false,
    });
    this.producers.add(producer);
    return producer;
  }
}
