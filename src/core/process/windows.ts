import type { Candle } from '../serde';

/**
 * Event-time tumbling windows, candles and the per-symbol watermark — pure logic, no Kafka.
 *
 * Semantics (the contract the tests and docs/data-model.md rely on):
 *   - A window of size w holds the trades with event time t in [start, start + w), where
 *     start = floor(t / w) * w: windows are aligned to the epoch (1m windows start on the minute).
 *   - Each symbol has its own watermark = (newest event time seen for that symbol) − lateness.
 *     It only moves forward, and only that symbol's trades move it.
 *   - A trade is *late for a window size* when its window has already closed, i.e.
 *     window_end <= watermark, with the watermark as it stood just before that trade.
 *     It is then left out of that size's candle (other sizes whose window is still open
 *     take it). A trade late for at least one size is reported to the caller, which routes
 *     it to the late-trades topic; nothing is silently dropped.
 *   - A window closes when the watermark reaches its end (window_end <= watermark). Its final
 *     candle has is_final = true and is the last version of that window.
 *   - emit "update": every drain() returns the changed windows' current candle (is_final =
 *     false) plus the final candle of each window that closed. emit "final": only the finals.
 *   - version = trade_count for an update and trade_count + 1 for the final candle. It grows
 *     with every change, is the same however the input was batched (updates are coalesced
 *     per transaction), so a reprocessed or restarted run writes identical versions, and the
 *     final is always the highest version of its window.
 *   - open/close: price of the trade with the earliest/latest event time; ties go to the
 *     earliest (open) or latest (close) trade in stream order. vwap = Σ(p·v)/Σv, null when
 *     Σv = 0; avg_price = plain mean of prices (the Spark pipelines' avg(price)).
 *
 * Stream order is the raw partition's order: a symbol's records all live in one raw partition
 * (key = symbol), so the result is deterministic for a given raw topic.
 */

export type EmitMode = 'update' | 'final';

export interface WindowConfig {
  /** Window sizes in ms, each > 0. */
  sizes: number[];
  latenessMs: number;
  emit: EmitMode;
}

/** One trade as far as candles are concerned. */
export interface PricePoint {
  price: number;
  volume: number;
  /** Event time, ms since epoch. */
  time: number;
}

/** The running aggregate of one open window. */
export interface WindowAggregate {
  size: number;
  start: number;
  open: number;
  openTime: number;
  high: number;
  low: number;
  close: number;
  closeTime: number;
  volume: number;
  /** Σ price·volume, for the VWAP. */
  priceVolume: number;
  count: number;
  /** Σ price, for avg_price. */
  priceSum: number;
}

/** What the state store keeps per symbol (plain JSON, see state-store.ts). */
export interface SymbolSnapshot {
  symbol: string;
  /** Newest event time seen; null before the first trade. */
  maxEventTime: number | null;
  windows: WindowAggregate[];
}

export interface LateInfo {
  /** The watermark that made the trade late. */
  watermark: number;
  /** The window sizes (ms) whose window for this trade had already closed. */
  missed: number[];
}

export function windowStart(time: number, size: number): number {
  return Math.floor(time / size) * size;
}

function windowKey(size: number, start: number): string {
  return `${size}:${start}`;
}

export function toCandle(symbol: string, w: WindowAggregate, isFinal: boolean): Candle {
  return {
    symbol,
    window_ms: w.size,
    window_start: w.start,
    window_end: w.start + w.size,
    open: w.open,
    high: w.high,
    low: w.low,
    close: w.close,
    volume: w.volume,
    vwap: w.volume > 0 ? w.priceVolume / w.volume : null,
    trade_count: w.count,
    avg_price: w.priceSum / w.count,
    is_final: isFinal,
    version: isFinal ? w.count + 1 : w.count,
  };
}

/** The open windows and watermark of one symbol. */
export class SymbolWindows {
  readonly symbol: string;
  private maxEventTime: number | null;
  private readonly open = new Map<string, WindowAggregate>();
  /** Windows changed since the last drain(). */
  private readonly changed = new Set<string>();

  constructor(
    symbol: string,
    private readonly config: WindowConfig,
    snapshot?: SymbolSnapshot,
  ) {
    this.symbol = symbol;
    this.maxEventTime = snapshot?.maxEventTime ?? null;
    for (const w of snapshot?.windows ?? []) {
      // A window size no longer configured is simply not carried forward.
      if (config.sizes.includes(w.size)) this.open.set(windowKey(w.size, w.start), { ...w });
    }
  }

  /** newest event time − lateness; null before the first trade. */
  watermark(): number | null {
    return this.maxEventTime === null ? null : this.maxEventTime - this.config.latenessMs;
  }

  /** Adds one trade; returns why it was late for some window sizes, or null. */
  add(trade: PricePoint): LateInfo | null {
    const watermark = this.watermark();
    let missed: number[] | null = null;
    for (const size of this.config.sizes) {
      const start = windowStart(trade.time, size);
      if (watermark !== null && start + size <= watermark) {
        (missed ??= []).push(size);
        continue;
      }
      const key = windowKey(size, start);
      const w = this.open.get(key);
      if (!w) {
        this.open.set(key, {
          size,
          start,
          open: trade.price,
          openTime: trade.time,
          high: trade.price,
          low: trade.price,
          close: trade.price,
          closeTime: trade.time,
          volume: trade.volume,
          priceVolume: trade.price * trade.volume,
          count: 1,
          priceSum: trade.price,
        });
      } else {
        if (trade.time < w.openTime) {
          w.open = trade.price;
          w.openTime = trade.time;
        }
        if (trade.time >= w.closeTime) {
          w.close = trade.price;
          w.closeTime = trade.time;
        }
        if (trade.price > w.high) w.high = trade.price;
        if (trade.price < w.low) w.low = trade.price;
        w.volume += trade.volume;
        w.priceVolume += trade.price * trade.volume;
        w.count += 1;
        w.priceSum += trade.price;
      }
      this.changed.add(key);
    }
    if (this.maxEventTime === null || trade.time > this.maxEventTime) this.maxEventTime = trade.time;
    return missed && { watermark: watermark as number, missed };
  }

  /**
   * The candles to emit now: finals of the windows the watermark has closed (they leave the
   * state) and, in update mode, the current version of every other window changed since the
   * last drain. Ordered by window size, then start, for a stable output order.
   */
  drain(): Candle[] {
    const watermark = this.watermark();
    const out: { w: WindowAggregate; isFinal: boolean }[] = [];
    for (const [key, w] of this.open) {
      if (watermark !== null && w.start + w.size <= watermark) {
        out.push({ w, isFinal: true });
        this.open.delete(key);
      } else if (this.config.emit === 'update' && this.changed.has(key)) {
        out.push({ w, isFinal: false });
      }
    }
    this.changed.clear();
    out.sort((a, b) => a.w.size - b.w.size || a.w.start - b.w.start);
    return out.map(({ w, isFinal }) => toCandle(this.symbol, w, isFinal));
  }

  snapshot(): SymbolSnapshot {
    const windows = [...this.open.values()].map((w) => ({ ...w })).sort((a, b) => a.size - b.size || a.start - b.start);
    return { symbol: this.symbol, maxEventTime: this.maxEventTime, windows };
  }

  openWindows(): number {
    return this.open.size;
  }
}
