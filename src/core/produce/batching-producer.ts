/**
 * Batching in front of kafkajs, which sends every send() call as its own request (it has no
 * linger.ms / batch.size of its own). Messages are queued and sent with sendBatch when
 *   - `maxBatchMessages` or `maxBatchBytes` are pending, or
 *   - the oldest pending message has waited `lingerMs` (light traffic), or
 *   - the previous batch was acknowledged and more is pending (heavy traffic: the batch
 *     size then follows the broker's round-trip time, like Nagle's algorithm).
 * One batch is in flight at a time, which keeps per-partition order with the idempotent
 * producer without relying on kafkajs' in-flight sequencing.
 *
 * Memory bound: bytes queued or in flight are counted; past `maxBufferedBytes`,
 * waitForSpace() returns a promise that resolves once the buffer has drained to half, and
 * sources stop reading until then (backpressure instead of growth).
 *
 * Acknowledgement: whenAcked() resolves once everything queued so far is acknowledged (HTTP
 * answers only then). Batches go out in queue order, so "acknowledged" is a prefix of the
 * queue: a count is enough. Someone waiting means the linger only adds latency, so it is cut.
 *
 * Failure: kafkajs retries retriable errors itself (forever: the idempotent producer must
 * not give up half-way); anything it gives up on is fatal and fails every later call.
 */
import type { Message, Producer, TopicMessages } from 'kafkajs';
import { FinpipeError, describeError } from '../errors';
import { LIMITS } from '../limits';
import type { Logger } from '../log';
import { metricHooks } from '../metrics/hooks';
import { PRODUCE_DEFAULTS, type BatchingOptions } from './options';

/** The part of kafkajs' Producer this needs (tests pass a fake to unit-test the batching). */
export type BatchSender = Pick<Producer, 'sendBatch'>;

interface Queued {
  topic: string;
  message: Message;
  bytes: number;
  /** What the message stands for (trades), summed per topic in the stats. */
  weight: number;
}

export interface TopicStats {
  messages: number;
  bytes: number;
  weight: number;
}

/** How long a send may stay unacknowledged before finpipe says so. */
const SLOW_SEND_WARN_MS = 10_000;

export class BatchingProducer {
  /** Acknowledged by Kafka, per topic. */
  readonly acked = new Map<string, TopicStats>();
  batches = 0;
  private queue: Queued[] = [];
  private queuedBytes = 0;
  private inflightBytes = 0;
  private sending: Promise<void> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private failure: FinpipeError | null = null;
  private spaceWaiters: { resolve(): void; reject(error: unknown): void }[] = [];
  /** Messages ever queued, and how many of them (the oldest) Kafka acknowledged. */
  private added = 0;
  private ackedCount = 0;
  private ackWaiters: { upTo: number; resolve(): void; reject(error: unknown): void }[] = [];
  private readonly opts: BatchingOptions;

  constructor(
    private readonly producer: BatchSender,
    private readonly logger: Logger,
    options: Partial<BatchingOptions> = {},
  ) {
    this.opts = { ...PRODUCE_DEFAULTS.batching, ...options };
  }

  /** Bytes accepted but not yet acknowledged. */
  get bufferedBytes(): number {
    return this.queuedBytes + this.inflightBytes;
  }

  get pendingMessages(): number {
    return this.queue.length;
  }

  /** Queues one message. Throws the send failure if Kafka has already failed. */
  add(topic: string, message: Message, weight = 1): void {
    if (this.failure) throw this.failure;
    const bytes = messageSize(message);
    this.queue.push({ topic, message, bytes, weight });
    this.added++;
    this.queuedBytes += bytes;
    if (this.sending) return; // sent when the batch in flight is acknowledged
    if (this.queue.length >= this.opts.maxBatchMessages || this.queuedBytes >= this.opts.maxBatchBytes) this.sendNext();
    else this.timer ??= setTimeout(() => this.sendNext(), this.opts.lingerMs);
  }

