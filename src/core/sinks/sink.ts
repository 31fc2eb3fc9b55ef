import type { Admin, Consumer, EachBatchPayload, IHeaders, KafkaMessage, Producer } from 'kafkajs';
import type { Config } from '../config';
import { FinpipeError, describeError, isRetriable } from '../errors';
import { createKafka } from '../kafka/client';
import { kafkaUnavailable } from '../kafka/errors';
import { deadLetterMessage } from '../kafka/dead-letter';
import { ensureTopics } from '../kafka/topics';
import type { Logger } from '../log';
import { backoffDelay, sleep } from '../retry';
import { assertTopicName } from '../symbols';
import { MysqlSession } from '../stores/mysql/connection';
import { WriteBatch } from '../stores/mysql/batch';
import { MysqlBatchWriter, type WriteResult } from '../stores/mysql/writer';
import { decodeCandle, recordKind, sourceString, type SourceRef } from '../stores/records';

/**
 * `finpipe sink`: per-symbol topics -> MySQL, exactly once in effect.
 *
 * The contract (a sink is connect -> write batch -> close):
 *   connect  wait for MySQL (backoff), create the database and migrate the tables, wait for
 *            the topics to exist (process creates them on demand), join the consumer group.
 *   write    records are decoded into a buffer as they arrive (eachBatch); a flusher writes
 *            the buffer in ONE database transaction when it holds `batchRows` rows, when its
 *            oldest row is `flushMs` old, or at once when the consumer has caught up with
 *            the end of the partition (low latency when the feed is slow, big batches when
 *            there is a backlog), then sends dead letters, then commits the offsets
 *            it covered. So offsets only ever move past rows that are committed in MySQL
 *            (or dead-lettered); a crash anywhere replays from the last commit, and every
 *            write is an idempotent upsert, so a replay leaves the tables unchanged.
 *   close    (SIGINT/SIGTERM) stop reading, flush what is buffered, commit, disconnect.
 *
 * While the flusher writes one buffer the next one fills (the database and Kafka work in
 * parallel); when that one is full too, eachBatch waits (heartbeating), which is the
 * backpressure. If MySQL is unreachable the flusher pauses consumption, retries the same
 * transaction with backoff, and resumes once it committed: nothing is lost or duplicated.
 *
 * Records that cannot be decoded, and rows the database refuses (found by rewriting the
 * batch row by row), go to the dead-letter topic with the reason; the rest are written.
 */
export interface SinkOptions {
  config: Config;
  logger: Logger;
  /** Topics named explicitly. */
  topics: string[];
  /** Also every existing topic whose whole name matches this (internal and finpipe's own topics excluded). */
  pattern?: RegExp;
  groupId: string;
  /** Flush when this many records are buffered. */
  batchRows: number;
  /** ...or when the oldest buffered record is this old. */
  flushMs: number;
  signal: AbortSignal;
  /** Rows per INSERT statement. */
  chunkRows?: number;
  /**
   * Transactions in flight at once, each on its own connection (default 2). MySQL runs one
   * statement per connection on one core; two connections let it use two, while offsets are
   * still committed strictly in order (see flushLoop).
   */
  writers?: number;
  /** How long to keep retrying an unreachable MySQL after a shutdown signal before giving up (the rows are re-read on restart). */
  shutdownGraceMs?: number;
  /** How often to look for topics that do not exist yet. */
  topicPollMs?: number;
  /** With `pattern`: how often to look for matching topics created since (default 10 s). */
  patternPollMs?: number;
  /**
   * Consumer session timeout. After a crash (kill -9) the group waits this long for the dead
   * member before giving its partitions to a restarted sink, so it is shorter than kafkajs'
   * 30 s default; the broker's group.min.session.timeout.ms (6 s by default) is the floor.
   */
  sessionTimeoutMs?: number;
}

export interface TopicStats {
  /** Records written (trades and candle versions, replays included). */
  rows: number;
  deadLetters: number;
  /** Records in the topic not yet committed by this group (sum over partitions). */
  lag: number;
}

