/**
 * Malformed frames for the `malformedFraction` fault. Each kind is something a robust
 * client must reject (and dead-letter) without losing the good frames around it. Every
 * kind is detectable: a validator that checks JSON syntax, `type`, that `data` is a
 * non-empty array, and per trade `s` string, `p` finite > 0, `t` integer, `v` finite >= 0,
 * `c` absent or a string array, rejects all of them.
 */
import type { FinnhubTrade } from './generator';

export interface MalformedFrame {
  kind: string;
  data: string | Buffer;
  binary: boolean;
}

type Builder = (t: FinnhubTrade) => string | Buffer;

const json = (t: unknown): string => JSON.stringify({ type: 'trade', data: [t] });

const KINDS: readonly [string, Builder, boolean][] = [
  // Cut mid-way, as if a frame were truncated.
  ['truncated-json', (t) => json(t).slice(0, Math.max(5, Math.floor(json(t).length / 2))), false],
  // NaN is not JSON; some serialisers emit it anyway.
  ['nan-literal', (t) => `{"type":"trade","data":[{"s":${JSON.stringify(t.s)},"p":NaN,"t":${t.t},"v":${t.v}}]}`, false],
  // Parses to Infinity.
  ['overflow-number', (t) => `{"type":"trade","data":[{"s":${JSON.stringify(t.s)},"p":1e999,"t":${t.t},"v":${t.v}}]}`, false],
  ['missing-price', (t) => json({ s: t.s, t: t.t, v: t.v }), false],
  ['missing-symbol', (t) => json({ p: t.p, t: t.t, v: t.v }), false],
  ['price-as-string', (t) => json({ ...t, p: String(t.p) }), false],
  ['time-as-string', (t) => json({ ...t, t: new Date(t.t).toISOString() }), false],
  ['symbol-as-number', (t) => json({ ...t, s: 42 }), false],
  ['negative-price', (t) => json({ ...t, p: -t.p }), false],
  ['negative-volume', (t) => json({ ...t, v: -1 - t.v }), false],
  ['null-volume', (t) => json({ ...t, v: null }), false],
  ['conditions-not-array', (t) => json({ ...t, c: '1' }), false],
  ['unknown-type', (t) => JSON.stringify({ type: 'quote', data: [t] }), false],
  ['missing-data', () => '{"type":"trade"}', false],
  ['data-not-array', (t) => JSON.stringify({ type: 'trade', data: t }), false],
  ['empty-data', () => '{"type":"trade","data":[]}', false],
  ['not-an-object', () => 'null', false],
  ['empty-frame', () => '', false],
  // A binary frame where text is expected (valid JSON inside, wrong opcode).
  ['binary-frame', (t) => Buffer.from(json(t)), true],
];

export const MALFORMED_KINDS: readonly string[] = KINDS.map((k) => k[0]);

/** Builds one malformed frame from a (consumed) generated trade, picking the kind with `u` in [0,1). */
export function buildMalformed(trade: FinnhubTrade, u: number): MalformedFrame {
  const [kind, build, binary] = KINDS[Math.min(KINDS.length - 1, Math.floor(u * KINDS.length))];
  return { kind, data: build(trade), binary };
}
