import type { Message, TopicMessages } from 'kafkajs';

/** Stay well under the broker's 1 MB message.max.bytes for one produce request's batch. */
const MAX_CHUNK_BYTES = 512 * 1024;
/** kafkajs groups a request's records per partition by copying the array for every record
 * (quadratic), so one request carries at most this many records per topic. */
const MAX_CHUNK_RECORDS_PER_TOPIC = 500;

function messageBytes(m: Message): number {
  let n = 64;
  if (m.value) n += typeof m.value === 'string' ? Buffer.byteLength(m.value) : m.value.length;
  if (m.key) n += typeof m.key === 'string' ? Buffer.byteLength(m.key) : m.key.length;
  return n;
}

/** Output of one transaction, in the order it must be written, cut into produce requests. */
export class OutputBuffer {
  private chunks: Map<string, Message[]>[] = [new Map<string, Message[]>()];
  private bytes = 0;

  push(topic: string, message: Message): void {
    const size = messageBytes(message);
    let chunk = this.chunks[this.chunks.length - 1];
    if (this.bytes > 0 && (this.bytes + size > MAX_CHUNK_BYTES || (chunk.get(topic)?.length ?? 0) >= MAX_CHUNK_RECORDS_PER_TOPIC)) {
      this.chunks.push((chunk = new Map<string, Message[]>()));
      this.bytes = 0;
    }
    this.bytes += size;
    let list = chunk.get(topic);
    if (!list) chunk.set(topic, (list = []));
    list.push(message);
  }

  batches(): TopicMessages[][] {
    return this.chunks.filter((c) => c.size > 0).map((c) => [...c].map(([topic, messages]) => ({ topic, messages })));
  }
}
