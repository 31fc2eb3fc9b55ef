import { createHash } from 'node:crypto';
import type { IHeaders, Message } from 'kafkajs';
import { LIMITS } from '../limits';
import { metricHooks } from '../metrics/hooks';

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
 *
 * A value over LIMITS.recordMaxBytes would itself be refused by the broker (and stop the
 * stage), so it is cut to that size and three more headers say so:
 *   finpipe.dlq.truncated        `true`
 *   finpipe.dlq.original-bytes   the size of the whole value
 *   finpipe.dlq.original-sha256  hex sha256 of the whole value, to find the sender's copy
 */
export const DLQ_HEADERS = {
  reason: 'finpipe.dlq.reason',
  stage: 'finpipe.dlq.stage',
  source: 'finpipe.dlq.source',
  timestamp: 'finpipe.dlq.timestamp',
  truncated: 'finpipe.dlq.truncated',
  originalBytes: 'finpipe.dlq.original-bytes',
  originalSha256: 'finpipe.dlq.original-sha256',
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

export function deadLetterMessage(letter: DeadLetter, now = Date.now(), maxBytes: number = LIMITS.recordMaxBytes): Message {
  const value = typeof letter.value === 'string' ? Buffer.from(letter.value) : letter.value;
  metricHooks.deadLettered(letter.stage, letter.reason);
  const truncated =
    value.length > maxBytes
      ? {
          [DLQ_HEADERS.truncated]: 'true',
          [DLQ_HEADERS.originalBytes]: String(value.length),
          [DLQ_HEADERS.originalSha256]: createHash('sha256').update(value).digest('hex'),
        }
      : {};
  return {
    key: letter.key ?? null,
    value: value.length > maxBytes ? value.subarray(0, maxBytes) : letter.value,
    headers: {
      ...(letter.headers ?? {}),
      ...truncated,
      [DLQ_HEADERS.reason]: letter.reason.slice(0, 2000),
      [DLQ_HEADERS.stage]: letter.stage,
      [DLQ_HEADERS.source]: letter.source,
      [DLQ_HEADERS.timestamp]: String(now),
    },
  };
}
