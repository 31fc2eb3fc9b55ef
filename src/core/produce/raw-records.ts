/**
 * One symbol's trades of one frame -> raw-topic record values, each at most `maxBytes`.
 *
 * Normally that is one record. A frame can carry any number of trades (a 100,000-trade
 * burst, a large HTTP body), and a record over the broker's message.max.bytes would be
 * refused and stop `produce`; so a value over the limit is split into consecutive runs of
 * trades. The caller writes them in order with the same key, so they land on the same
 * partition one after the other and the symbol's order is kept; a consumer sees the same
 * trades in the same order as from one record.
 *
 * One trade always fits: the limits checked at the door (symbol length, conditions) keep a
 * trade under a kilobyte.
 */
import type { RawTrade } from '../serde';

export interface RawRecordValue {
  value: Buffer;
  /** How many trades it holds. */
  trades: number;
}

export function encodeRawRecords(trades: RawTrade[], maxBytes: number, encode: (data: RawTrade[]) => Buffer): RawRecordValue[] {
  const value = encode(trades);
  if (value.length <= maxBytes || trades.length <= 1) return [{ value, trades: trades.length }];
  // Aim each part at 90% of the limit so that uneven trade sizes rarely need a second split;
  // a part still over it is split again.
  const parts = Math.max(2, Math.ceil(value.length / (maxBytes * 0.9)));
  const size = Math.ceil(trades.length / parts);
  const out: RawRecordValue[] = [];
  for (let i = 0; i < trades.length; i += size) out.push(...encodeRawRecords(trades.slice(i, i + size), maxBytes, encode));
  return out;
}
