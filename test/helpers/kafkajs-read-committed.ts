/**
 * Makes kafkajs' read_committed consumers in this test process skip every aborted record.
 * Import it before anything that loads kafkajs.
 *
 * kafkajs 2.2.4 (src/consumer/filterAbortedMessages.js) expects the broker's list of
 * aborted transactions in first-offset order, and starts at most one of them per record.
 * Kafka lists them in the order they were aborted. So when several transactional producers
 * write one partition, a kafkajs consumer can return records of an aborted transaction.
 * This is seen when one producer's transaction starts first but is aborted later.
 *
 * In finpipe's topics, only the late-trades and dead-letter topics have several producers
 * (one per raw partition). Each per-symbol topic and each changelog partition has one
 * producer, so finpipe itself never reads a topic where this happens. The process tests
 * do: they read the late topic back after `kill -9`. There, without this fix, an aborted
 * transaction's late copies now and then showed up next to the committed ones.
 *
 * The filter below does what Kafka's Java consumer does. It sorts the aborted transactions
 * by first offset. It treats every transaction whose first offset has been reached as open
 * for its producer, until that producer's abort marker.
 */
import { createRequire } from 'node:module';

interface Message {
  offset: string;
  key: Buffer | null;
  batchContext: { producerId: string; inTransaction: boolean };
}

interface AbortedTransaction {
  producerId: string;
  firstOffset: string;
}

/** Key of an abort control record: version 0, type 0 (abort). */
const ABORT_MARKER_KEY = Buffer.from([0, 0, 0, 0]);

function filterAbortedMessages({
  messages,
  abortedTransactions,
}: {
  messages: Message[];
  abortedTransactions?: AbortedTransaction[];
}): Message[] {
  if (!abortedTransactions || abortedTransactions.length === 0) return messages;
  const pending = [...abortedTransactions].sort((a, b) => {
    const x = BigInt(a.firstOffset);
    const y = BigInt(b.firstOffset);
    return x < y ? -1 : x > y ? 1 : 0;
  });
  const aborting = new Set<string>();
  let next = 0;
  return messages.filter((message) => {
    const offset = BigInt(message.offset);
    while (next < pending.length && offset >= BigInt(pending[next].firstOffset)) aborting.add(String(pending[next++].producerId));
    const producerId = String(message.batchContext.producerId);
    if (message.key && Buffer.from(message.key).equals(ABORT_MARKER_KEY)) {
      aborting.delete(producerId);
      return true; // a control record: kafkajs drops it afterwards
    }
    return !(aborting.has(producerId) && message.batchContext.inTransaction);
  });
}

const load = createRequire(__filename);
const filterPath = load.resolve('kafkajs/src/consumer/filterAbortedMessages');
if (load.cache[load.resolve('kafkajs/src/consumer/batch')]) {
  throw new Error('test/helpers/kafkajs-read-committed must be imported before kafkajs is loaded (make it the first import)');
}
load(filterPath);
load.cache[filterPath]!.exports = filterAbortedMessages;
