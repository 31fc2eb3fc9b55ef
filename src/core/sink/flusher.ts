import { FinpipeError, describeError } from '../errors';
import type { Logger } from '../log';
import { metricHooks } from '../metrics/hooks';
import { giveUpAfterStop, retry, sleep } from '../retry';
import type { Store, WriteResult } from '../stores/types';
import type { Pending, RecordBuffer, Ref } from './buffer';
import type { Committer } from './committer';

export interface FlusherContext {
  store: Store<Ref>;
  /** The store's name in messages ("MySQL"). */
  storeLabel: string;
  buffer: RecordBuffer;
  committer: Committer;
  logger: Logger;
  shutdownGraceMs: number;
  stopping: () => boolean;
  /** Flush whatever is buffered now rather than waiting for it to fill or age. */
  hurry: () => boolean;
  /** Consumption stops while the store is unreachable, and goes on once a write got through. */
  pause: () => void;
  resume: () => void;
  /** A batch could not be committed: the sink must stop. */
  fail: (error: unknown) => void;
}

/**
 * Takes the buffer whenever a flush is due and a write slot is free, and starts its write;
 * up to the store's `maxInFlight` writes run at once. What follows a write — dead letters,
 * then the offset commit (the committer) — is chained in buffer order, so offsets are
 * committed strictly in order and only once every earlier buffer is in the store too. (Two
 * MySQL transactions touching the same candle serialise on its row lock, and the version
 * check keeps the newer one whichever commits last.)
 *
 * While a write runs the next buffer fills (the store and Kafka work in parallel). If the
 * store is unreachable, consumption pauses, the same batch is retried with backoff, and
 * consumption resumes once it is written: nothing is lost or duplicated.
 */
export class Flusher {
  private freeSlots: number;
  private slotWaiters: (() => void)[] = [];
  private wakeUp: () => void = () => {};
  /** The chain of "after the write" steps, in buffer order. */
  private chain: Promise<void> = Promise.resolve();
  /** When the current outage began (0: the store is reachable). */
  private outageStartedAt = 0;

  constructor(private readonly context: FlusherContext) {
    this.freeSlots = context.store.maxInFlight;
  }

  /** Ends the current wait for a flush to be due, to look again now. */
  wake(): void {
    this.wakeUp();
  }

  /** Flushes until stopping and the buffer is empty; resolves once every write is committed. */
  async run(): Promise<void> {
    const { buffer, stopping } = this.context;
    for (;;) {
      await this.flushDue();
      if (stopping() && buffer.pending.empty) break;
      await this.acquireSlot();
      const batch = buffer.take();
      if (batch.empty) {
        this.releaseSlot();
        continue;
      }
      const started = Date.now();
      const written = this.write(batch).finally(() => this.releaseSlot());
      written.catch(() => {}); // observed through the chain
      this.chain = this.chain.then(async () => {
        const result = await written;
        await this.context.committer.commitBatch(batch, result, started, Date.now() - started);
      });
      this.chain.catch((error) => this.context.fail(error));
    }
    await this.chain;
  }

  /** Writes and commits everything taken so far (unless stopping, which does that itself). */
  async drain(): Promise<void> {
    const { buffer, stopping } = this.context;
    while (!buffer.pending.empty && !stopping()) {
      this.wake();
      await sleep(20);
    }
    await this.chain.catch(() => {});
  }

  private async flushDue(): Promise<void> {
    const { buffer, stopping, hurry } = this.context;
    for (;;) {
      const waitMs = buffer.dueIn(stopping(), hurry());
      if (waitMs <= 0) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  private async acquireSlot(): Promise<void> {
    while (this.freeSlots === 0) await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    this.freeSlots--;
  }

  private releaseSlot(): void {
    this.freeSlots++;
    this.slotWaiters.shift()?.();
  }

  /** Writes one buffer, retrying the same batch with backoff while the store is unreachable. */
  private write(batch: Pending): Promise<WriteResult<Ref>> {
    const { store, storeLabel, logger, shutdownGraceMs, stopping } = this.context;
    const timedWrite = async (): Promise<WriteResult<Ref>> => {
      const started = performance.now();
      const result = await store.write(batch.rows);
      metricHooks.storeWritten((performance.now() - started) / 1000, batch.size, batch.lastRun);
      return result;
    };
    return retry(timedWrite, {
      initialMs: 200,
      maxMs: 5_000,
      onFirstFailure: (error) => this.outageBegan(error, batch.size),
      onRetry: (error, attempt, delayMs) => {
        metricHooks.storeRetried();
        logger.warn({ attempt: attempt + 1, retryInMs: delayMs, err: describeError(error) }, `${storeLabel} write failed; retrying`);
      },
      onRecovered: ({ attempts }) => this.outageEnded(attempts),
      giveUp: giveUpAfterStop(
        stopping,
        shutdownGraceMs,
        (last) =>
          new FinpipeError(
            last instanceof FinpipeError ? last.code : 'INTERNAL',
            `stopped while ${storeLabel} was unreachable; ${batch.size} buffered records were not written: ${describeError(last)}`,
            {
              cause: last,
              hint: 'nothing is lost: their offsets were not committed, so the next `finpipe sink` run reads them again',
            },
          ),
      ),
    });
  }

  /** Writes in flight fail together in an outage: the first one pauses consumption. */
  private outageBegan(error: unknown, records: number): void {
    if (this.outageStartedAt) return;
    this.outageStartedAt = Date.now();
    this.context.pause();
    this.context.logger.warn(
      { err: describeError(error), rows: records },
      `${this.context.storeLabel} unavailable: paused consumption; retrying the batch with backoff (nothing is committed until it is written)`,
    );
  }

  private outageEnded(attempts: number): void {
    if (!this.outageStartedAt) return;
    this.context.logger.info(
      { downForMs: Date.now() - this.outageStartedAt, attempts },
      `${this.context.storeLabel} is back: batch committed, resuming consumption`,
    );
    this.outageStartedAt = 0;
    this.context.resume();
  }
}