export interface SinkStats {
  topics: Map<string, TopicStats>;
  trades: number;
  /** Trades new to the table (the rest were replays). */
  tradesInserted: number;
  /** Candle rows upserted (only the newest version per window within a batch is sent). */
  candles: number;
  records: number;
  deadLetters: number;
  transactions: number;
  /** True while MySQL is unreachable and consumption is paused. */
  paused: boolean;
  state: 'starting' | 'waiting for topics' | 'running' | 'stopping';
  startedAt: number;
  /** When the first record was read, and when the last transaction was committed (ms; 0 = not yet). */
  firstRecordAt: number;
  lastCommitAt: number;
}

/** One topic-partition as seen by the consumer; shared by the refs of its records (one object per partition, not per record). */
interface PartitionSource {
  topic: string;
  partition: number;
  key: string;
}

/** A record's origin and raw bytes, kept until its batch is committed (for dead letters and counters). */
class Ref implements SourceRef {
  constructor(
    readonly source: PartitionSource,
    private readonly message: KafkaMessage,
  ) {}

  get topic(): string {
    return this.source.topic;
  }

  get partition(): number {
    return this.source.partition;
  }

  get offset(): string {
    return this.message.offset;
  }

  get key(): Buffer | null {
    return this.message.key;
  }

  get value(): Buffer | null {
    return this.message.value;
  }

  get headers(): IHeaders | undefined {
    return this.message.headers;
  }
}

/** What the consumer has read and not yet committed. */
class Pending {
  /** @param lines render trades as LOAD DATA lines as they arrive (the writers' fast path) */
  constructor(lines: boolean) {
    this.rows = new WriteBatch<Ref>(lines);
  }

  readonly rows: WriteBatch<Ref>;
  poison: { ref: Ref; reason: string }[] = [];
  /** Next offset to commit per topic-partition once this buffer is in MySQL. */
  positions = new Map<string, { topic: string; partition: number; offset: string }>();
  /** Records per topic (decoded or not), counted per run of records rather than per record. */
  perTopic = new Map<string, number>();
  firstAt = 0;

  get size(): number {
    return this.rows.size + this.poison.length;
  }

  get empty(): boolean {
    return this.size === 0 && this.positions.size === 0;
  }

  touch(): void {
    if (this.firstAt === 0) this.firstAt = Date.now();
  }
}

const partitionKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/** The offset after `offset` (Kafka offsets are int64, passed around as decimal strings). */
const nextOffset = (offset: string) => (BigInt(offset) + 1n).toString();

/** Topics the sink must never read: they are not per-symbol topics. */
function reservedTopics(config: Config): Map<string, string> {
  return new Map([
    [config.topics.raw, 'the raw trades topic (read by finpipe process, not sink)'],
    [config.topics.deadLetter, 'the dead-letter topic (the sink writes to it)'],
    [config.topics.late, 'the late-trades topic'],
  ]);
}

/**
 * Validates the topic names before anything connects. A name that is not a legal Kafka
 * topic (for example one containing a backtick or a semicolon) is refused here; the SQL the
 * sink writes never contains topic names anyway (tables are shared, keyed by symbol).
 */
export function validateSinkTopics(config: Config, topics: string[]): string[] {
  const reserved = reservedTopics(config);
  for (const topic of topics) {
    assertTopicName(topic);
    const why = reserved.get(topic);
    if (why) {
      throw new FinpipeError('USAGE', `${topic} is ${why}; finpipe sink reads the per-symbol topics written by finpipe process`, {
        hint: 'pass per-symbol topics such as BINANCE_BTCUSDT, or --pattern \'BINANCE_.*\'',
        context: { topic },
      });
    }
  }
  return [...new Set(topics)];
}

