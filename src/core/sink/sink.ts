import type { Kafka } from 'kafkajs';
import { FinpipeError } from '../errors';
import { createKafka } from '../kafka/client';
import { sleep } from '../retry';
import type { Stage } from '../stage';
import { openStore } from '../stores';
import type { Store } from '../stores/types';
import { RecordBuffer, type Ref } from './buffer';
import { Committer } from './committer';
import { SinkConsumer } from './consumer';
import { Flusher } from './flusher';
import { withSinkDefaults, type ResolvedSinkOptions, type SinkOptions } from './options';
import { SinkCounters, type SinkStats } from './stats';
import { PatternWatcher, validateSinkTopics, waitForTopics } from './topics';
import { valueCodecs } from '../serde/registry';

/**
 * `finpipe sink`: per-symbol topics -> a store (MySQL), exactly once in effect.
 *
 * The contract (a sink is connect -> write batch -> close):
 *   connect  wait for the store (backoff), create or migrate its tables, wait for the topics
 *            to exist (process creates them on demand), join the consumer group.
 *   write    records are decoded into a buffer as they arrive (consumer.ts); the flusher
 *            (flusher.ts) writes the buffer in ONE store transaction when it holds
 *            `batchRows` rows, when its oldest row is `flushMs` old, or at once when the
 *            consumer has caught up with the end of the partition (low latency when the feed
 *            is slow, big batches when there is a backlog); then the committer
 *            (committer.ts) sends dead letters, then commits the offsets it covered. So
 *            offsets only ever move past rows that are committed in the store (or
 *            dead-lettered); a crash anywhere replays from the last commit, and every write
 *            is an idempotent upsert, so a replay leaves the tables unchanged.
 *   close    (the run signal aborts) stop reading, flush what is buffered, commit, disconnect.
 *
 * While the flusher writes one buffer the next one fills (the store and Kafka work in
 * parallel); when that one is full too, eachBatch waits (heartbeating), which is the
 * backpressure. If the store is unreachable the flusher pauses consumption, retries the same
 * transaction with backoff, and resumes once it committed: nothing is lost or duplicated.
 *
 * Records that cannot be decoded, and rows the store refuses (see the Store contract in
 * src/core/stores/types.ts), go to the dead-letter topic with the reason; the rest are written.
 */
export class Sink implements Stage<SinkStats> {
  readonly name = 'sink';
  private readonly options: ResolvedSinkOptions;
  private readonly kafka: Kafka;
  private readonly counters: SinkCounters;
  private store: Store<Ref> | null = null;
  private buffer: RecordBuffer | null = null;
  private consumer: SinkConsumer | null = null;
  private flusher: Flusher | null = null;
  private stopping = false;
  /** Aborted by stop(), whatever caused it (the run signal or a fatal error): ends the pattern watcher's sleep. */
  private readonly stopped = new AbortController();

  constructor(options: SinkOptions) {
    this.options = withSinkDefaults(options);
    this.kafka = createKafka(this.options.config.kafka, this.options.logger, 'sink');
    this.counters = new SinkCounters(this.options.store);
  }

  snapshot(): SinkStats {
    return this.counters.snapshot(this.consumer?.paused ?? false);
  }

  get subscribedTopics(): string[] {
    return this.consumer?.topics ?? [];
  }

  /** Runs until the signal aborts (then flushes, commits and returns) or a fatal error. */
  async run(signal: AbortSignal): Promise<SinkStats> {
    const { config, logger, topics, pattern, writers, chunkRows } = this.options;
    const named = validateSinkTopics(config, topics);
    if (named.length === 0 && !pattern)
      throw new FinpipeError('USAGE', 'no topics to read', {
        hint: 'name per-symbol topics (finpipe sink BINANCE_BTCUSDT) or give --pattern',
      });
    const { store, label } = await openStore<Ref>(this.options.store, { config, logger }, { maxInFlight: writers, chunkRows });
    this.store = store;
    this.counters.stats.store = label;
    try {
      try {
        await store.ensureSchema(signal);
      } catch (error) {
        // Stopped while still waiting for the store: nothing was read, so a clean stop.
        if (signal.aborted) return this.snapshot();
        throw error;
      }
      if (signal.aborted) return this.snapshot();
      this.counters.stats.state = 'waiting for topics';
      const found = await waitForTopics(this.kafka, { config, named, pattern }, { logger, pollMs: this.options.topicPollMs, signal });
      this.counters.stats.state = 'running';
      if (signal.aborted) return this.snapshot();
      for (const t of found) this.counters.topic(t);
      await this.consume(store, label, named, found, signal);
      return this.snapshot();
    } finally {
      await store.close();
    }
  }

  /** Wires the consumer, buffer, flusher and committer, and runs them until stopped or failed. */
  private async consume(store: Store<Ref>, storeLabel: string, named: string[], topics: string[], signal: AbortSignal): Promise<void> {
    const { options, kafka, counters } = this;
    const { config, logger, pattern } = options;
    let fail: (error: unknown) => void = () => {};
    const crashed = new Promise<never>((_, reject) => (fail = reject));
    crashed.catch(() => {}); // observed through the race below
    const stopping = () => this.stopping;
    const retryContext = { config, logger, stopping };
    const buffer = (this.buffer = new RecordBuffer(
      () => store.newBatch(),
      options.batchRows,
      options.flushMs,
      valueCodecs(options.config.schemaRegistry).reader,
    ));
    const consumer = (this.consumer = new SinkConsumer({
      ...retryContext,
      kafka,
      options,
      buffer,
      counters,
      fail,
      wakeFlusher: () => flusher.wake(),
      wakeWatcher: () => watcher?.wake(),
    }));
    const committer = new Committer(kafka, counters, () => consumer.kafkaConsumer, retryContext);
    const flusher = (this.flusher = new Flusher({
      store,
      storeLabel,
      buffer,
      committer,
      logger,
      shutdownGraceMs: options.shutdownGraceMs,
      stopping,
      fail,
      hurry: () => consumer.hurry,
      pause: () => consumer.pause(),
      resume: () => consumer.resume(),
    }));
    const watcher = pattern
      ? new PatternWatcher(
          kafka,
          { config, named, pattern },
          {
            logger,
            pollMs: options.patternPollMs,
            stopped: this.stopped.signal,
            current: () => consumer.topics,
            add: (added) => consumer.addTopics(added, () => flusher.drain()),
          },
        )
      : null;
    let watching: Promise<void> | null = null;
    try {
      await consumer.start(topics);
      logger.info({ topics, groupId: options.groupId, store: storeLabel }, 'sink started');
      const flushing = flusher.run();
      const onAbort = () => this.stop();
      signal.addEventListener('abort', onAbort, { once: true });
      watching = watcher?.run() ?? null;
      try {
        await Promise.race([flushing, crashed]);
      } finally {
        signal.removeEventListener('abort', onAbort);
        this.stop();
      }
    } finally {
      // The watcher notices the stop at once unless it is inside a Kafka call: not for long.
      if (watching) {
        const done = new AbortController(); // clears the 5 s timer, which would keep the process alive
        await Promise.race([watching, sleep(5_000, done.signal)]);
        done.abort();
      }
      await consumer.disconnect();
      await committer.close();
    }
  }

  /** Nothing new is taken after this; what is buffered is flushed and committed. */
  private stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.stopped.abort();
    this.counters.stats.state = 'stopping';
    this.consumer?.pause();
    this.flusher?.wake();
    this.buffer?.wakeRoomWaiters();
  }
}
