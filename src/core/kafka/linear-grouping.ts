/**
 * A linear replacement for kafkajs' groupMessagesPerPartition, which sorts a produce
 * request's messages into partitions by copying the partition's whole array for every
 * message (`[...current, message]`): quadratic in the messages per topic per request. In
 * `process` it was the largest single item of the CPU profile (11 % at 500 records per topic
 * per request; docs/benchmarks.md). This one returns the same object (partition -> messages
 * in their order, the same partitioner calls in the same order) with one push per message.
 *
 * kafkajs captures the function when its producer modules load, so it can only be replaced
 * before that: `bin/finpipe` installs it before anything else is loaded. Code that loads
 * kafkajs first (a library caller, the tests) keeps kafkajs' own function, which gives the
 * same result, only slower. Only for the kafkajs version it was written against.
 */

const KAFKAJS_VERSION = '2.2.4';
const GROUPING_MODULE = 'kafkajs/src/producer/groupMessagesPerPartition.js';
const SEND_MESSAGES_MODULE = 'kafkajs/src/producer/sendMessages.js';

export interface GroupingInput<M> {
  topic: string;
  partitionMetadata: unknown[];
  messages: M[];
  partitioner: (args: { topic: string; partitionMetadata: unknown[]; message: M }) => number;
}

export function groupMessagesPerPartition<M>({ topic, partitionMetadata, messages, partitioner }: GroupingInput<M>): Record<number, M[]> {
  const result: Record<number, M[]> = {};
  if (partitionMetadata.length === 0) return result;
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    (result[partition] ??= []).push(message);
  }
  return result;
}

/* eslint-disable @typescript-eslint/no-require-imports -- kafkajs internals, by path, on purpose */

/** kafkajs' own function, for the equivalence test. */
export function kafkajsGrouping(): typeof groupMessagesPerPartition {
  return require(GROUPING_MODULE) as typeof groupMessagesPerPartition;
}

/** Whether kafkajs' producer groups with the linear function (installLinearGrouping ran first). */
export function linearGroupingInUse(): boolean {
  try {
    return require.cache[require.resolve(GROUPING_MODULE)]?.exports === groupMessagesPerPartition;
  } catch {
    return false;
  }
}

/**
 * Puts the linear grouping in kafkajs' place if kafkajs' producer has not been loaded yet;
 * returns whether it is in use.
 */
export function installLinearGrouping(): boolean {
  try {
    const pkg = require('kafkajs/package.json') as { version: string };
    if (pkg.version !== KAFKAJS_VERSION || require.cache[require.resolve(SEND_MESSAGES_MODULE)]) return false;
    require(GROUPING_MODULE); // loaded (it requires nothing) so that its cache entry exists
    const loaded = require.cache[require.resolve(GROUPING_MODULE)];
    if (!loaded) return false;
    loaded.exports = groupMessagesPerPartition;
    return true;
  } catch {
    return false; // kafkajs laid out differently: its own function stays
  }
}
