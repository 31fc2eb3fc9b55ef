import avro from 'avsc';
import type { SchemaRegistryConfig } from '../../config';
import { FinpipeError } from '../../errors';
import { codecs, readSchema, type Codec } from '..';
import { FRAME_HEADER_LENGTH, frame, frameBody, frameHeader, frameId } from '../framing';
import { RegistryClient } from './client';

/**
 * Optional Schema Registry framing (the Confluent wire format, ../framing.ts) for every
 * Avro value finpipe writes and reads. Built from the settings by valueCodecs():
 *
 *   ValueWriter  encodes a value for a topic: framed with the registry id of finpipe's
 *                schema when a registry is configured (after prepare() registered the
 *                topic's subjects, refusing an incompatible schema), plain Avro otherwise.
 *   ValueReader  decodes both forms: a framed value with the writer's schema (fetched by id,
 *                cached) resolved against finpipe's, so older and newer compatible schemas
 *                read; a plain value as before. Throws FramingError (a DECODE_FAILED
 *                FinpipeError, so every stage dead-letters it with its message) for a framed
 *                value whose id the registry does not know, a plain value on a partition
 *                that already carries framed values, or a writer schema that cannot be read.
 *
 * Subjects: a topic holding one record type uses TopicNameStrategy, `<topic>-value` (the raw
 * and late-trades topics); a per-symbol topic holds two (Trade and Candle, told apart by the
 * finpipe.type header) and uses TopicRecordNameStrategy, `<topic>-finpipe.Trade` and
 * `<topic>-finpipe.Candle`, so each type evolves and is compatibility-checked on its own and
 * the value stays the plain record (a union schema would change every value's bytes).
 * Readers never need the subject: the id in each value names the schema.
 */

/** Which of finpipe's schemas a value has: raw trades (trades.avsc), finpipe.Trade, finpipe.Candle. */
export type ValueKind = 'raw' | 'trade' | 'candle';

const SCHEMA_FILE = { raw: 'trades', trade: 'trade', candle: 'candle' } as const;

const schemas: Partial<Record<ValueKind, avro.Schema>> = {};

/** finpipe's own (reader and writer) schema of a kind. */
export function schemaOf(kind: ValueKind): avro.Schema {
  return (schemas[kind] ??= readSchema(SCHEMA_FILE[kind]));
}

function codecOf(kind: ValueKind): Codec<unknown> {
  return codecs()[kind];
}

/** The subjects a topic's values are registered under (see the module comment). */
export function subjectsFor(topic: string, kinds: ValueKind[]): { subject: string; kind: ValueKind }[] {
  if (kinds.length === 1) return [{ subject: `${topic}-value`, kind: kinds[0] }];
  return kinds.map((kind) => ({ subject: `${topic}-${codecOf(kind).type.name!}`, kind }));
}

/** Why a value could not be read; its message is the dead-letter reason. */
export class FramingError extends FinpipeError {
  constructor(
    readonly reason: 'unknown-schema-id' | 'plain-on-framed' | 'unreadable-schema',
    message: string,
  ) {
    super('DECODE_FAILED', message);
  }
}

export interface ValueWriter {
  /** Whether values are framed (a registry is configured). */
  readonly framed: boolean;
  /**
   * Before the first value to `topic`: registers its subjects (framed only; once per topic).
   * Throws SCHEMA_INCOMPATIBLE when the registry refuses finpipe's schema, REGISTRY_* when it
   * cannot be reached or refuses the request.
   */
  prepare(topic: string, kinds: ValueKind[]): Promise<void>;
  /** The value's bytes for `topic`, which prepare() has seen. */
  encode(topic: string, kind: ValueKind, value: unknown): Buffer;
  /**
   * The 5-byte frame header every `kind` value for `topic` starts with (framed only; null
   * when plain), for fast encoders that write the body themselves.
   */
  header(topic: string, kind: ValueKind): Buffer | null;
}