/** Topics to read now: the named ones that exist plus every existing match of the pattern. */
async function matchTopics(admin: Admin, config: Config, named: string[], pattern?: RegExp): Promise<{ found: string[]; missing: string[] }> {
  const existing = new Set(await admin.listTopics());
  const reserved = reservedTopics(config);
  const found = new Set(named.filter((t) => existing.has(t)));
  if (pattern) {
    for (const t of existing) {
      if (t.startsWith('__') || reserved.has(t)) continue;
      const m = pattern.exec(t);
      if (m && m.index === 0 && m[0].length === t.length && assertTopicName(t)) found.add(t);
    }
  }
  return { found: [...found].sort(), missing: named.filter((t) => !existing.has(t)) };
}

export class Sink {
  private readonly kafka;
  private readonly sessions: MysqlSession[];
  private readonly writers: MysqlBatchWriter[];
  private readonly freeWriters: MysqlBatchWriter[];
  private writerWaiters: (() => void)[] = [];
  private outageStarted = 0;
  private consumer: Consumer | null = null;
  private producer: Producer | null = null;
  private pending: Pending;
  private stopping = false;
  private paused = false;
  private topics: string[] = [];
  private wakeFlusher: () => void = () => {};
  private spaceWaiters: (() => void)[] = [];
  private fatal: ((error: unknown) => void) | null = null;
  private readonly highWatermarks = new Map<string, { topic: string; hw: bigint }>();
  /** The last fetch reached the end of its partition: nothing more is coming right now. */
  private caughtUp = false;
  private readonly committed = new Map<string, bigint>();
  private readonly sources = new Map<string, PartitionSource>();
  /** The flusher's chain of "after the transaction" steps (dead letters, offset commit), in buffer order. */
  private chain: Promise<void> = Promise.resolve();
  /** Set while the consumer restarts to add topics (--pattern): nothing more is taken, the buffer is flushed at once. */
  private resubscribing = false;
  /** The eachBatch call in progress, if any. */
  private batchInFlight: Promise<void> = Promise.resolve();
  /** Aborted by stop(), whatever caused it (a signal or a fatal error): ends the pattern watcher's sleep. */
  private readonly stopped = new AbortController();
  /** Ends the pattern watcher's current wait early. */
  private wakeWatcher: () => void = () => {};
  private readonly stats: SinkStats = {
    topics: new Map(), trades: 0, tradesInserted: 0, candles: 0, records: 0, deadLetters: 0, transactions: 0, paused: false, state: 'starting', startedAt: Date.now(), firstRecordAt: 0, lastCommitAt: 0,
  };

  constructor(private readonly options: SinkOptions) {
    this.kafka = createKafka(options.config.kafka, options.logger, 'sink');
    this.sessions = Array.from({ length: Math.max(1, options.writers ?? 2) }, () => new MysqlSession(options.config.mysql, options.logger));
    this.writers = this.sessions.map((session) => new MysqlBatchWriter(session, options.logger, { chunkRows: options.chunkRows }));
    this.freeWriters = [...this.writers];
    this.pending = this.newPending();
  }

  /** An empty buffer, holding trades as LOAD DATA lines while the writers use that path (each writer finds out for itself when the server refuses it). */
  private newPending(): Pending {
    return new Pending(this.writers.every((w) => w.usesLoadData));
  }

  /** A snapshot of the counters (lag recomputed), for progress displays. */
  snapshot(): SinkStats {
    for (const s of this.stats.topics.values()) s.lag = 0;
    for (const [key, { topic, hw }] of this.highWatermarks) {
      const done = this.committed.get(key) ?? 0n;
      const s = this.topicStats(topic);
      s.lag += Number(hw > done ? hw - done : 0n);
    }
    return { ...this.stats, paused: this.paused, topics: new Map([...this.stats.topics].map(([k, v]) => [k, { ...v }])) };
  }

  get subscribedTopics(): string[] {
    return this.topics;
  }

  private topicStats(topic: string): TopicStats {
    let s = this.stats.topics.get(topic);
    if (!s) this.stats.topics.set(topic, (s = { rows: 0, deadLetters: 0, lag: 0 }));
    return s;
  }

