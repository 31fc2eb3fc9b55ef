import type { Admin, Kafka } from 'kafkajs';
import type { Config } from '../config';
import { FinpipeError, describeError } from '../errors';
import { kafkaUnavailable } from '../kafka/errors';
import type { Logger } from '../log';
import { sleep } from '../retry';
import { assertTopicName, topicNameProblem } from '../symbols';

/**
 * Topics Kafka keeps for itself: the group offsets, the transaction log, share-group state
 * (Kafka 4), the KRaft metadata log and tiered storage's metadata. Only these: a per-symbol
 * topic may begin with "__" too (symbolToTopic turns "🚀:MOON" into "___MOON"), and such a
 * topic is read like any other.
 */
const KAFKA_INTERNAL_TOPICS = new Set([
  '__consumer_offsets',
  '__transaction_state',
  '__share_group_state',
  '__cluster_metadata',
  '__remote_log_metadata',
]);

/**
 * Topics that belong to a consumer group rather than to a symbol: finpipe process's state
 * changelog (`<group>-state`). Its records are not trades or candles; copying them into the
 * dead-letter topic helps nobody. process never gives a symbol such a name (it dead-letters
 * symbols whose topic would end in "-state"), so no per-symbol topic is skipped for it.
 * (Other suffixes, such as Kafka Streams' "-changelog", stay readable: process may name a
 * symbol's topic that way, and a topic process could have created must always be read.)
 */
const GROUP_TOPIC_SUFFIXES: [string, string][] = [
  ['-state', 'a state changelog (finpipe process keeps its open windows in `<group>-state`)'],
];

/**
 * Why `topic` is not a per-symbol topic the sink may read, or null when it may be. Used
 * for named topics (a usage error) and for --pattern matches (skipped), so both refuse
 * exactly the same names.
 */
export function notASymbolTopic(config: Config, topic: string): string | null {
  if (KAFKA_INTERNAL_TOPICS.has(topic)) return "Kafka's internal topic";
  if (topic === config.topics.raw) return 'the raw trades topic (read by finpipe process, not sink)';
  if (topic === config.topics.deadLetter) return 'the dead-letter topic (the sink writes to it)';
  if (topic === config.topics.late) return 'the late-trades topic';
  for (const [suffix, what] of GROUP_TOPIC_SUFFIXES) if (topic.endsWith(suffix)) return what;
  return null;
}

/**
 * --pattern matches whole names: `A|AAPL` must match AAPL, which a search for the pattern
 * at position 0 does not (it finds "A" and stops). Anchoring the user's pattern as one group
 * gives every alternative the whole name; g and y are dropped since they make test() stateful.
 */
export function wholeNamePattern(pattern: RegExp): RegExp {
  return new RegExp(`^(?:${pattern.source})$`, pattern.flags.replace(/[gy]/g, ''));
}

/**
 * Validates the topic names before anything connects. A name that is not a legal Kafka
 * topic (for example one containing a backtick or a semicolon) is refused here; what the
 * sink writes never contains topic names anyway (tables are shared, keyed by symbol).
 */
export function validateSinkTopics(config: Config, topics: string[]): string[] {
  for (const topic of topics) {
    assertTopicName(topic);
    const why = notASymbolTopic(config, topic);
    if (why) {
      throw new FinpipeError('USAGE', `${topic} is ${why}; finpipe sink reads only the per-symbol topics written by finpipe process`, {
        hint: "pass per-symbol topics such as BINANCE_BTCUSDT, or --pattern 'BINANCE_.*'",
        context: { topic },
      });
    }
  }
  return [...new Set(topics)];
}

export interface TopicSelection {
  config: Config;
  /** Topics named explicitly (validated). */
  named: string[];
  /** Also every existing topic whose whole name matches (except what notASymbolTopic refuses). */
  pattern?: RegExp;
}

