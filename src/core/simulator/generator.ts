/**
 * Deterministic Finnhub-like trade generator.
 *
 * Wire shape of one trade (Finnhub `{"type":"trade","data":[...]}` element):
 *   {"s":"BINANCE:BTCUSDT","p":60012.37,"t":1718000000123,"v":0.004821,"c":["1","12"]}
 *   s symbol, p price (> 0, rounded to the symbol's tick), t ms since epoch, v volume
 *   (>= 0; ~3% are 0 like venue price updates), c condition codes, absent on ~50% of trades.
 *
 * Randomness is split in two kinds of streams, all derived from the seed:
 * - one per symbol (price walk, volume, conditions), so a symbol's own sequence of
 *   (p, v, c) does not depend on which other symbols are generated alongside it;
 * - one for the interleaving (which symbol trades next, time gaps, late trades).
 * Equal seed + equal symbol list (+ equal startTimeMs) => identical trades.
 */
import { Normal, deriveSeed, fnv1a, mulberry32 } from './prng';
import { profileFor, type SymbolProfile } from './catalog';

export interface FinnhubTrade {
  s: string;
  p: number;
  t: number;
  v: number;
  c?: string[];
}

/** Share of trades with v = 0. */
export const ZERO_VOLUME_FRACTION = 0.03;
/** Share of trades stamped 1..LATE_MAX_MS ms older than the trade before them. */
export const LATE_FRACTION = 0.02;
export const LATE_MAX_MS = 3000;
/** Share of trades without a `c` field. */
export const NO_CONDITIONS_FRACTION = 0.5;
/** Chance that the next trade is on the same symbol as the previous one (bursts). */
const REPEAT_SYMBOL = 0.3;
/** Mean-reversion pull of the log-price toward its start, per trade (keeps long runs plausible). */
const THETA = 2e-6;

const CONDITION_SETS: readonly (readonly string[])[] = [['1'], ['1', '12'], ['12'], ['8'], ['1', '8'], ['24'], ['1', '24', '12'], ['37']];
const CONDITION_JSON = CONDITION_SETS.map((c) => `,"c":${JSON.stringify(c)}`);

interface SymbolState {
  readonly symbol: string;
  readonly json: string; // JSON-encoded symbol, computed once
  readonly profile: SymbolProfile;
  readonly rand: () => number;
  readonly normal: Normal;
  readonly x0: number; // log start price
  x: number; // log price
  readonly pScale: number;
  readonly vScale: number;
  readonly logVMedian: number;
}

/**
 * Mutable trade engine behind both the pure generator and the server's connections.
 * Symbols can be added and removed while running (subscriptions); a removed symbol keeps
 * its price state, so re-subscribing continues its walk.
 *
 * Clock: 'virtual' advances its own clock by random gaps from startTimeMs (deterministic);
 * 'wall' stamps trades with the time given to setNow() (the server's mode: "around now").
 */
export class TradeEngine {
  private readonly states = new Map<string, SymbolState>();
  private active: SymbolState[] = [];
  private readonly rand: () => number;
  private clock: number;
  private lastT: number;
  private last: SymbolState | undefined;

  // The current trade, filled by step().
  private curS!: SymbolState;
  private curP = 0;
  private curT = 0;
  private curV = 0;
  private curC = -1;

  constructor(
    private readonly seed: number,
    startTimeMs: number,
    private readonly clockMode: 'virtual' | 'wall' = 'virtual',
  ) {
    this.rand = mulberry32(deriveSeed(seed, '\u0000interleave'));
    this.clock = Math.floor(startTimeMs);
    this.lastT = this.clock;
  }

  get activeCount(): number {
    return this.active.length;
  }

  has(symbol: string): boolean {
    return this.active.some((s) => s.symbol === symbol);
  }

  add(symbol: string): void {
    if (this.has(symbol)) return;
    let st = this.states.get(symbol);
    if (!st) {
      const profile = profileFor(symbol, fnv1a(symbol));
      const rand = mulberry32(deriveSeed(this.seed, symbol));
      const x0 = Math.log(profile.startPrice);
      st = {
        symbol,
        json: JSON.stringify(symbol),
        profile,
        rand,
        normal: new Normal(rand),
        x0,
        x: x0,
        pScale: Math.pow(10, profile.priceDecimals),
        vScale: Math.pow(10, profile.volumeDecimals),
        logVMedian: Math.log(profile.volumeMedian),
      };
      this.states.set(symbol, st);
    }
    this.active.push(st);
  }

