/**
 * The Confluent wire format, as Kafka UI, kcat -s avro, Kafka Connect's AvroConverter and
 * ksqlDB read it: one magic byte 0, the writer schema's registry id as a 4-byte big-endian
 * integer, then the plain Avro binary of the record. Pure byte handling; which id a record
 * gets and how ids become schemas is src/core/serde/registry.
 */
export const MAGIC_BYTE = 0;
export const FRAME_HEADER_LENGTH = 5;

/** The 5-byte prefix for schema `id`, built once per id and copied in front of every record. */
export function frameHeader(id: number): Buffer {
  const header = Buffer.alloc(FRAME_HEADER_LENGTH);
  header[0] = MAGIC_BYTE;
  header.writeUInt32BE(id, 1);
  return header;
}

/** `header` + `body` in one new Buffer. */
export function frame(header: Buffer, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + body.length);
  header.copy(out, 0);
  body.copy(out, FRAME_HEADER_LENGTH);
  return out;
}

/**
 * The schema id of a framed value; -1 when the value is not framed. A plain finpipe record
 * never starts with byte 0 except a raw record with an empty trade list (no producer writes
 * one), so the first byte tells the two forms apart.
 */
export function frameId(value: Buffer): number {
  if (value.length < FRAME_HEADER_LENGTH || value[0] !== MAGIC_BYTE) return -1;
  return value.readUInt32BE(1);
}

/** The Avro body of a framed value (no copy). */
export function frameBody(value: Buffer): Buffer {
  return value.subarray(FRAME_HEADER_LENGTH);
}
