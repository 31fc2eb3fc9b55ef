import type { Config } from '../config';
import { FinpipeError } from '../errors';
import { withAdmin } from '../kafka/admin';
import { createKafka } from '../kafka/client';
import { isKafkaConnectionError, kafkaUnavailable } from '../kafka/errors';
import type { Logger } from '../log';
import { decodeRecord, type DecodeOptions, type TopicKind } from './decode';
import { jsonLine, tableHeader, tableLine, type PrintOptions } from './format';
import type { OffsetSpec } from './offset-spec';
import { planRead, readPartitions, type RawRecord } from './reader';

/**
 * `finpipe consume <topic>`: prints a topic's records decoded (like rpk topic consume /
 * kcat -C). The pieces: reader.ts reads without leaving a group behind, decode.ts turns
 * bytes into a record, format.ts prints it.
 */
export interface ConsumeRequest {
  topic: string;
  offset: OffsetSpec;
  partitions: number[];
  limit?: number;
  follow: boolean;
  print: PrintOptions;
  /** Decoding extras (Schema Registry framing, when configured). */
  decode?: DecodeOptions;
}

/** What a topic is to finpipe, from its name and the configured topic names. */
export function topicKind(topic: string, topics: Config['topics']): TopicKind {
  if (topic === topics.raw) return 'raw';
  if (topic === topics.late) return 'late';
  if (topic === topics.deadLetter) return 'dead-letter';
  // process's changelog, `<group>-state` (its records carry no header to tell them by).
  if (topic.endsWith('-state')) return 'state';
  return 'other';
}

/** Writes chunks to a stream, waiting for it to drain so a slow reader (a pager) bounds memory. */
export type Output = (chunk: string | Buffer) => Promise<void>;

export function streamOutput(stream: NodeJS.WritableStream): Output {
  return (chunk) =>
    new Promise((resolve) => {
      if (stream.write(chunk)) resolve();
      else stream.once('drain', resolve);
    });
}

/** Reads and prints; returns the number of records printed. */
export async function consume(
  config: Config,
  logger: Logger,
  request: ConsumeRequest,
  signal: AbortSignal,
  output: Output,
): Promise<number> {
  const kind = topicKind(request.topic, config.topics);
  const { print } = request;
  let headerShown = false;
  const onRecord = async (record: RawRecord): Promise<void> => {
    if (print.format === 'raw') return output(record.value === null ? '\n' : Buffer.concat([record.value, Buffer.from('\n')]));
    const decoded = await decodeRecord(kind, record, request.decode);
    if (print.format === 'json') return output(`${jsonLine({ ...record, decoded }, print)}\n`);
    if (!headerShown) {
      headerShown = true;
      await output(`${tableHeader(print)}\n`);
    }
    return output(`${tableLine({ ...record, decoded }, print)}\n`);
  };
  const kafka = createKafka(config.kafka, logger, 'consume', { retries: 3 });
  return withAdmin(config.kafka, logger, async (admin) => {
    const plan = await planRead(admin, request);
    logger.debug({ topic: request.topic, plan }, 'consume plan');
    try {
      return await readPartitions(kafka, admin, plan, { ...request, signal, onRecord }, logger);
    } catch (error) {
      if (error instanceof FinpipeError) throw error;
      if (isKafkaConnectionError(error)) throw kafkaUnavailable(error, config.kafka.brokers);
      throw new FinpipeError('KAFKA_ERROR', `reading ${request.topic} failed: ${(error as Error).message}`, { cause: error });
    }
  });
}