  remove(symbol: string): void {
    const i = this.active.findIndex((s) => s.symbol === symbol);
    if (i < 0) return;
    if (this.active[i] === this.last) this.last = undefined;
    this.active.splice(i, 1);
  }

  /** Wall-clock mode: the time (ms) that the next trades are stamped with. */
  setNow(ms: number): void {
    if (ms > this.clock) this.clock = ms;
  }

  /** Generates the next trade into the engine's current-trade fields. */
  private step(): void {
    const n = this.active.length;
    if (n === 0) throw new RangeError('trade generator has no symbols');
    const r = this.rand;

    // Which symbol: bursts on one symbol, otherwise uniform.
    let st: SymbolState;
    if (this.last !== undefined && r() < REPEAT_SYMBOL) st = this.last;
    else st = this.active[n === 1 ? 0 : Math.floor(r() * n)]!;
    this.last = st;

    // When: half the trades share the previous millisecond, the rest come after an
    // exponential gap (mean 15 ms). The draw is made in wall mode too so both modes
    // consume the stream identically.
    const u = r();
    if (this.clockMode === 'virtual' && u >= 0.5) this.clock += Math.floor(-Math.log(1 - (u - 0.5) * 2) * 15);
    let t = this.clock;
    if (r() < LATE_FRACTION) {
      const late = 1 + Math.floor(r() * LATE_MAX_MS);
      t = Math.max(0, this.lastT - late);
    }
    this.lastT = t;

    // Price: mean-reverting random walk of the log-price, rounded to the tick, never <= 0.
    const sr = st.rand;
    st.x += THETA * (st.x0 - st.x) + st.profile.sigma * st.normal.next();
    let p = Math.round(Math.exp(st.x) * st.pScale) / st.pScale;
    if (!(p > 0)) p = 1 / st.pScale;

    // Volume: log-normal around the symbol's median, some zero-volume updates.
    let v = 0;
    const zv = sr() < ZERO_VOLUME_FRACTION;
    const z = st.normal.next();
    if (!zv) {
      v = Math.round(Math.exp(st.logVMedian + 1.2 * z) * st.vScale) / st.vScale;
      if (!(v > 0)) v = 1 / st.vScale;
    }

    // Conditions: absent on about half the trades.
    const cu = sr();
    this.curC =
      cu < NO_CONDITIONS_FRACTION ? -1 : Math.floor(((cu - NO_CONDITIONS_FRACTION) / (1 - NO_CONDITIONS_FRACTION)) * CONDITION_SETS.length);

    this.curS = st;
    this.curP = p;
    this.curT = t;
    this.curV = v;
  }

  next(): FinnhubTrade {
    this.step();
    const trade: FinnhubTrade = { s: this.curS.symbol, p: this.curP, t: this.curT, v: this.curV };
    if (this.curC >= 0) trade.c = CONDITION_SETS[this.curC].slice();
    return trade;
  }

  /** The next n trades as comma-separated JSON objects (no brackets), built without objects. */
  nextJson(n: number): string {
    let out = '';
    for (let i = 0; i < n; i++) {
      this.step();
      out +=
        (i === 0 ? '{"s":' : ',{"s":') +
        this.curS.json +
        ',"p":' +
        this.curP +
        ',"t":' +
        this.curT +
        ',"v":' +
        this.curV +
        (this.curC >= 0 ? CONDITION_JSON[this.curC] + '}' : '}');
    }
    return out;
  }
}

/**
 * Pure, deterministic generator (no socket, no timers). Trades are stamped from
 * startTimeMs (default: now) on a virtual clock, so for equal seeds and symbol lists the
 * sequence of (s, p, v, c, t - startTimeMs) is identical.
 */
export function createTradeGenerator(
  symbols: string[],
  seed: number,
  startTimeMs: number = Date.now(),
): { next(): FinnhubTrade; nextBatch(n: number): FinnhubTrade[] } {
  if (symbols.length === 0) throw new RangeError('createTradeGenerator: symbols must not be empty');
  const engine = new TradeEngine(seed, startTimeMs, 'virtual');
  for (const s of symbols) engine.add(s);
  return {
    next: () => engine.next(),
    nextBatch: (n: number) => {
      const out: FinnhubTrade[] = new Array<FinnhubTrade>(n);
      for (let i = 0; i < n; i++) out[i] = engine.next();
      return out;
    },
  };
}
