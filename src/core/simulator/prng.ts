/**
 * Small seeded PRNGs. The trade generator must be reproducible from a seed, so nothing in
 * this folder that shapes the trade sequence may use Math.random.
 */

/** mulberry32: 32-bit state, fast, good enough statistically for simulated market data. */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** murmur3 finaliser: spreads nearby seeds (1, 2, 3...) into unrelated states. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a over UTF-16 code units. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Derives an independent 32-bit stream seed from the user's seed and a salt (a symbol, or a
 * purpose name). Seeds beyond 2^32 keep their high bits; non-integers are truncated.
 */
export function deriveSeed(seed: number, salt: string): number {
  const n = Number.isFinite(seed) ? Math.trunc(seed) : 0;
  const lo = n >>> 0;
  const hi = Math.floor(n / 4294967296) >>> 0;
  return fmix32(fmix32(lo ^ 0x9e3779b9) ^ fmix32(hi + 0x7f4a7c15) ^ fnv1a(salt));
}

/** Standard normal draws (Box-Muller) on top of a uniform source; keeps the spare value. */
export class Normal {
  private spare = 0;
  private hasSpare = false;
  constructor(private readonly rand: () => number) {}
  next(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    const u1 = 1 - this.rand(); // (0, 1]
    const u2 = this.rand();
    const r = Math.sqrt(-2 * Math.log(u1));
    const a = 2 * Math.PI * u2;
    this.spare = r * Math.sin(a);
    this.hasSpare = true;
    return r * Math.cos(a);
  }
}
