import { parseTimestamp } from '../kafka/time-spec';

/**
 * `consume --offset`: where each partition starts, as rpk and kcat take it.
 *   start   the oldest retained record
 *   end     only records written from now on (with --follow; without it nothing is read)
 *   <n>     offset n (clamped to what the partition retains)
 *   -<n>    the last n records of each partition
 *   @<time> the first record with a timestamp at or after the time (ISO-8601, epoch ms, @-15m)
 */
export type OffsetSpec =
  | { kind: 'start' }
  | { kind: 'end' }
  | { kind: 'exact'; offset: number }
  | { kind: 'fromEnd'; count: number }
  | { kind: 'time'; timestamp: number };

export function parseOffsetSpec(value: string, now = Date.now()): OffsetSpec {
  const text = value.trim();
  if (text === 'start' || text === 'beginning' || text === 'earliest') return { kind: 'start' };
  if (text === 'end' || text === 'latest') return { kind: 'end' };
  if (/^\d+$/.test(text) && Number.isSafeInteger(Number(text))) return { kind: 'exact', offset: Number(text) };
  if (/^-\d+$/.test(text) && Number.isSafeInteger(-Number(text))) return { kind: 'fromEnd', count: -Number(text) };
  if (text.startsWith('@')) return { kind: 'time', timestamp: parseTimestamp(text.slice(1), now) };
  throw new Error(`"${value}" is not an offset; use start, end, <n>, -<n> or @<time> (e.g. @2024-06-10T12:00:00Z, @-15m)`);
}

/** What a partition retains: `low` is its first offset, `high` the one after its last committed record. */
export interface PartitionRange {
  low: number;
  high: number;
}

/**
 * The offset to start a partition at. `offsetAtTime` is the broker's answer for a time spec
 * (the first offset at or after it; `high` when there is none).
 */
export function startOffset(spec: OffsetSpec, range: PartitionRange, offsetAtTime?: number): number {
  const clamp = (n: number) => Math.min(Math.max(n, range.low), range.high);
  switch (spec.kind) {
    case 'start':
      return range.low;
    case 'end':
      return range.high;
    case 'exact':
      return clamp(spec.offset);
    case 'fromEnd':
      return clamp(range.high - spec.count);
    case 'time':
      return clamp(offsetAtTime ?? range.high);
  }
}