export interface ValueReader {
  readonly framed: boolean;
  /** Before decoding a batch: looks up the schema ids of its framed values that are not cached yet. */
  prepare(values: Iterable<{ value: Buffer | null }>): Promise<void>;
  /** Decodes a value read from topic/partition; throws DECODE_FAILED (FramingError, or bad Avro) with the reason. */
  decode<T>(kind: ValueKind, value: Buffer, topic: string, partition: number): T;
  /**
   * The value as plain Avro of finpipe's own schema (what stores and fast paths take): a
   * plain value itself, a framed one's body when written with finpipe's schema, otherwise
   * decoded with the writer's schema and encoded again. Throws like decode.
   */
  plain(kind: ValueKind, value: Buffer, topic: string, partition: number): Buffer;
}

class PlainWriter implements ValueWriter {
  readonly framed = false;
  prepare(): Promise<void> {
    return Promise.resolve();
  }
  encode(_topic: string, kind: ValueKind, value: unknown): Buffer {
    return codecOf(kind).encode(value);
  }
  header(): null {
    return null;
  }
}

class PlainReader implements ValueReader {
  readonly framed = false;
  prepare(): Promise<void> {
    return Promise.resolve();
  }
  decode<T>(kind: ValueKind, value: Buffer): T {
    return codecOf(kind).decode(value) as T;
  }
  plain(_kind: ValueKind, value: Buffer): Buffer {
    return value;
  }
}

class FramedWriter implements ValueWriter {
  readonly framed = true;
  /** Per prepared topic, the frame header of each kind registered for it. */
  private readonly headers = new Map<string, Partial<Record<ValueKind, Buffer>>>();
  /** Registrations under way: process's partitions write to the same topics concurrently. */
  private readonly pending = new Map<string, Promise<void>>();
  private readonly scratch = Buffer.allocUnsafe(64 * 1024);

  constructor(private readonly client: RegistryClient) {}

  async prepare(topic: string, kinds: ValueKind[]): Promise<void> {
    const known = this.headers.get(topic);
    if (known && kinds.every((kind) => known[kind])) return;
    const key = `${topic}\u0000${kinds.join(',')}`;
    let pending = this.pending.get(key);
    if (!pending) {
      pending = this.register(topic, kinds).finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    await pending;
  }

  private async register(topic: string, kinds: ValueKind[]): Promise<void> {
    const known = this.headers.get(topic);
    const headers: Partial<Record<ValueKind, Buffer>> = { ...known };
    // Each subject is a compatibility check, a registration and, when new, a configuration;
    // the client sends the registration requests one at a time (RegistryClient.register says why).
    const subjects = subjectsFor(topic, kinds);
    const ids = await Promise.all(subjects.map(({ subject, kind }) => this.client.register(subject, schemaOf(kind))));
    subjects.forEach(({ kind }, i) => (headers[kind] = frameHeader(ids[i])));
    this.headers.set(topic, headers);
  }

  header(topic: string, kind: ValueKind): Buffer {
    const header = this.headers.get(topic)?.[kind];
    if (!header) throw new FinpipeError('INTERNAL', `no schema id for ${kind} values on topic ${topic}: prepare() was not called for it`);
    return header;
  }

  encode(topic: string, kind: ValueKind, value: unknown): Buffer {
    const header = this.header(topic, kind);
    // Header and body written into a scratch buffer, then copied out once: one allocation
    // per value, like plain encoding (frame() on top of toBuffer would cost a second one).
    header.copy(this.scratch, 0);
    const end = codecOf(kind).type.encode(value, this.scratch, FRAME_HEADER_LENGTH);
    if (end < 0) return frame(header, codecOf(kind).encode(value)); // larger than the scratch buffer
    return Buffer.from(this.scratch.subarray(0, end));
  }
}

/** How values with one schema id are read as one kind: directly (same schema), through a resolver, or not at all. */
type Reading = { direct: true } | { direct: false; resolver: avro.Resolver } | { problem: FramingError };

class FramedReader implements ValueReader {
  readonly framed = true;
  /** Writer schemas by id; null: the registry does not know the id. */
  private readonly writers = new Map<number, avro.Type | null>();
  private readonly readings: Record<ValueKind, Map<number, Reading>> = { raw: new Map(), trade: new Map(), candle: new Map() };
  /** Partitions (per topic) where a framed value was seen: from then on a plain value there is refused. */
  private readonly framedPartitions = new Map<string, Set<number>>();

