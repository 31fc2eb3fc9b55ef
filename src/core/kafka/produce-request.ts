import { crc32c } from './crc32c';
import { encodeRecordFast, type EncodedRecord, type RecordInput } from './record-encoder';

/**
 * A faster encoder for kafkajs' Produce request (v3, the one kafkajs uses with Kafka ≥ 0.11),
 * byte for byte the same as kafkajs' own, installed next to the record encoder
 * (record-encoder.ts says how and why, and for which kafkajs version).
 *
 * After the record encoder, the request around the records was the largest cost left in
 * `process`: per record an object spread and an Encoder object, then the records copied into
 * a body that grows by doubling (zero-filled each time), the CRC computed a byte at a time,
 * the body copied again into the batch and the batch into the partition's data. Here each
 * partition's records are encoded once, the record batch is assembled in one exactly sized
 * Buffer, and the CRC-32C is computed 8 bytes at a time.
 *
 * Only the plain case is handled: no compression, no per-message timestamps (every record's
 * timestamp is then the request's Date.now(), as in kafkajs), records the record encoder
 * takes. Anything else is encoded by kafkajs. test/core/kafka/produce-request.test.ts
 * compares both on random requests.
 *
 * Layout (Kafka protocol, Produce v3 and RecordBatch v2): transactional_id (int16-length
 * string, -1 = null), acks int16, timeout int32, [topic (string), [partition int32, size
 * int32, record batch]]; a record batch is firstOffset int64 (0), length int32,
 * partitionLeaderEpoch int32 (0), magic int8 (2), crc uint32 (CRC-32C of what follows),
 * attributes int16 (16 = transactional), lastOffsetDelta int32, firstTimestamp int64,
 * maxTimestamp int64, producerId int64, producerEpoch int16, firstSequence int32, then the
 * record count int32 and the records.
 */

interface Long {
  getHighBits(): number;
  getLowBits(): number;
}
export interface LongClass {
  fromValue(value: unknown): Long;
}
interface PartitionData {
  partition: number;
  firstSequence?: number;
  messages: (RecordInput & { timestamp?: unknown })[];
}
export interface ProduceRequestArgs {
  acks: number;
  timeout: number;
  transactionalId?: string | null;
  producerId?: unknown;
  producerEpoch?: number;
  compression?: number;
  topicData: { topic: string; partitions: PartitionData[] }[];
}
interface ProduceRequest {
  encode(): Promise<EncodedRecord>;
}
export type ProduceRequestBuilder = (args: ProduceRequestArgs) => ProduceRequest;

const BATCH_HEADER = 8 + 4 + 4 + 1 + 4; // firstOffset, length, leader epoch, magic, crc
const BATCH_BODY_HEADER = 2 + 4 + 8 + 8 + 8 + 2 + 4 + 4; // attributes ... firstSequence, record count

function writeInt64(buf: Buffer, pos: number, value: Long | number): void {
  if (typeof value === 'number') {
    // Only the constants written here (0 and Date.now()) come as numbers: both are safe integers.
    buf.writeInt32BE(Math.floor(value / 2 ** 32), pos);
    buf.writeUInt32BE(value >>> 0, pos + 4);
  } else {
    buf.writeInt32BE(value.getHighBits(), pos);
    buf.writeInt32BE(value.getLowBits(), pos + 4);
  }
}

/** One partition's record batch, or null when a message is not ours to encode. */
function recordBatch(data: PartitionData, now: number, producerId: Long, producerEpoch: number, transactional: boolean): Buffer | null {
  const records: Buffer[] = [];
  let recordBytes = 0;
  const { messages } = data;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    if (m.timestamp != null) return null;
    const record = encodeRecordFast({ key: m.key, value: m.value, headers: m.headers, offsetDelta: i, timestampDelta: 0 });
    if (!record) return null;
    records.push(record);
    recordBytes += record.length;
  }
  const batch = Buffer.allocUnsafe(BATCH_HEADER + BATCH_BODY_HEADER + recordBytes);
  writeInt64(batch, 0, 0);
  batch.writeInt32BE(batch.length - 12, 8);
  batch.writeInt32BE(0, 12); // partition leader epoch
  batch.writeInt8(2, 16); // magic
  let pos = BATCH_HEADER;
  batch.writeInt16BE(transactional ? 16 : 0, pos);
  batch.writeInt32BE(messages.length - 1, pos + 2);
  writeInt64(batch, pos + 6, now);
  writeInt64(batch, pos + 14, now);
  writeInt64(batch, pos + 22, producerId);
  batch.writeInt16BE(producerEpoch, pos + 30);
  batch.writeInt32BE(data.firstSequence ?? 0, pos + 32);
  batch.writeInt32BE(messages.length, pos + 36);
  pos += BATCH_BODY_HEADER;
  for (const r of records) pos += r.copy(batch, pos);
  batch.writeUInt32BE(crc32c(batch, BATCH_HEADER, batch.length), 17);
  return batch;
}

function stringSize(s: string | null): number {
  return 2 + (s === null ? 0 : Buffer.byteLength(s, 'utf8'));
}

function writeString(buf: Buffer, pos: number, s: string | null): number {
  if (s === null) return buf.writeInt16BE(-1, pos);
  const n = buf.write(s, pos + 2, 'utf8');
  buf.writeInt16BE(n, pos);
  return pos + 2 + n;
}

/** The request's bytes, or null when kafkajs should encode it. */
export function encodeProduceRequest(args: ProduceRequestArgs, Long: LongClass): Buffer | null {
  const { acks, timeout, transactionalId = null, producerEpoch = 0, compression = 0, topicData } = args;
  if (compression !== 0) return null;
  const producerId = Long.fromValue(args.producerId ?? -1);
  const now = Date.now();
  const batches: Buffer[][] = [];
  let size = stringSize(transactionalId) + 2 + 4 + 4;
  for (const { topic, partitions } of topicData) {
    const list: Buffer[] = [];
    size += stringSize(topic) + 4;
    for (const p of partitions) {
      const batch = recordBatch(p, now, producerId, producerEpoch, !!transactionalId);
      if (!batch) return null;
      list.push(batch);
      size += 4 + 4 + batch.length;
    }
    batches.push(list);
  }
  const buf = Buffer.allocUnsafe(size);
  let pos = writeString(buf, 0, transactionalId);
  pos = buf.writeInt16BE(acks, pos);
  pos = buf.writeInt32BE(timeout, pos);
  pos = buf.writeInt32BE(topicData.length, pos);
  topicData.forEach(({ topic, partitions }, t) => {
    pos = writeString(buf, pos, topic);
    pos = buf.writeInt32BE(partitions.length, pos);
    partitions.forEach((p, i) => {
      const batch = batches[t][i];
      pos = buf.writeInt32BE(p.partition, pos);
      pos = buf.writeInt32BE(batch.length, pos);
      pos += batch.copy(buf, pos);
    });
  });
  return buf;
}

/** kafkajs' request builder with the fast encode() in front of its own. */
export function fastProduceRequest(original: ProduceRequestBuilder, Long: LongClass): ProduceRequestBuilder {
  return (args) => {
    const request = original(args);
    return {
      ...request,
      encode: async () => {
        const buf = encodeProduceRequest(args, Long);
        return buf ? { buf, buffer: buf } : request.encode();
      },
    };
  };
}
