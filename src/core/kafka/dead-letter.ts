import type { IHeaders, Message } from 'kafkajs';

/**
 * Dead letters: bytes finpipe could not use, kept with the reason instead of being dropped.
 *
 * Every stage writes to one topic (FINPIPE_DLQ_TOPIC, default `finpipe.dlq`); the value is
 * the original bytes exactly as received, the headers say what went wrong and where it came
 * from (the same idea as Kafka Connect's `errors.deadletterqueue.context.headers.enable`):
 *
 *   finpipe.dlq.reason     human-readable reason, e.g. `p: must be a finite number >= 0`
 *   finpipe.dlq.stage      produce | process | sink
 *   finpipe.dlq.source     where the bytes came from: websocket URL (redacted), file:line, http,
 *                          or topic/partition/offset of the record
 *   finpipe.dlq.timestamp  ms since epoch when it was dead-lettered
 */
export const DLQ_HEADERS = {
  reason: 'finpipe.dlq.reason',
  stage: 'finpipe.dlq.stage',
  source: 'finpipe.dlq.source',
  timestamp: 'finpipe.dlq.timestamp',
} as const;

export interface DeadLetter {
  stage: 'produce' | 'process' | 'sink';
  reason: string;
  source: string;
  value: Buffer | string;
  key?: Buffer | string | null;
  /** Extra headers kept from the original record. */
  headers?: IHeaders;
}

export function deadLetterMessage(letter: DeadLetter, now = Date.now()): Message {
  return {
    key: letter.key ?? null,
    value: letter.value,
    headers: {
      ...(letter.headers ?? {}),
      [DLQ_HEADERS.reason]: letter.reason.slice(0, 2000),
      [DLQ_HEADERS.stage]: letter.stage,
      [DLQ_HEADERS.source]: letter.source,
      [DLQ_HEADERS.timestamp]: String(now),
    },
  };
}