  /** Runs until the signal aborts (then flushes, commits and returns) or a fatal error. */
  async run(): Promise<SinkStats> {
    const { options } = this;
    const log = options.logger;
    const named = validateSinkTopics(options.config, options.topics);
    if (named.length === 0 && !options.pattern) throw new FinpipeError('USAGE', 'no topics to read', { hint: 'name per-symbol topics (finpipe sink BINANCE_BTCUSDT) or give --pattern' });
    let watching: Promise<void> | null = null;
    try {
      let migrated;
      try {
        migrated = await this.writers[0].prepare(options.signal);
      } catch (error) {
        // Ctrl-C while still waiting for MySQL: nothing was read, so a clean stop.
        if (options.signal.aborted) return this.snapshot();
        throw error;
      }
      if (migrated.applied.length > 0) log.info({ database: options.config.mysql.database, from: migrated.from, to: migrated.to }, 'MySQL schema migrated');
      if (options.signal.aborted) return this.snapshot();

      this.stats.state = 'waiting for topics';
      this.topics = await this.waitForTopics(named);
      this.stats.state = 'running';
      if (options.signal.aborted) return this.snapshot();
      for (const t of this.topics) this.topicStats(t);
      await this.startConsumer();
      log.info({ topics: this.topics, groupId: options.groupId, database: options.config.mysql.database }, 'sink started');

      const crashed = new Promise<never>((_, reject) => (this.fatal = reject));
      crashed.catch(() => {}); // observed through the race below
      const flushing = this.flushLoop();
      const onAbort = () => this.stop();
      options.signal.addEventListener('abort', onAbort, { once: true });
      watching = options.pattern ? this.watchPattern(named) : null;
      try {
        await Promise.race([flushing, crashed]);
      } finally {
        options.signal.removeEventListener('abort', onAbort);
        this.stop();
      }
      return this.snapshot();
    } finally {
      // The watcher notices the stop at once unless it is inside a Kafka call: not for long.
      if (watching) {
        const done = new AbortController(); // clears the 5 s timer, which would keep the process alive
        await Promise.race([watching, sleep(5_000, done.signal)]);
        done.abort();
      }
      await this.consumer?.disconnect().catch(() => {});
      await this.producer?.disconnect().catch(() => {});
      await Promise.all(this.sessions.map((session) => session.close()));
    }
  }

