import type { Message, TopicMessages } from 'kafkajs';
import { linearGroupingInUse } from '../kafka/linear-grouping';

/**
 * How a transaction's records are cut into produce requests. Each request is one round trip,
 * and a transaction sends its requests one after another (a partition's records must stay in
 * order), so fewer and larger requests mean a shorter transaction; the limits:
 *   - per topic: at most 512 kB, well under the broker's 1 MB message.max.bytes for one
 *     partition's record batch;
 *   - per request: at most 4 MB in all, which bounds the memory of one encoded request;
 *   - per topic, at most this many records: kafkajs' own grouping of a request's records per
 *     partition copies the partition's array for every record (quadratic), so without
 *     finpipe's linear grouping (bin/finpipe installs it; a library caller may not) requests
 *     stay at 500 records per topic.
 */
const MAX_TOPIC_BYTES = 512 * 1024;
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
const MAX_RECORDS_PER_TOPIC = { linear: 20_000, quadratic: 500 };

const byteLength = (v: Buffer | string): number => (typeof v === 'string' ? Buffer.byteLength(v) : v.length);

/**
 * An upper bound of a record's size in a record batch: key, value and headers (a late copy's
 * or a dead letter's headers can outweigh its value), plus 64 bytes for the record's own
 * fields and each header's 8.
 */
function messageBytes(m: Message): number {
  let n = 64;
  if (m.value) n += byteLength(m.value);
  if (m.key) n += byteLength(m.key);
  if (m.headers) {
    for (const [name, value] of Object.entries(m.headers)) {
      n += 8 + Buffer.byteLength(name);
      for (const v of Array.isArray(value) ? value : [value]) if (v !== undefined) n += byteLength(v);
    }
  }
  return n;
}

let recordsPerTopic: number | undefined;
/** Looked up once (kafkajs is loaded by the time a transaction is built, so it cannot change), not per transaction. */
function maxRecordsPerTopic(): number {
  recordsPerTopic ??= linearGroupingInUse() ? MAX_RECORDS_PER_TOPIC.linear : MAX_RECORDS_PER_TOPIC.quadratic;
  return recordsPerTopic;
}

interface Chunk {
  topics: Map<string, { messages: Message[]; bytes: number }>;
  bytes: number;
}

/** Output of one transaction, in the order it must be written, cut into produce requests. */
export class OutputBuffer {
  private readonly chunks: Chunk[] = [{ topics: new Map(), bytes: 0 }];
  private readonly maxRecordsPerTopic = maxRecordsPerTopic();

  push(topic: string, message: Message): void {
    const size = messageBytes(message);
    let chunk = this.chunks[this.chunks.length - 1];
    let list = chunk.topics.get(topic);
    const full =
      chunk.bytes + size > MAX_REQUEST_BYTES ||
      (list !== undefined && (list.bytes + size > MAX_TOPIC_BYTES || list.messages.length >= this.maxRecordsPerTopic));
    if (full && chunk.bytes > 0) {
      this.chunks.push((chunk = { topics: new Map(), bytes: 0 }));
      list = undefined;
    }
    if (!list) chunk.topics.set(topic, (list = { messages: [], bytes: 0 }));
    list.messages.push(message);
    list.bytes += size;
    chunk.bytes += size;
  }

  batches(): TopicMessages[][] {
    return this.chunks.filter((c) => c.topics.size > 0).map((c) => [...c.topics].map(([topic, { messages }]) => ({ topic, messages })));
  }
}