  /** undefined when there is room; otherwise a promise resolving once the buffer drained to half. */
  waitForSpace(): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    if (this.bufferedBytes < this.opts.maxBufferedBytes) return undefined;
    return new Promise((resolve, reject) => this.spaceWaiters.push({ resolve, reject }));
  }

  /** Resolves once every message queued so far is acknowledged; rejects if Kafka fails first. */
  whenAcked(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.ackedCount >= this.added) return Promise.resolve();
    const upTo = this.added;
    const acked = new Promise<void>((resolve, reject) => this.ackWaiters.push({ upTo, resolve, reject }));
    this.sendNext(); // no-op while a batch is in flight: the queue goes as soon as it is acknowledged
    return acked;
  }

  /** Sends everything queued now and resolves when all of it is acknowledged; rejects on failure. */
  async flush(): Promise<void> {
    while (!this.failure && (this.queue.length > 0 || this.sending)) {
      if (!this.sending) this.sendNext();
      await this.sending;
    }
    if (this.failure) throw this.failure;
  }

  private sendNext(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.sending || this.queue.length === 0 || this.failure) return;
    let n = 0;
    let bytes = 0;
    while (n < this.queue.length && n < this.opts.maxBatchMessages && (n === 0 || bytes + this.queue[n].bytes <= this.opts.maxBatchBytes)) {
      bytes += this.queue[n].bytes;
      n++;
    }
    const batch = this.queue.splice(0, n);
    this.queuedBytes -= bytes;
    this.inflightBytes = bytes;
    const byTopic = new Map<string, Message[]>();
    for (const q of batch) {
      const list = byTopic.get(q.topic);
      if (list) list.push(q.message);
      else byTopic.set(q.topic, [q.message]);
    }
    const topicMessages: TopicMessages[] = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
    const started = Date.now();
    const slow = setInterval(() => {
      this.logger.warn(
        { messages: batch.length, waitingMs: Date.now() - started, buffered: this.bufferedBytes },
        `Kafka has not acknowledged a batch of ${batch.length} messages for ${Math.round((Date.now() - started) / 1000)} s; still retrying (is the broker up?)`,
      );
    }, SLOW_SEND_WARN_MS);
    slow.unref(); // a warning must not keep the process alive
    this.sending = this.producer.sendBatch({ topicMessages, acks: -1 }).then(
      () => {
        clearInterval(slow);
        this.batches++;
        metricHooks.kafkaProduced((Date.now() - started) / 1000, batch.length);
        for (const q of batch) {
          const s = this.acked.get(q.topic) ?? { messages: 0, bytes: 0, weight: 0 };
          s.messages++;
          s.bytes += q.bytes;
          s.weight += q.weight;
          this.acked.set(q.topic, s);
        }
        this.inflightBytes = 0;
        this.sending = null;
        this.ackedCount += batch.length;
        while (this.ackWaiters.length > 0 && this.ackWaiters[0].upTo <= this.ackedCount) this.ackWaiters.shift()!.resolve();
        if (this.queue.length > 0) this.sendNext();
        if (this.bufferedBytes < this.opts.maxBufferedBytes / 2) {
          const waiters = this.spaceWaiters;
          this.spaceWaiters = [];
          for (const w of waiters) w.resolve();
        }
      },
      (error: unknown) => {
        clearInterval(slow);
        this.sending = null;
        this.failure = new FinpipeError('KAFKA_ERROR', `cannot write to Kafka: ${describeError(error)}`, {
          cause: error,
          hint: /too large/i.test(describeError(error))
            ? `finpipe keeps every record and request under ${LIMITS.recordMaxBytes} bytes, so the broker's message.max.bytes ` +
              "(or the topic's max.message.bytes) is set lower than that: raise it to at least 1 MiB, Kafka's default"
            : 'check the broker and its log; the trades not yet acknowledged were not written',
          context: { unacknowledgedMessages: batch.length + this.queue.length },
        });
        const waiters = [...this.spaceWaiters, ...this.ackWaiters];
        this.spaceWaiters = [];
        this.ackWaiters = [];
        for (const w of waiters) w.reject(this.failure);
      },
    );
  }
}

/** Roughly what a message costs in memory and on the wire. */
function messageSize(m: Message): number {
  let size = 64;
  if (m.value) size += m.value.length;
  if (m.key) size += m.key.length;
  if (m.headers) for (const [k, v] of Object.entries(m.headers)) size += k.length + (v ? (v as Buffer | string).length : 0);
  return size;
}