  constructor(private readonly client: RegistryClient) {}

  async prepare(values: Iterable<{ value: Buffer | null }>): Promise<void> {
    const missing = new Set<number>();
    for (const { value } of values) {
      const id = value ? frameId(value) : -1;
      if (id >= 0 && !this.writers.has(id)) missing.add(id);
    }
    for (const id of missing) this.writers.set(id, await this.client.schema(id));
  }

  decode<T>(kind: ValueKind, value: Buffer, topic: string, partition: number): T {
    const reading = this.reading(kind, value, topic, partition);
    const codec = codecOf(kind);
    if (reading === null) return codec.decode(value) as T;
    if ('problem' in reading) throw reading.problem;
    // The body is read in place, after the header: one Buffer less per value.
    if (reading.direct) return codec.decode(value, FRAME_HEADER_LENGTH) as T;
    let result: { value: unknown; offset: number };
    try {
      result = codec.type.decode(value, FRAME_HEADER_LENGTH, reading.resolver);
    } catch (error) {
      throw new FinpipeError('DECODE_FAILED', `not a valid record of schema id ${frameId(value)}: ${(error as Error).message}`);
    }
    if (result.offset !== value.length)
      throw new FinpipeError(
        'DECODE_FAILED',
        `not a valid record of schema id ${frameId(value)}: ${result.offset < 0 ? 'truncated' : 'trailing bytes'}`,
      );
    return result.value as T;
  }

  plain(kind: ValueKind, value: Buffer, topic: string, partition: number): Buffer {
    const reading = this.reading(kind, value, topic, partition);
    if (reading === null) return value;
    if ('problem' in reading) throw reading.problem;
    if (reading.direct) return frameBody(value);
    return codecOf(kind).encode(this.decode(kind, value, topic, partition));
  }

  /** null: a plain value, read as before. */
  private reading(kind: ValueKind, value: Buffer, topic: string, partition: number): Reading | null {
    const id = frameId(value);
    let framed = this.framedPartitions.get(topic);
    if (id < 0) {
      if (!framed?.has(partition)) return null; // before the switch to framing: migration
      throw new FramingError(
        'plain-on-framed',
        `plain Avro value (no Schema Registry framing) on ${topic}/${partition}, whose earlier values are framed: ` +
          'it was written by a producer without --schema-registry; run every writer of the topic with the same registry',
      );
    }
    if (!framed) this.framedPartitions.set(topic, (framed = new Set()));
    framed.add(partition);
    let reading = this.readings[kind].get(id);
    if (!reading) this.readings[kind].set(id, (reading = this.resolve(kind, id)));
    return reading;
  }

  private resolve(kind: ValueKind, id: number): Reading {
    const writer = this.writers.get(id);
    if (writer === undefined) throw new FinpipeError('INTERNAL', `schema id ${id} was not looked up: call prepare() with the batch first`);
    if (writer === null)
      return {
        problem: new FramingError(
          'unknown-schema-id',
          `framed value with schema id ${id}, which the Schema Registry ${this.client.url} does not know ` +
            '(was the registry reset, or the value written against another registry?)',
        ),
      };
    const reader = codecOf(kind).type;
    if (writer.equals(reader)) return { direct: true };
    try {
      return { direct: false, resolver: reader.createResolver(writer) };
    } catch (error) {
      return {
        problem: new FramingError(
          'unreadable-schema',
          `schema id ${id} (${writer.name ?? writer.typeName}) cannot be read as ${reader.name}: ${(error as Error).message.slice(0, 300)}`,
        ),
      };
    }
  }
}

/** The writer and reader for these settings: framed with a registry, plain (today's format) without. */
export function valueCodecs(registry: SchemaRegistryConfig | null): { writer: ValueWriter; reader: ValueReader } {
  if (!registry) return { writer: new PlainWriter(), reader: new PlainReader() };
  const client = new RegistryClient(registry);
  return { writer: new FramedWriter(client), reader: new FramedReader(client) };
}

/** Plain Avro, exactly as without a registry: the default of the stages' options. */
export const PLAIN_VALUES = { writer: new PlainWriter() as ValueWriter, reader: new PlainReader() as ValueReader };

export { RegistryClient } from './client';