  private stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.stopped.abort();
    this.stats.state = 'stopping';
    // Nothing new is taken after this; what is buffered is flushed and committed.
    this.pauseAll();
    this.wakeFlusher();
    for (const w of this.spaceWaiters.splice(0)) w();
  }

  private async waitForTopics(named: string[]): Promise<string[]> {
    const { config, logger, pattern, signal } = this.options;
    const admin = this.kafka.admin();
    try {
      await admin.connect();
    } catch (error) {
      throw kafkaUnavailable(error, config.kafka.brokers);
    }
    try {
      let announced = '';
      for (;;) {
        const { found, missing } = await matchTopics(admin, config, named, pattern);
        const ready = missing.length === 0 && found.length > 0;
        if (ready || signal.aborted) return found;
        const waitingFor = missing.length > 0 ? missing.join(', ') : `a topic matching ${pattern}`;
        if (announced !== waitingFor) {
          logger.warn({ missing, pattern: pattern?.source }, `waiting for ${waitingFor} to be created (finpipe process creates per-symbol topics when it sees the first trade)`);
          announced = waitingFor;
        }
        await sleep(this.options.topicPollMs ?? 2_000, signal);
      }
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  private async startConsumer(): Promise<void> {
    const { config, groupId, logger } = this.options;
    const consumer = this.kafka.consumer({
      groupId,
      // process writes in transactions: only committed records are real.
      readUncommitted: false,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: Math.min(500, this.options.flushMs),
      // Fewer, larger fetches when catching up (kafkajs fetches, then processes, then fetches).
      maxBytesPerPartition: 4 * 1024 * 1024,
      maxBytes: 32 * 1024 * 1024,
      sessionTimeout: this.options.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: Math.max(500, Math.floor((this.options.sessionTimeoutMs ?? 10_000) / 10)),
    });
    this.consumer = consumer;
    // A group member given partitions of a topic it does not subscribe to (another sink
    // with --pattern added it first): look for new topics now rather than at the next poll.
    consumer.on(consumer.events.RECEIVED_UNSUBSCRIBED_TOPICS, () => this.wakeWatcher());
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (payload.restart) {
        logger.warn({ err: describeError(payload.error) }, 'Kafka consumer failed; kafkajs restarts it');
      } else if (!this.stopping) {
        this.fatal?.(new FinpipeError('KAFKA_ERROR', `Kafka consumer stopped: ${describeError(payload.error)}`, { cause: payload.error, hint: 'check the broker; the sink resumes from the last committed offsets when restarted' }));
      }
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: this.topics, fromBeginning: true });
    } catch (error) {
      throw kafkaUnavailable(error, config.kafka.brokers);
    }
    await this.runConsumer(consumer);
  }

  private async runConsumer(consumer: Consumer): Promise<void> {
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: (payload) => (this.batchInFlight = this.onBatch(payload)),
    });
  }

  /**
   * --pattern: topics that match and are created later (process creates one per new symbol)
   * are added while running, as Kafka Connect's topics.regex does. kafkajs only subscribes
   * before run(), so the consumer is restarted: stop taking records, write and commit what
   * was taken, stop, subscribe to the new topics too, run. The group rebalances and every
   * partition resumes from its committed offset, so nothing is skipped. With several sinks
   * in one group, each adds the topic on its own poll; kafkajs' group leader assigns only
   * topics it subscribes to itself, so a new topic's partitions may wait for the slowest
   * member (a member handed topics it does not know wakes its watcher at once).
   */
  private async watchPattern(named: string[]): Promise<void> {
    const { config, logger, pattern } = this.options;
    const admin = this.kafka.admin();
    try {
      while (!this.stopping) {
        await this.watcherNap(this.options.patternPollMs ?? 10_000);
        if (this.stopping) break;
        let added: string[];
        try {
          await admin.connect(); // a no-op once connected
          const { found } = await matchTopics(admin, config, named, pattern);
          added = found.filter((t) => !this.topics.includes(t));
        } catch (error) {
          logger.debug({ err: describeError(error) }, 'could not list topics to look for new --pattern matches; trying again later');
          continue;
        }
        if (added.length > 0) await this.addTopics(added);
      }
    } catch (error) {
      // Only while stopping (withKafkaRetry gives up then): the records are read again on restart.
      logger.warn({ err: describeError(error) }, 'stopped while adding topics matching --pattern');
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /** Waits `ms`, or less if the sink stops or wakeWatcher() is called. */
  private watcherNap(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const { signal } = this.stopped;
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.wakeWatcher = () => {};
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.wakeWatcher = done;
    });
  }

  private async addTopics(added: string[]): Promise<void> {
    const consumer = this.consumer!;
    const { logger } = this.options;
    logger.info({ added, pattern: this.options.pattern?.source }, 'new topics match --pattern: writing what was read so far, then adding them');
    this.resubscribing = true;
    try {
      try {
        consumer.pause(this.topics.map((topic) => ({ topic })));
      } catch {
        // not running right now (kafkajs restarting it after an error): nothing is fetched anyway
      }
      // eachBatch calls run one at a time (partitionsConsumedConcurrently is 1): this is the only one.
      await this.batchInFlight.catch(() => {});
      // Everything taken is written and committed while the consumer can still commit.
      while (!this.pending.empty && !this.stopping) {
        this.wakeFlusher();
        await sleep(20);
      }
      await this.chain.catch(() => {});
      await this.withKafkaRetry('restart the consumer with the topics matching --pattern', async () => {
        if (this.stopping) return; // run() disconnects it
        await consumer.stop();
        await consumer.subscribe({ topics: added, fromBeginning: true });
        this.topics = [...new Set([...this.topics, ...added])].sort();
        for (const t of added) this.topicStats(t);
        this.caughtUp = false;
        await this.runConsumer(consumer);
      });
      if (this.stopping) return;
      // The restarted consumer is not paused; it must be while MySQL is unreachable.
      if (this.paused) {
        try {
          consumer.pause(this.topics.map((topic) => ({ topic })));
        } catch {
          // not running: the write retry resumes it
        }
      }
      logger.info({ topics: this.topics }, 'now reading the new topics too');
    } finally {
      this.resubscribing = false;
    }
  }

  private source(topic: string, partition: number): PartitionSource {
    const key = partitionKey(topic, partition);
    let source = this.sources.get(key);
    if (!source) this.sources.set(key, (source = { topic, partition, key }));
    return source;
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const { topic, partition, messages } = batch;
    const source = this.source(topic, partition);
    const { key } = source;
    this.highWatermarks.set(key, { topic, hw: BigInt(batch.highWatermark) });
    if (!this.committed.has(key) && messages.length > 0) this.committed.set(key, BigInt(messages[0].offset));
    // Records are taken in runs, as many at a time as the buffer has room for. Whether to
    // stop (stopping, kafkajs no longer running, a seek made this batch stale) can only change
    // while this function awaits, so it is checked before each run, not for every record.
    let next = 0;
    while (next < messages.length) {
      if (this.stopping || this.resubscribing || !isRunning() || isStale()) return;
      const room = this.options.batchRows - this.pending.size;
      if (room <= 0) {
        // Full: a flush is due and the flusher is busy with the previous buffer. Wait for
        // room; if MySQL is down (paused), return without resolving the rest: kafkajs
        // fetches it again from the last resolved offset on resume.
        if (this.paused) return;
        this.wakeFlusher();
        await Promise.race([new Promise<void>((r) => this.spaceWaiters.push(r)), sleep(1_000)]);
        await heartbeat();
        continue;
      }
      const end = Math.min(messages.length, next + room);
      this.addRun(source, messages, next, end);
      next = end;
      resolveOffset(messages[end - 1].offset);
    }
    // The batch may end with transaction markers after the last message: cover them too, or
    // the committed position would trail behind the end of a fully written topic.
    if (messages.length > 0 && !this.stopping) {
      this.pending.positions.set(key, { topic, partition, offset: nextOffset(batch.lastOffset()) });
    }
    // Caught up with the partition: waiting for flushMs would only add latency, since no
    // more rows are coming to fill the batch. (Catching up on a backlog, batches fill by
    // size instead.)
    this.caughtUp = BigInt(batch.lastOffset()) + 1n >= BigInt(batch.highWatermark);
    if (this.pending.size >= this.options.batchRows || (this.caughtUp && !this.pending.empty)) this.wakeFlusher();
    await heartbeat();
  }

  /** Decodes messages[from, to) of one partition into the buffer and moves its position past them. */
  private addRun(source: PartitionSource, messages: KafkaMessage[], from: number, to: number): void {
    const pending = this.pending;
    pending.touch();
    this.stats.firstRecordAt ||= Date.now();
    for (let i = from; i < to; i++) {
      const message = messages[i];
      const ref = new Ref(source, message);
      try {
        if (recordKind(message) === 'trade') pending.rows.addTradeAvro(message.value!, ref);
        else pending.rows.addCandle(decodeCandle(message.value!), ref);
      } catch (error) {
        pending.poison.push({ ref, reason: describeError(error) });
      }
    }
    pending.perTopic.set(source.topic, (pending.perTopic.get(source.topic) ?? 0) + (to - from));
    pending.positions.set(source.key, { topic: source.topic, partition: source.partition, offset: nextOffset(messages[to - 1].offset) });
  }

  /** Waits until a flush is due: enough rows, old enough, or stopping. */
  private async flushDue(): Promise<void> {
    for (;;) {
      const p = this.pending;
      const age = p.empty ? 0 : Date.now() - p.firstAt;
      if (this.stopping || p.size >= this.options.batchRows || (!p.empty && (age >= this.options.flushMs || this.caughtUp || this.resubscribing))) return;
      const waitMs = p.empty ? 1_000 : this.options.flushMs - age;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        this.wakeFlusher = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /**
   * Takes the buffer whenever a flush is due and a writer (connection) is free, and starts
   * its transaction; up to `writers` transactions run at once. What follows a transaction —
   * dead letters, then the offset commit — is chained in buffer order, so offsets are
   * committed strictly in order and only once every earlier buffer is in MySQL too. (Two
   * transactions touching the same candle serialise on its row lock, and the version check
   * keeps the newer one whichever commits last.)
   */
  private async flushLoop(): Promise<void> {
    for (;;) {
      await this.flushDue();
      if (this.stopping && this.pending.empty) break;
      const writer = await this.acquireWriter();
      const batch = this.pending;
      this.pending = this.newPending();
      for (const w of this.spaceWaiters.splice(0)) w();
      if (batch.empty) {
        this.releaseWriter(writer);
        continue;
      }
      const started = Date.now();
      const written = this.writeWithRetry(writer, batch).finally(() => this.releaseWriter(writer));
      written.catch(() => {}); // observed through the chain
      this.chain = this.chain.then(() => this.finish(batch, written, started));
      this.chain.catch((error) => this.fatal?.(error));
    }
    await this.chain;
  }

  private async acquireWriter(): Promise<MysqlBatchWriter> {
    while (this.freeWriters.length === 0) await new Promise<void>((resolve) => this.writerWaiters.push(resolve));
    return this.freeWriters.pop()!;
  }

  private releaseWriter(writer: MysqlBatchWriter): void {
    this.freeWriters.push(writer);
    this.writerWaiters.shift()?.();
  }

  /** After the batch's transaction: dead letters, then the offsets, then the counters. */
  private async finish(batch: Pending, written: Promise<WriteResult<Ref>>, started: number): Promise<void> {
    const result = await written;
    const wroteMs = Date.now() - started;
    const letters = [...batch.poison, ...result.rejected];
    if (letters.length > 0) await this.sendDeadLetters(letters);
    await this.commit([...batch.positions.values()]);

    this.stats.transactions++;
    this.stats.lastCommitAt = Date.now();
    this.stats.trades += result.trades;
    this.stats.tradesInserted += result.tradesInserted;
    this.stats.candles += result.candles;
    this.stats.deadLetters += letters.length;
    this.stats.records += batch.rows.size - result.rejected.length;
    // Rows written = records read - dead letters, per topic.
    for (const [topic, n] of batch.perTopic) this.topicStats(topic).rows += n;
    for (const l of letters) {
      const s = this.topicStats(l.ref.topic);
      s.rows--;
      s.deadLetters++;
    }
    this.options.logger.debug(
      { records: batch.rows.size, trades: result.trades, candles: result.candles, deadLetters: letters.length, wroteMs, totalMs: Date.now() - started, ageMs: started - batch.firstAt },
      'batch committed',
    );
  }

  /** Writes one buffer, retrying the whole transaction with backoff while MySQL is unavailable. */
  private async writeWithRetry(writer: MysqlBatchWriter, batch: Pending): Promise<WriteResult<Ref>> {
    const log = this.options.logger;
    let stopDeadline = 0;
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await writer.write(batch.rows);
        if (this.outageStarted) {
          log.info({ downForMs: Date.now() - this.outageStarted, attempts: attempt + 1 }, 'MySQL is back: batch committed, resuming consumption');
          this.outageStarted = 0;
          this.resumeAll();
        }
        return result;
      } catch (error) {
        if (!isRetriable(error)) throw error;
        if (!this.outageStarted) {
          this.outageStarted = Date.now();
          this.pauseAll();
          log.warn({ err: describeError(error), rows: batch.size }, 'MySQL unavailable: paused consumption; retrying the batch with backoff (nothing is committed until it is written)');
        }
        if (this.stopping) {
          stopDeadline ||= Date.now() + (this.options.shutdownGraceMs ?? 15_000);
          if (Date.now() > stopDeadline) {
            throw new FinpipeError('MYSQL_UNAVAILABLE', `stopped while MySQL was unreachable; ${batch.size} buffered records were not written: ${describeError(error)}`, {
              cause: error,
              hint: 'nothing is lost: their offsets were not committed, so the next `finpipe sink` run reads them again',
            });
          }
        }
        const delay = backoffDelay(attempt, { initialMs: 200, maxMs: 5_000 });
        log.warn({ attempt: attempt + 1, retryInMs: delay, err: describeError(error) }, 'MySQL write failed; retrying');
        await sleep(delay);
      }
    }
  }

  private async sendDeadLetters(letters: { ref: Ref; reason: string }[]): Promise<void> {
    const { config, logger } = this.options;
    const topic = config.topics.deadLetter;
    if (!this.producer) {
      await this.withKafkaRetry('create the dead-letter topic', async () => {
        const admin = this.kafka.admin();
        await admin.connect();
        try {
          // -1: the broker's default partitions and replication factor.
          await ensureTopics(admin, [{ name: topic, partitions: -1, replicationFactor: -1 }]);
        } finally {
          await admin.disconnect().catch(() => {});
        }
      });
      // Not idempotent: a dead letter duplicated by a retry is harmless, and kafkajs warns about
      // idempotence with the limited retries finpipe's client uses.
      const producer = this.kafka.producer({ allowAutoTopicCreation: false });
      await this.withKafkaRetry('connect the dead-letter producer', () => producer.connect());
      this.producer = producer;
    }
    for (const l of letters) {
      logger.warn({ source: sourceString(l.ref), reason: l.reason, deadLetterTopic: topic }, 'record sent to the dead-letter topic');
    }
    const messages = letters.map(({ ref, reason }) =>
      deadLetterMessage({ stage: 'sink', reason, source: sourceString(ref), value: ref.value ?? Buffer.alloc(0), key: ref.key, headers: ref.headers }),
    );
    await this.withKafkaRetry('send dead letters', () => this.producer!.send({ topic, messages, acks: -1 }));
  }

  /** Kafka operations the sink cannot skip (a dead letter must exist before its offset is committed): retried until they work. */
  private async withKafkaRetry(what: string, fn: () => Promise<unknown>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await fn();
        return;
      } catch (error) {
        if (this.stopping && attempt >= 3) {
          throw new FinpipeError('KAFKA_UNAVAILABLE', `could not ${what} while stopping: ${describeError(error)}`, { cause: error, hint: 'the affected records were not committed and will be read again on restart' });
        }
        const delay = backoffDelay(attempt, { initialMs: 500, maxMs: 10_000 });
        this.options.logger.warn({ attempt: attempt + 1, retryInMs: delay, err: describeError(error) }, `could not ${what}; retrying`);
        await sleep(delay);
      }
    }
  }

  private async commit(positions: { topic: string; partition: number; offset: string }[]): Promise<void> {
    if (positions.length === 0 || !this.consumer) return;
    try {
      await this.consumer.commitOffsets(positions);
      for (const p of positions) this.committed.set(partitionKey(p.topic, p.partition), BigInt(p.offset));
    } catch (error) {
      // Typically a rebalance moved the partition elsewhere. The rows are in MySQL; whoever
      // owns the partition now re-reads them from the previous commit, and the upserts make
      // that a no-op. So this costs time, never correctness.
      this.options.logger.warn({ err: describeError(error), positions }, 'could not commit offsets (rebalance?); those records will be read again and rewritten idempotently');
    }
  }

  private pauseAll(): void {
    if (this.paused && !this.stopping) return;
    this.paused = true;
    try {
      this.consumer?.pause(this.topics.map((topic) => ({ topic })));
    } catch {
      // not running yet
    }
  }

  private resumeAll(): void {
    if (!this.paused || this.stopping) return;
    this.paused = false;
    // While adding topics the consumer stays paused (onBatch would take nothing and kafkajs
    // fetch the same records again and again); the restart resumes it.
    if (this.resubscribing) return;
    try {
      this.consumer?.resume(this.topics.map((topic) => ({ topic })));
    } catch {
      // not running
    }
  }
}