/** Of the `existing` topics, those to read now: the named ones plus every match of the pattern; and the named ones still missing. */
export function selectTopics(existing: Set<string>, { config, named, pattern }: TopicSelection): { found: string[]; missing: string[] } {
  const found = new Set(named.filter((t) => existing.has(t)));
  if (pattern) {
    const whole = wholeNamePattern(pattern);
    for (const t of existing) {
      if (whole.test(t) && !notASymbolTopic(config, t) && !topicNameProblem(t)) found.add(t);
    }
  }
  return { found: [...found].sort(), missing: named.filter((t) => !existing.has(t)) };
}

async function matchTopics(admin: Admin, selection: TopicSelection): Promise<{ found: string[]; missing: string[] }> {
  return selectTopics(new Set(await admin.listTopics()), selection);
}

/**
 * The topics to start with: waits (logging what for) until every named topic exists and,
 * with only a pattern, until one matches; process creates per-symbol topics on demand.
 * Returns what exists when `signal` aborts.
 */
export async function waitForTopics(
  kafka: Kafka,
  selection: TopicSelection,
  { logger, pollMs, signal }: { logger: Logger; pollMs: number; signal: AbortSignal },
): Promise<string[]> {
  const { config, pattern } = selection;
  const admin = kafka.admin();
  try {
    await admin.connect();
  } catch (error) {
    throw kafkaUnavailable(error, config.kafka.brokers);
  }
  try {
    let announced = '';
    for (;;) {
      const { found, missing } = await matchTopics(admin, selection);
      const ready = missing.length === 0 && found.length > 0;
      if (ready || signal.aborted) return found;
      const waitingFor = missing.length > 0 ? missing.join(', ') : `a topic matching ${pattern}`;
      if (announced !== waitingFor) {
        logger.warn(
          { missing, pattern: pattern?.source },
          `waiting for ${waitingFor} to be created (finpipe process creates per-symbol topics when it sees the first trade)`,
        );
        announced = waitingFor;
      }
      await sleep(pollMs, signal);
    }
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/**
 * --pattern: topics that match and are created later (process creates one per new symbol)
 * are added while running, as Kafka Connect's topics.regex does. kafkajs only subscribes
 * before run(), so the consumer is restarted (SinkConsumer.addTopics): stop taking records,
 * write and commit what was taken, stop, subscribe to the new topics too, run. The group
 * rebalances and every partition resumes from its committed offset, so nothing is skipped.
 * With several sinks in one group, each adds the topic on its own poll; kafkajs' group
 * leader assigns only topics it subscribes to itself, so a new topic's partitions may wait
 * for the slowest member (a member handed topics it does not know wakes its watcher at once).
 */
export class PatternWatcher {
  private wakeUp: () => void = () => {};

  constructor(
    private readonly kafka: Kafka,
    private readonly selection: TopicSelection,
    private readonly options: {
      logger: Logger;
      pollMs: number;
      stopped: AbortSignal;
      current: () => string[];
      add: (topics: string[]) => Promise<void>;
    },
  ) {}

  /** Looks for new matches now rather than at the next poll. */
  wake(): void {
    this.wakeUp();
  }

  /** Polls until `stopped` aborts. */
  async run(): Promise<void> {
    const { logger, pollMs, stopped, current, add } = this.options;
    const admin = this.kafka.admin();
    try {
      while (!stopped.aborted) {
        await this.nap(pollMs);
        if (stopped.aborted) break;
        let added: string[];
        try {
          await admin.connect(); // a no-op once connected
          const { found } = await matchTopics(admin, this.selection);
          added = found.filter((t) => !current().includes(t));
        } catch (error) {
          logger.debug({ err: describeError(error) }, 'could not list topics to look for new --pattern matches; trying again later');
          continue;
        }
        if (added.length > 0) await add(added);
      }
    } catch (error) {
      // Only while stopping (retryKafka gives up then): the records are read again on restart.
      logger.warn({ err: describeError(error) }, 'stopped while adding topics matching --pattern');
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /** Waits `ms`, or less if the sink stops or wake() is called. */
  private nap(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const { stopped } = this.options;
      const done = () => {
        clearTimeout(timer);
        stopped.removeEventListener('abort', done);
        this.wakeUp = () => {};
        resolve();
      };
      const timer = setTimeout(done, ms);
      stopped.addEventListener('abort', done, { once: true });
      this.wakeUp = done;
    });
  }
}
